"""Models built with deel-torchlip, orthogonium and monotonicnetworks export exactly: after a
little training, the exact forward pass equals the library's own forward pass."""

from fractions import Fraction

import pytest
import torch
from torch import nn

from nets.certify import lipschitz_certificate
from nets.export import to_network

torchlip = pytest.importorskip("deel.torchlip")
orthogonium_layers = pytest.importorskip("orthogonium.layers")
monotonic = pytest.importorskip("monotonicnetworks")


def _train(model, inputs, steps=30):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    target = torch.randn(len(inputs), 3)
    for _ in range(steps):
        opt.zero_grad()
        ((model(inputs) - target) ** 2).mean().backward()
        opt.step()
    return model.eval()


def _models():
    return {
        "torchlip spectral + GroupSort2": lambda: torchlip.Sequential(
            torchlip.SpectralLinear(4, 8), torchlip.GroupSort2(), torchlip.SpectralLinear(8, 3)
        ),
        "torchlip spectral + MaxMin (doubling)": lambda: torchlip.Sequential(
            torchlip.SpectralLinear(4, 4), torchlip.MaxMin(), torchlip.SpectralLinear(8, 3)
        ),
        "torchlip frobenius + FullSort": lambda: torchlip.Sequential(
            torchlip.FrobeniusLinear(4, 6), torchlip.FullSort(), torchlip.FrobeniusLinear(6, 3)
        ),
        "orthogonium OrthoLinear + MaxMin (halves)": lambda: nn.Sequential(
            orthogonium_layers.OrthoLinear(4, 8), orthogonium_layers.MaxMin(), orthogonium_layers.OrthoLinear(8, 3)
        ),
        "orthogonium + Abs": lambda: nn.Sequential(
            orthogonium_layers.OrthoLinear(4, 6), orthogonium_layers.Abs(), orthogonium_layers.OrthoLinear(6, 3)
        ),
        "monotonicnetworks LipschitzLinear + GroupSort(n_groups)": lambda: nn.Sequential(
            monotonic.LipschitzLinear(4, 8, kind="one-inf"),
            monotonic.GroupSort(2),
            monotonic.LipschitzLinear(8, 3, kind="inf"),
        ),
    }


@pytest.mark.parametrize("name", sorted(_models()))
def test_library_model_exports_exactly(name):
    torch.manual_seed(0)
    inputs = torch.randn(64, 4)
    model = _train(_models()[name](), inputs)
    net = to_network(model)
    probe = torch.randn(6, 4)
    with torch.no_grad():
        expected = model(probe)
    for row, out in zip(probe.tolist(), expected.tolist()):
        exact = net([Fraction(v) for v in row])
        assert all(abs(float(e) - o) <= 1e-5 * (1 + abs(o)) for e, o in zip(exact, out))
    assert lipschitz_certificate(model).bound > 0


def test_conventions_differ_and_are_mapped():
    x = torch.tensor([[3.0, -1.0, 2.0, 5.0]])
    net_lip = to_network(nn.Sequential(nn.Identity(), torchlip.MaxMin()), input_dim=4)
    assert net_lip([3, -1, 2, 5]) == (3, 0, 2, 5, 0, 1, 0, 0)  # relu(x), relu(-x)
    net_ortho = to_network(nn.Sequential(orthogonium_layers.MaxMin()), input_dim=4)
    assert tuple(float(v) for v in net_ortho([3, -1, 2, 5])) == tuple(orthogonium_layers.MaxMin()(x)[0].tolist())
    net_mono = to_network(nn.Sequential(nn.Identity(), monotonic.GroupSort(1)), input_dim=4)
    assert net_mono([3, -1, 2, 5]) == (-1, 2, 3, 5)  # one group = full sort
