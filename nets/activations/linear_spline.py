"""Learnable 1-Lipschitz linear splines (Ducotterd et al.; docs/theory.md §2.4)."""

from __future__ import annotations

from fractions import Fraction

import torch
from torch import nn

from cpwl.errors import InvalidArgument
from nets._checks import channels_of, finite
from nets.semantics import blocks
from nets.semantics.registry import register

__all__ = ["LinearSpline"]

_INITS = ("identity", "relu", "abs")


class LinearSpline(nn.Module):
    """Per-channel linear spline on a uniform grid of ``size`` knots over
    ``[-range_, range_]``, extended linearly outside, made 1-Lipschitz by slope clipping (knot
    differences clamped to ``[-T, T]``, rebuilt by a cumulative sum, shifted to keep the
    mean).  :meth:`tv2` is the second-order total variation regulariser.

    Examples:
        >>> s = LinearSpline(1, size=5, range_=1.0, init="relu")
        >>> s(torch.tensor([[-2.0, 0.5, 3.0]]).T).flatten().tolist()
        [0.0, 0.5, 3.0]
    """

    def __init__(self, channels: int, size: int = 21, range_: float = 2.0, init: str = "relu"):
        super().__init__()
        if size < 2 or not range_ > 0:
            raise InvalidArgument(f"LinearSpline needs size >= 2 and range_ > 0, got size={size}, range_={range_}")
        if init not in _INITS:
            raise InvalidArgument(f"unknown init {init!r}; choose from {_INITS}")
        self.channels, self.size, self.range_ = channels, size, float(range_)
        self.step = 2 * self.range_ / (size - 1)
        grid = torch.linspace(-self.range_, self.range_, size)
        start = {"identity": grid, "relu": grid.clamp(min=0), "abs": grid.abs()}[init]
        self.coefficients = nn.Parameter(start.repeat(channels, 1))

    def clipped(self) -> torch.Tensor:
        """The deployed knot values ``[channels, size]`` after slope clipping."""
        c = self.coefficients
        diffs = torch.clamp(c[:, 1:] - c[:, :-1], -self.step, self.step)
        rebuilt = torch.cat([c[:, :1], c[:, :1] + torch.cumsum(diffs, dim=1)], dim=1)
        return rebuilt + (c - rebuilt).mean(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_of(self, x, expected=self.channels)
        c = self.clipped().to(x.dtype)
        pos = (x + self.range_) / self.step
        cell = torch.clamp(torch.floor(pos), 0, self.size - 2).long()
        flat = cell.transpose(0, 1).reshape(self.channels, -1)
        left = torch.gather(c, 1, flat).reshape(cell.transpose(0, 1).shape).transpose(0, 1)
        right = torch.gather(c, 1, flat + 1).reshape(cell.transpose(0, 1).shape).transpose(0, 1)
        return left + (right - left) * (pos - cell.to(x.dtype))

    def tv2(self) -> torch.Tensor:
        """Second-order total variation ``sum |c_{k+1} - 2 c_k + c_{k-1}| / T`` over channels."""
        c = self.clipped()
        return (c[:, 2:] - 2 * c[:, 1:-1] + c[:, :-2]).abs().sum() / self.step

    def exact_layer(self):
        """Exact per-channel splines through the deployed knot values: knots at
        ``k T - range_`` with ``T`` and ``range_`` the module's Python floats (float64), values
        ``c = clipped()`` as computed in the parameters' dtype, and slopes
        ``(c_{k+1} - c_k) / T``, all taken exactly.  The forward pass evaluates this spline up
        to rounding (in float32 it also rounds ``T`` and ``range_``); a float32 and a float64
        copy of one module clip in their own precision, so they export (slightly) different
        functions, each the one its own forward pass evaluates."""
        from cpwl.activations import Elementwise, linear_spline

        step, start = Fraction(self.step), -Fraction(self.range_)
        grid = [start + k * step for k in range(self.size)]
        fns = []
        for row in finite(self, "coefficients", self.clipped()).detach().cpu().tolist():
            c = [Fraction(v) for v in row]
            fns.append(linear_spline(grid, c, (c[1] - c[0]) / step, (c[-1] - c[-2]) / step))
        return Elementwise(fns)


register(LinearSpline, exact=blocks.elementwise)
