"""Shape and value checks shared by the modules of :mod:`nets` (clear errors naming the module)."""

from __future__ import annotations

import torch

from cpwl.errors import NumberError, ShapeError


def channels_of(module, x: torch.Tensor, multiple: int = 1, expected: int = None) -> int:
    """The channel count (dim 1) of ``x``, checked: rank >= 2, divisible by ``multiple``,
    equal to ``expected`` when given."""
    if x.dim() < 2:
        raise ShapeError(f"{type(module).__name__} expects [batch, channels, ...], got shape {tuple(x.shape)}")
    c = x.shape[1]
    if expected is not None and c != expected:
        raise ShapeError(f"{type(module).__name__} was built for {expected} channels, got shape {tuple(x.shape)}")
    if c % multiple:
        raise ShapeError(
            f"{type(module).__name__} needs a channel count divisible by {multiple}, got shape {tuple(x.shape)}"
        )
    return c


def per_channel(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape a ``[channels]`` tensor to broadcast against ``x`` of shape ``[B, C, ...]``."""
    return values.reshape(1, -1, *([1] * (x.dim() - 2)))


def finite(module, name: str, value: torch.Tensor) -> torch.Tensor:
    """``value`` itself, or a :class:`cpwl.NumberError` if it holds NaN or infinity.  Used where parameters
    leave torch (exact export), never in a forward pass: a data-dependent check there would
    force a device sync per call and break ``torch.export``/``torch.compile`` tracing."""
    if not torch.isfinite(value).all():
        raise NumberError(f"{type(module).__name__}: parameter {name} holds NaN or infinity")
    return value
