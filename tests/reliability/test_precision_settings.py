"""Rigorous passes ignore the process's precision settings: TF32 and bf16 float32 matmuls,
cuDNN's algorithms, and flushing subnormals to zero (even when the library is first compiled
and imported in a flushing process, where ``2.0**-1074`` would fold to ``0.0``)."""

import json
import struct
import subprocess
import sys
from fractions import Fraction

import torch
from torch import nn

from cpwl._floats import flushes_subnormals, subnormals_kept
from nets.certify import Certifier
from nets.certify.precision import PRECISION_SETTINGS, ieee_arithmetic


def _settings() -> dict:
    values = {name: obj.fp32_precision for name, obj in PRECISION_SETTINGS}
    values["cudnn.enabled"] = torch.backends.cudnn.enabled
    return values


def test_a_pass_runs_in_ieee_and_puts_every_setting_back():
    before = _settings()
    torch.set_float32_matmul_precision("medium")  # TF32 on CUDA, bf16 in oneDNN matmuls
    try:
        changed = _settings()
        assert changed["torch.backends.mkldnn.matmul"] == "bf16"
        with ieee_arithmetic():
            inside = _settings()
        assert all(v == "ieee" for k, v in inside.items() if k != "cudnn.enabled") and not inside["cudnn.enabled"]
        assert _settings() == changed
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
        medium = Certifier(model, (4,), lipschitz=2).report(x, y, 0.01)
        assert _settings() == changed
    finally:
        for name, obj in PRECISION_SETTINGS:
            obj.fp32_precision = before[name]
    assert _settings() == before
    assert Certifier(model, (4,), lipschitz=2).report(x, y, 0.01) == medium


def test_keeping_subnormals_restores_flushing():
    torch.set_flush_denormal(True)
    try:
        if not flushes_subnormals():  # a CPU without the flag: nothing to test
            return
        with subnormals_kept():
            assert not flushes_subnormals()
        assert flushes_subnormals()
    finally:
        torch.set_flush_denormal(False)


_FLUSHING_PROCESS = """
import json, struct, torch
flushing = torch.set_flush_denormal(True)
from torch import nn
import cpwl
from cpwl._floats import UNDERFLOW
from nets.certify import bounded_forward

model = nn.Sequential(nn.Linear(1, 1, bias=False)).double()
with torch.no_grad():
    model[0].weight.fill_(2.0**-600 * (1 + 2.0**-30))
x = torch.tensor([[3 * 2.0**-470]], dtype=torch.float64)  # the product is subnormal
y, err = bounded_forward(model, x)
bits = lambda v: struct.pack("<d", v).hex()  # Python's own float printing reads subnormals as zero here
net = cpwl.Network([cpwl.Affine([[2.0**-530]]), cpwl.activations.relu(), cpwl.Affine([[3 * 2.0**-530]])])
f = net.to_cpwl(domain=(-1, 1))
print(json.dumps({
    "flushing": bool(flushing),
    "underflow": bits(UNDERFLOW),
    "y": bits(y.item()),
    "err": bits(err.item()),
    "export": [str(v) for v in (*f.breakpoints, *f.slopes)],
    "still_flushing": bool((torch.tensor([2.0**-1000]) * 2.0**-60 == 0).item()),
}))
"""


def test_a_flushing_process_gets_sound_bounds_and_the_same_export(tmp_path):
    out = subprocess.run(
        [sys.executable, "-X", f"pycache_prefix={tmp_path}", "-c", _FLUSHING_PROCESS],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["flushing"]:  # a CPU that cannot flush: nothing to test
        return
    value = lambda key: Fraction(struct.unpack("<d", bytes.fromhex(result[key]))[0])  # noqa: E731
    assert value("underflow") == Fraction(2.0**-1074)  # compiled under flushing, still the right constant
    exact = Fraction(2.0**-600 * (1 + 2.0**-30)) * Fraction(3 * 2.0**-470)
    assert abs(value("y") - exact) <= value("err")
    assert result["export"] == ["0", "0", str(Fraction(3, 2**1060))]  # breakpoint, slopes
    assert result["still_flushing"]  # the process's own setting is back after each pass
