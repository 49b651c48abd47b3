"""nets.export: exact networks from trained torch models agree with torch's own forward pass."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

import cpwl
import nets
from nets.export import UnsupportedModuleError, restrict_to_line, to_cpwl, to_network
from nets.models import ACTIVATIONS, LipschitzMLP


def _torch_out(model, x):
    with torch.no_grad():
        return model(x)


def _agree(model, x, tol=1e-9):
    net = to_network(model)
    for row, out in zip(x.tolist(), _torch_out(model, x).tolist()):
        exact = net([Fraction(v) for v in row])
        assert all(abs(float(e) - o) <= tol * (1 + abs(o)) for e, o in zip(exact, out))


@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - {"householder"}))
@pytest.mark.parametrize("layer", ["aol", "orthogonal", "bjorck", "frobenius", "plain"])
def test_exported_mlp_matches_torch(activation, layer):
    torch.manual_seed(1)
    model = LipschitzMLP([3, 6, 6, 2], activation=activation, layer=layer).double()
    _agree(model, torch.randn(8, 3, dtype=torch.float64))


def test_householder_and_sll_export():
    torch.manual_seed(2)
    house = nn.Sequential(nn.Linear(2, 4), nets.Householder(4), nn.Linear(4, 1)).double()
    with torch.no_grad():
        house[1].angle.copy_(torch.tensor([0.3, -2.0]))
    _agree(house, torch.randn(6, 2, dtype=torch.float64), tol=1e-7)  # float v is not exactly unit
    sll = nn.Sequential(nets.SLLLinear(3, hidden=5), nets.SLLLinear(3)).double()
    _agree(sll, torch.randn(6, 3, dtype=torch.float64), tol=1e-9)


def test_embedded_toy_model_to_cpwl_matches_torch_at_every_breakpoint():
    torch.manual_seed(0)
    model = LipschitzMLP([1, 8, 8, 1], activation="n", layer="aol", embed=True).double()
    f = to_cpwl(model, domain=(-3, 3))
    points = [Fraction(-3), Fraction(3), *f.breakpoints]
    got = _torch_out(model, torch.tensor([[float(p)] for p in points], dtype=torch.float64))[:, 0]
    for p, g in zip(points, got.tolist()):
        assert abs(float(f(p)) - g) <= 1e-9
    assert f.is_lipschitz(1 + Fraction(1, 10**6))


def test_restrict_to_line_of_a_trained_model():
    torch.manual_seed(0)
    model = LipschitzMLP([2, 6, 3], activation="maxmin", layer="aol").double()
    start, end = torch.tensor([-1.0, 0.5], dtype=torch.float64), torch.tensor([2.0, -1.0], dtype=torch.float64)
    F = restrict_to_line(model, start, end)
    for t in [Fraction(0), Fraction(1, 3), Fraction(1), *F.breakpoints]:
        point = start + float(t) * (end - start)
        got = _torch_out(model, point[None])[0].tolist()
        assert all(abs(float(e) - g) <= 1e-9 for e, g in zip(F(t), got))


def test_export_reads_no_hidden_state_and_restores_modes():
    torch.manual_seed(0)
    model = LipschitzMLP([2, 4, 1], activation="n", layer="bjorck")
    model.train()
    first = to_network(model)
    model(torch.randn(5, 2))  # a training-mode forward pass changes nothing the export reads
    again = to_network(model)
    assert [l.weight for l in first.affine_layers] == [l.weight for l in again.affine_layers]
    assert model.training and all(m.training for m in model.modules())
    spectral = LipschitzMLP([2, 4, 1], activation="relu", layer="spectral").eval()
    before = to_network(spectral)
    spectral(torch.randn(5, 2))  # eval mode: power-iteration state is not updated
    assert [l.weight for l in before.affine_layers] == [l.weight for l in to_network(spectral).affine_layers]


def test_unsupported_modules_are_named_with_their_path():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Tanh()))
    with pytest.raises(UnsupportedModuleError, match=r"Tanh at '1\.1'"):
        to_network(model)
    with pytest.raises(cpwl.InvalidArgument, match="input_shape"):
        to_network(nn.Sequential(nets.AOLConv2d(1, 1, 3)))  # a conv model needs its input shape
    assert len(to_network(nn.Sequential(nets.AOLConv2d(1, 1, 3)), input_shape=(1, 3, 3)).layers) == 1
    assert issubclass(UnsupportedModuleError, cpwl.CPWLError)


@pytest.mark.parametrize("activation", ["maxmin", "n", "groupsort", "abs", "householder", "absid"])
def test_conv_net_restricted_to_a_line_matches_torch_at_every_breakpoint(activation):
    torch.manual_seed(0)
    model = nets.SimplifiedConvNet(1, 4, base_width=4, blocks=2, layers_per_block=1, activation=activation).double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nets.AOLConv2d):
                m.P.add_(0.3 * torch.randn_like(m.P))
                m.bias.normal_()
            if isinstance(m, nets.NActivation):
                m.theta.normal_()
    a, b = torch.rand(1, 4, 4, dtype=torch.float64), torch.rand(1, 4, 4, dtype=torch.float64) * 3
    F = restrict_to_line(model, a, b)
    assert F.dim == 4
    for t in [Fraction(0), Fraction(1, 3), Fraction(1), *F.breakpoints]:
        got = _torch_out(model, (a + float(t) * (b - a))[None])[0].tolist()
        assert all(abs(float(e) - g) <= 1e-9 for e, g in zip(F(t), got))


def test_line_shapes_must_match():
    with pytest.raises(ValueError):
        restrict_to_line(nn.Sequential(nn.Linear(2, 1)), torch.zeros(2), torch.zeros(3))


@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
def test_plain_and_library_convolutions_restrict_exactly(padding_mode):
    torchlip = pytest.importorskip("deel.torchlip")
    torch.manual_seed(0)
    model = (
        nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, padding_mode=padding_mode),
            nets.MaxMin(),
            torchlip.SpectralConv2d(4, 2, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * 4 * 4, 3),
        )
        .double()
        .eval()
    )
    a, b = torch.rand(1, 4, 4, dtype=torch.float64), torch.rand(1, 4, 4, dtype=torch.float64)
    F = restrict_to_line(model, a, b)
    for t in [Fraction(0), Fraction(1), *F.breakpoints]:
        got = _torch_out(model, (a + float(t) * (b - a))[None])[0].tolist()
        assert all(abs(float(e) - g) <= 1e-9 for e, g in zip(F(t), got))
    with pytest.raises(UnsupportedModuleError, match="ConvTranspose2d at '0' has no exact meaning"):
        restrict_to_line(nn.Sequential(nn.ConvTranspose2d(1, 1, 3)), a, b)


@pytest.mark.parametrize("seed", range(3))
def test_restrict_to_line_matches_a_float64_reference(seed):
    from float_reference import relu_mlp_breakpoints

    torch.manual_seed(seed)
    widths = (3, 24, 24, 24, 2)
    layers = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1]).double()
    start, end = torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64) * 3
    ours = np.array([float(t) for t in restrict_to_line(model, start, end).breakpoints])
    linears = [m for m in model if isinstance(m, nn.Linear)]
    ref = relu_mlp_breakpoints(
        [m.weight.detach().numpy() for m in linears],
        [m.bias.detach().numpy() for m in linears],
        start.numpy(),
        end.numpy(),
    )
    assert len(ours) == len(ref) and np.max(np.abs(ours - ref), initial=0.0) <= 1e-6
