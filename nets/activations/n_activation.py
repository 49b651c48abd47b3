"""The N-activation of Prach & Lampert as a torch module (docs/theory.md §2.2)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Union

import torch
from torch import nn

from cpwl.errors import InvalidArgument
from nets._checks import channels_of, finite, per_channel
from nets.semantics import blocks
from nets.semantics.registry import register

__all__ = ["NActivation", "initial_theta"]

_INITS = ("abs_identity", "identity", "log_uniform", "normal")


def initial_theta(
    channels: int, init: Union[str, Sequence[float], torch.Tensor] = "abs_identity", generator=None
) -> torch.Tensor:
    """Initial ``theta`` of shape ``[channels, 2]``.

    ``"abs_identity"`` alternates ``(-1, 0)`` and ``(0, 0)`` (even channels: ``|y|`` on
    ``y >= -1``; odd channels the identity), ``"identity"`` is all zeros, ``"log_uniform"``
    draws ``|theta_i| = 10**U(-5, 0)`` with signs ``(-, +)``, ``"normal"`` is Gaussian; a
    sequence of numbers is tiled row-major (its length must divide ``2 * channels``), a tensor
    is used as given.

    Examples:
        >>> initial_theta(2).tolist()
        [[-1.0, 0.0], [0.0, 0.0]]
    """
    if isinstance(init, torch.Tensor):
        if init.shape != (channels, 2):
            raise InvalidArgument(f"theta must have shape [{channels}, 2], got {tuple(init.shape)}")
        return init.detach().clone().float()
    if isinstance(init, str):
        if init == "abs_identity":
            return torch.tensor([[-1.0, 0.0] if c % 2 == 0 else [0.0, 0.0] for c in range(channels)])
        if init == "identity":
            return torch.zeros(channels, 2)
        if init == "log_uniform":
            mags = 10 ** (torch.rand(channels, 2, generator=generator) * 5 - 5)
            return mags * torch.tensor([-1.0, 1.0])
        if init == "normal":
            return torch.randn(channels, 2, generator=generator)
        raise InvalidArgument(f"unknown theta_init {init!r}; choose from {_INITS}, a sequence or a tensor")
    values = [float(v) for v in init]
    if not values or (2 * channels) % len(values):
        raise InvalidArgument(f"{len(values)} init values do not tile 2 * {channels} theta entries")
    return torch.tensor(values * (2 * channels // len(values))).reshape(channels, 2)


class NActivation(nn.Module):
    """Per-channel N-activation: with ``t1 <= t2`` the sorted pair of ``theta[c]``,
    ``N(y) = y - 2 t1`` below ``t1``, ``-y`` on ``[t1, t2)``, ``y - 2 t2`` from ``t2`` on
    (slopes +1, -1, +1), the same function as :func:`cpwl.activations.n_activation`.

    ``theta`` (shape ``[channels, 2]``) is stored divided by ``sqrt(lr_factor)`` and multiplied
    back in the forward pass, so plain SGD moves theta ``lr_factor`` times faster or slower.
    Values are continuous; gradients follow the paper's implementation (Prach & Lampert), which
    selects a piece with ``y < t``: at ``y = t1`` the middle piece (``-1``), at ``y = t2`` the
    last one (``+1``), and with tied thresholds ``t1 = t2`` points below send their gradient to
    ``theta[c, 0]`` and the others to ``theta[c, 1]``.

    Examples:
        >>> act = NActivation(2, theta_init="identity")
        >>> act(torch.tensor([[1.5, -2.0]])).tolist()
        [[1.5, -2.0]]
    """

    def __init__(
        self,
        channels: int,
        theta_init: Union[str, Sequence[float], torch.Tensor] = "abs_identity",
        lr_factor: float = 1.0,
    ):
        super().__init__()
        if channels < 1:
            raise InvalidArgument(f"NActivation needs channels >= 1, got {channels}")
        if not lr_factor > 0:
            raise InvalidArgument(f"lr_factor must be positive, got {lr_factor}")
        self.channels, self.lr_factor = channels, float(lr_factor)
        self._scale = math.sqrt(self.lr_factor)
        self.theta = nn.Parameter(initial_theta(channels, theta_init) / self._scale)

    def thetas(self) -> torch.Tensor:
        """The effective sorted ``[channels, 2]`` thresholds used by the forward pass."""
        return torch.sort(self.theta * self._scale, dim=-1).values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_of(self, x, expected=self.channels)
        t = self.thetas().to(x.dtype)
        t1, t2 = per_channel(t[:, 0], x), per_channel(t[:, 1], x)
        return x - 2 * torch.where(x < t1, t1, torch.where(x < t2, x, t2))

    def exact_layer(self):
        """The exact layer (:class:`cpwl.activations.NLayer`) with the deployed thetas."""
        from cpwl.activations import NLayer

        return NLayer([tuple(pair) for pair in finite(self, "theta", self.thetas()).detach().cpu().tolist()])

    def extra_repr(self) -> str:
        return f"channels={self.channels}, lr_factor={self.lr_factor}"


register(NActivation, exact=blocks.elementwise)
