"""Part 5: forward + backward of ``NActivation`` against ``MaxMin`` and against a three-``where``
formulation of the same function, float32, on one ``[batch, channels, h, w]`` tensor."""

from __future__ import annotations

import torch

from bench._timing import median_time
from nets.activations import MaxMin, NActivation


def _three_where(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t1, t2 = t[:, 0].view(1, -1, 1, 1), t[:, 1].view(1, -1, 1, 1)
    return torch.where(x < t1, x - 2 * t1, torch.where(x > t2, x - 2 * t2, -x))


def _step(fn, x: torch.Tensor):
    def run():
        y = fn(x)
        y.sum().backward()
        x.grad = None
        if x.is_cuda:
            torch.cuda.synchronize()

    return run


def compare(shape=(256, 64, 32, 32), repeats: int = 20, device: str = "cpu") -> dict:
    """Median seconds per forward + backward for each formulation, and the ratios."""
    torch.manual_seed(0)
    x = torch.randn(*shape, device=device, requires_grad=True)
    n_act = NActivation(shape[1], theta_init="log_uniform").to(device)
    maxmin = MaxMin().to(device)
    thetas = n_act.thetas().detach()
    assert torch.equal(n_act(x), _three_where(x, thetas))  # the same function, bit for bit
    times = {}
    for name, fn in (("n_activation", n_act), ("maxmin", maxmin), ("n_three_where", lambda v: _three_where(v, thetas))):
        _step(fn, x)()  # warm-up
        times[name], _ = median_time(_step(fn, x), repeats)
    return {
        "shape": list(shape),
        "device": device,
        "seconds": times,
        "n_over_maxmin": times["n_activation"] / times["maxmin"],
        "n_over_three_where": times["n_activation"] / times["n_three_where"],
    }
