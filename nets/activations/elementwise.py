"""Elementwise 1-Lipschitz activations: Abs, AbsIdentity, LeakyReLU and PReLU (slopes
clipped to [-1, 1])."""

from __future__ import annotations

import torch
from torch import nn

from cpwl.errors import InvalidArgument, ShapeError
from nets._checks import channels_of, finite, per_channel
from nets.semantics import blocks
from nets.semantics.registry import register

__all__ = ["Abs", "AbsIdentity", "LeakyReLU", "PReLU"]


class Abs(nn.Module):
    """``|y|`` (gradient 0 at 0, as torch's ``abs``).

    Examples:
        >>> Abs()(torch.tensor([[-2.0]])).tolist()
        [[2.0]]
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()

    def exact_layer(self):
        """:func:`cpwl.activations.abs_` applied elementwise."""
        from cpwl.activations import Elementwise, abs_

        return Elementwise(abs_())


class AbsIdentity(nn.Module):
    """``|y|`` on the first half of the channels, the identity on the second half (the
    MaxMin-equivalent of docs/theory.md §2.3, up to a rotation).

    Examples:
        >>> AbsIdentity()(torch.tensor([[-2.0, -3.0]])).tolist()
        [[2.0, -3.0]]
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = channels_of(self, x, multiple=2)
        return torch.cat([x[:, : c // 2].abs(), x[:, c // 2 :]], dim=1)

    def exact_layer(self, channels: int):
        """The exact per-channel layer for ``channels`` channels."""
        from cpwl.activations import Elementwise, abs_, identity

        if channels % 2:
            raise ShapeError(f"AbsIdentity needs an even channel count, got {channels}")
        return Elementwise([abs_()] * (channels // 2) + [identity()] * (channels // 2))


class LeakyReLU(nn.Module):
    """``y`` for ``y >= 0``, ``negative_slope * y`` below, with ``|negative_slope| <= 1``
    enforced at construction (so the activation is 1-Lipschitz).

    Examples:
        >>> LeakyReLU(0.5)(torch.tensor([[-2.0, 2.0]])).tolist()
        [[-1.0, 2.0]]
    """

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        if not -1 <= negative_slope <= 1:
            raise InvalidArgument(f"LeakyReLU needs |negative_slope| <= 1 to stay 1-Lipschitz, got {negative_slope}")
        self.negative_slope = float(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.leaky_relu(x, self.negative_slope)

    def exact_layer(self):
        """:func:`cpwl.activations.leaky_relu` with the exact stored slope."""
        return _exact_leaky([self.negative_slope], broadcast=True)


class PReLU(nn.Module):
    """Learnable per-channel leaky ReLU whose slope is clamped to ``[-1, 1]`` in the forward
    pass (the stored parameter may drift outside; the deployed slope never does).

    Examples:
        >>> PReLU(1, init=3.0)(torch.tensor([[-2.0]])).tolist()
        [[-2.0]]
    """

    def __init__(self, channels: int, init: float = 0.25):
        super().__init__()
        self.channels = channels
        self.slope = nn.Parameter(torch.full((channels,), float(init)))

    def slopes(self) -> torch.Tensor:
        """The deployed slopes, clamped to ``[-1, 1]``."""
        return self.slope.clamp(-1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_of(self, x, expected=self.channels)
        return torch.where(x >= 0, x, x * per_channel(self.slopes().to(x.dtype), x))

    def exact_layer(self):
        """Exact per-channel leaky ReLUs with the deployed slopes."""
        return _exact_leaky(finite(self, "slope", self.slopes()).tolist(), broadcast=False)


def _exact_leaky(slopes: list, broadcast: bool):
    """Exact leaky ReLUs (slope 1 is the identity) as one elementwise layer."""
    from cpwl.activations import Elementwise, identity, leaky_relu

    fns = [identity() if s == 1 else leaky_relu(s) for s in slopes]
    return Elementwise(fns[0] if broadcast else fns)


def _abs_identity(module: AbsIdentity, shape: tuple) -> tuple:
    return [blocks.spread(module.exact_layer(blocks.channel_axis(shape, module)), shape)], shape


register(Abs, exact=blocks.elementwise)
register(AbsIdentity, exact=_abs_identity)
register(LeakyReLU, exact=blocks.elementwise)
register(PReLU, exact=blocks.elementwise)
