"""torch.export programs (.pt2) restricted to a line exactly agree with the module at every
breakpoint; unsupported operators and unreadable files are reported clearly."""

import io
from fractions import Fraction

import pytest
import torch
from torch import nn

import nets
from nets._graph import UnsupportedOperatorError
from nets.model_file import ModelFileError
from nets.pt2_import import restrict_to_line, to_cpwl


def _program_bytes(model, example):
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(model.eval(), (example,)), buffer)
    return buffer.getvalue()


def _check(model, start, end, tol=1e-9):
    model = model.double().eval()
    F = restrict_to_line(_program_bytes(model, start[None]), start.numpy(), end.numpy())
    for t in [Fraction(0), Fraction(1, 3), Fraction(1), *F.breakpoints]:
        with torch.no_grad():
            got = model((start + float(t) * (end - start))[None])[0].flatten().tolist()
        assert all(abs(float(e) - g) <= tol * (1 + abs(g)) for e, g in zip(F(t), got))
    return F


@pytest.mark.parametrize(
    "activation", ["n", "maxmin", "groupsort", "abs", "absid", "leaky_relu", "relu", "householder"]
)
def test_mlp_programs(activation):
    torch.manual_seed(0)
    model = nets.LipschitzMLP([3, 8, 8, 2], activation=activation, layer="aol")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nets.NActivation):
                m.theta.normal_()
    F = _check(
        model,
        torch.randn(3, dtype=torch.float64),
        3 * torch.randn(3, dtype=torch.float64),
        tol=1e-7 if activation == "householder" else 1e-9,
    )
    assert F.dim == 2


def test_conv_net_program():
    torch.manual_seed(1)
    model = nets.SimplifiedConvNet(1, 4, base_width=4, blocks=2, layers_per_block=1, activation="maxmin")
    _check(model, torch.rand(1, 4, 4, dtype=torch.float64), torch.rand(1, 4, 4, dtype=torch.float64))


def test_scalar_program_to_cpwl(abs_model):
    f = to_cpwl(_program_bytes(abs_model, torch.zeros(1, 1)))
    assert f.breakpoints == (0,) and f.slopes == (-1, 1)  # |x|


def test_errors():
    with pytest.raises(ModelFileError):
        restrict_to_line(b"not a program", [0.0], [1.0])
    with pytest.raises(ModelFileError):
        restrict_to_line("/no/such.pt2", [0.0], [1.0])
    data = _program_bytes(nn.Sequential(nn.Linear(2, 2), nn.Sigmoid()), torch.zeros(1, 2))
    with pytest.raises(UnsupportedOperatorError):
        restrict_to_line(data, [0.0, 0.0], [1.0, 1.0])
