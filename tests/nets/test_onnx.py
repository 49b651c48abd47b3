"""ONNX models restricted to a line exactly agree with torch at every breakpoint; unsupported
operators and malformed files are reported clearly."""

import io
import warnings
from fractions import Fraction

import pytest
import torch
from torch import nn

import nets
from nets.model_file import ModelFileError
from nets.onnx_import import UnsupportedOperatorError, restrict_to_line, to_cpwl

pytest.importorskip("onnx")


def _onnx_bytes(model, example):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (example,), buffer, dynamo=False)
    return buffer.getvalue()


def _check(model, start, end):
    data = _onnx_bytes(model, start[None])
    F = restrict_to_line(data, start.numpy(), end.numpy())
    for t in [Fraction(0), Fraction(1, 3), Fraction(1), *F.breakpoints]:
        with torch.no_grad():
            got = model((start + float(t) * (end - start))[None].float())[0].tolist()
        assert all(abs(float(e) - g) <= 2e-5 * (1 + abs(g)) for e, g in zip(F(t), got))
    return F


@pytest.mark.parametrize("activation", ["relu", "abs", "n", "leaky_relu"])
def test_mlp_models(activation):
    torch.manual_seed(0)
    model = nets.LipschitzMLP([3, 8, 8, 2], activation=activation, layer="aol")
    F = _check(model, torch.randn(3), torch.randn(3) * 3)
    assert F.dim == 2


def test_halves_maxmin_and_clamp():
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Linear(2, 6), nets.MaxMin(pairing="halves"), nn.Linear(6, 4), nn.Hardtanh(), nn.Linear(4, 1)
    )
    _check(model, torch.randn(2), torch.randn(2) * 4)


def test_conv_model():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    _check(model, torch.rand(1, 4, 4), torch.rand(1, 4, 4))


def test_scalar_to_cpwl(abs_model):
    f = to_cpwl(_onnx_bytes(abs_model, torch.zeros(1, 1)))
    assert f.breakpoints == (0,) and f.slopes == (-1, 1)  # |x|


def test_errors():
    with pytest.raises(ModelFileError):
        restrict_to_line(b"not an onnx model", [0.0], [1.0])
    with pytest.raises(ModelFileError):
        restrict_to_line("/no/such/file.onnx", [0.0], [1.0])
    data = _onnx_bytes(nn.Sequential(nn.Linear(2, 2), nn.Sigmoid()), torch.zeros(1, 2))
    with pytest.raises(UnsupportedOperatorError, match="Sigmoid"):
        restrict_to_line(data, [0.0, 0.0], [1.0, 1.0])
