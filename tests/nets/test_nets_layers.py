"""Every 1-Lipschitz layer's materialised weight satisfies its bound (float64 SVD, random
instances); helpers are isometries; models are 1-Lipschitz end to end."""

import math

import pytest
import torch

from nets import layers as L
from nets.models import ACTIVATIONS, LipschitzMLP, SimplifiedConvNet

SEEDS = range(4)
TOL = 1e-6


def _randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 2)
    return module.double()


def _spectral(W):
    return torch.linalg.matrix_norm(W.detach().double(), 2).item()


@pytest.mark.parametrize("cls", [L.AOLLinear, L.OrthogonalLinear, L.BjorckLinear, L.FrobeniusLinear])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
@pytest.mark.parametrize("seed", SEEDS)
def test_dense_bounds(cls, shape, seed):
    layer = _randomise(cls(*shape), seed)
    assert _spectral(layer.weight_matrix()) <= 1 + TOL
    assert layer.guarantee in ("closed form", "iterative")


def test_orthogonal_and_aol_on_orthogonal_columns_are_tight():
    assert _spectral(L.OrthogonalLinear(4, 4).double().weight_matrix()) == pytest.approx(1, abs=1e-6)
    aol = L.AOLLinear(4, 4).double()  # orthogonal init: P^T P = I, so AOL keeps it orthogonal
    assert _spectral(aol.weight_matrix()) == pytest.approx(1, abs=1e-5)


def test_spectral_norm_layer_is_documented_as_an_estimate():
    assert L.SpectralNormLinear(3, 3).guarantee == "estimate"
    assert "Not a certified bound" in L.SpectralNormLinear.__doc__


def _circular_conv_norm(kernel, size):
    """Exact operator norm of a circular convolution on size x size inputs: the largest
    singular value over the 2-D Fourier frequencies."""
    k = kernel.detach().double()
    c_out, c_in, kh, kw = k.shape
    padded = torch.zeros(c_out, c_in, size, size, dtype=torch.float64)
    padded[:, :, :kh, :kw] = k
    spectrum = torch.fft.fft2(padded)  # [c_out, c_in, size, size]
    mats = spectrum.permute(2, 3, 0, 1)
    return torch.linalg.matrix_norm(mats, 2).max().item()


@pytest.mark.parametrize("shape", [(2, 3, 3), (3, 2, 3), (4, 4, 1), (3, 3, 5)])
@pytest.mark.parametrize("seed", SEEDS)
def test_aol_conv_bound(shape, seed):
    conv = _randomise(L.AOLConv2d(*shape), seed)
    assert _circular_conv_norm(conv.kernel(), 8) <= 1 + TOL
    # the norm formula is right: it matches the largest gain on random inputs
    x = torch.randn(16, shape[0], 8, 8, dtype=torch.float64)
    conv.bias.data.zero_()
    gains = conv(x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
    assert gains.max().item() <= _circular_conv_norm(conv.kernel(), 8) + 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_sll_is_one_lipschitz(seed):
    layer = _randomise(L.SLLLinear(4, hidden=6), seed)
    for _ in range(5):
        x = torch.randn(4, dtype=torch.float64)
        J = torch.autograd.functional.jacobian(layer, x[None])[0, :, 0, :]
        assert _spectral(J) <= 1 + TOL


def test_reshaping_helpers_are_isometries():
    x = torch.randn(3, 2, 4, 4)
    assert torch.allclose(L.ZeroChannelConcatenation(5)(x).norm(), x.norm())
    assert torch.allclose(L.ConcatenationPooling2D()(x).norm(), x.norm())
    assert L.FirstChannels(1)(x).norm() <= x.norm()
    with pytest.raises(ValueError):
        L.ConcatenationPooling2D()(torch.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError):
        L.ZeroChannelConcatenation(1)(x)


def _lipschitz_ratio(model, x):
    y = x + 1e-2 * torch.randn_like(x)
    return ((model(x) - model(y)).flatten(1).norm(dim=1) / (x - y).flatten(1).norm(dim=1)).max().item()


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("layer", ["aol", "orthogonal", "bjorck", "frobenius"])
def test_mlp_is_one_lipschitz(activation, layer):
    torch.manual_seed(0)
    model = LipschitzMLP([3, 8, 8, 2], activation=activation, layer=layer).double()
    assert _lipschitz_ratio(model, torch.randn(64, 3, dtype=torch.float64)) <= 1 + 1e-6


@pytest.mark.parametrize("activation", ["maxmin", "n", "abs", "groupsort"])
def test_conv_net_is_one_lipschitz(activation):
    torch.manual_seed(0)
    model = SimplifiedConvNet(1, 10, base_width=8, blocks=3, layers_per_block=1, activation=activation).double()
    x = torch.rand(16, 1, 8, 8, dtype=torch.float64)
    assert model(x).shape == (16, 10)
    assert _lipschitz_ratio(model, x) <= 1 + 1e-6


def test_model_errors():
    with pytest.raises(ValueError):
        LipschitzMLP([3], activation="relu")
    with pytest.raises(ValueError):
        LipschitzMLP([3, 4, 1], activation="sigmoid")
    with pytest.raises(ValueError):
        LipschitzMLP([3, 4, 1], layer="dense")
    with pytest.raises(ValueError):
        L.AOLConv2d(2, 2, 2)
    with pytest.raises(ValueError, match="AOLLinear"):
        L.AOLLinear(3, 2)(torch.zeros(1, 4))


def test_fit_trains_and_is_reproducible():
    from nets.train import certified_robust_accuracy_float, fit

    x = torch.linspace(-3, 3, 200)[:, None]
    y = x - 2 * x.clamp(-0.5, 0.5)
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        model = LipschitzMLP([1, 8, 8, 1], activation="n", layer="aol", embed=True)
        losses.append(fit(model, x, y, epochs=30, batch_size=50, lr=0.02, progress=False, device="cpu").losses)
    assert losses[0] == losses[1] and losses[0][-1] < losses[0][0]
    scores = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    assert certified_robust_accuracy_float(scores, torch.tensor([0, 1]), eps=1.0) == 0.5
    assert (
        certified_robust_accuracy_float(scores, torch.tensor([0, 1]), eps=1 / math.sqrt(2)) == 0.5
    )  # strict: margin 1 is not > 1
