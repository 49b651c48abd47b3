"""On a CUDA machine the modules give the CPU's results (skipped where no GPU is present)."""

import pytest
import torch

import nets
from nets.models import ACTIVATIONS, LipschitzMLP, SimplifiedConvNet

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_cuda_matches_cpu(activation):
    torch.manual_seed(0)
    model = LipschitzMLP([3, 8, 8, 2], activation=activation, layer="aol").double()
    x = torch.randn(32, 3, dtype=torch.float64)
    expected = model(x)
    assert torch.allclose(model.cuda()(x.cuda()).cpu(), expected, atol=1e-10)


def test_conv_net_trains_on_cuda():
    from nets.train import fit

    torch.manual_seed(0)
    model = SimplifiedConvNet(1, 10, base_width=8, blocks=3, layers_per_block=1, activation="n")
    x, y = torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,))
    history = fit(
        model, x, y, loss="offset_ce", epochs=3, batch_size=16, optimizer="adam", lr=1e-2, progress=False, device="cuda"
    )
    assert next(model.parameters()).is_cuda and len(history.losses) == 3
    assert nets.NActivation(4).cuda()(torch.zeros(2, 4, device="cuda")).is_cuda
