"""Norm-preserving reshaping helpers of the paper's architecture (docs/theory.md §7.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cpwl.errors import InvalidArgument, ShapeError
from nets._checks import channels_of
from nets.semantics import blocks
from nets.semantics.registry import register

__all__ = ["ZeroChannelConcatenation", "FirstChannels", "ConcatenationPooling2D"]


class ZeroChannelConcatenation(nn.Module):
    """Pad the channel dimension with zeros up to ``channels`` (an isometry).

    Examples:
        >>> ZeroChannelConcatenation(3)(torch.ones(1, 1)).tolist()
        [[1.0, 0.0, 0.0]]
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = channels_of(self, x)
        if c > self.channels:
            raise ShapeError(
                f"ZeroChannelConcatenation pads to {self.channels} channels but got shape {tuple(x.shape)}"
            )
        return torch.cat([x, x.new_zeros(x.shape[0], self.channels - c, *x.shape[2:])], dim=1)


class FirstChannels(nn.Module):
    """Keep the first ``channels`` channels (1-Lipschitz: a projection).

    Examples:
        >>> FirstChannels(1)(torch.tensor([[1.0, 2.0]])).tolist()
        [[1.0]]
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = channels_of(self, x)
        if c < self.channels:
            raise ShapeError(f"FirstChannels keeps {self.channels} channels but got shape {tuple(x.shape)}")
        return x[:, : self.channels]


class ConcatenationPooling2D(nn.Module):
    """2x2 space-to-depth: channels x4, height and width /2 (a permutation, so an isometry).

    ``order`` fixes which permutation: ``"window_major"`` (the default, as in the
    N-activation paper's code) puts all channels of window offset ``(0, 0)`` first, then those
    of ``(0, 1)``, ``(1, 0)``, ``(1, 1)`` — output channel ``(2 dy + dx) C + c``;
    ``"channel_major"`` (``torch.nn.functional.pixel_unshuffle``) puts the four offsets of
    channel 0 first — output channel ``4 c + 2 dy + dx``.  The two give different functions of
    a trained model; models saved before ``order`` existed used ``"channel_major"``.

    Examples:
        >>> x = torch.arange(8.0).reshape(1, 2, 2, 2)
        >>> ConcatenationPooling2D()(x).flatten().tolist()
        [0.0, 4.0, 1.0, 5.0, 2.0, 6.0, 3.0, 7.0]
        >>> ConcatenationPooling2D(order="channel_major")(x).flatten().tolist()
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    """

    ORDERS = ("window_major", "channel_major")

    def __init__(self, order: str = "window_major"):
        super().__init__()
        if order not in self.ORDERS:
            raise InvalidArgument(f"order must be one of {self.ORDERS}, got {order!r}")
        self.order = order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[2] % 2 or x.shape[3] % 2:
            raise ShapeError(f"ConcatenationPooling2D needs [B, C, H, W] with even H and W, got shape {tuple(x.shape)}")
        if self.order == "channel_major":
            return F.pixel_unshuffle(x, 2)
        b, c, h, w = x.shape
        return x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(b, 4 * c, h // 2, w // 2)

    def extra_repr(self) -> str:
        return f"order={self.order!r}"


def _moves_entries(module: nn.Module, shape: tuple) -> tuple:
    """These helpers only move or zero-pad entries: their meaning is their own forward pass
    applied to a probe of positions (:func:`nets.semantics.blocks.index_map`)."""
    gather, out_shape = blocks.index_map(module, shape)
    return [gather], out_shape


register(ZeroChannelConcatenation, exact=_moves_entries)
register(FirstChannels, exact=_moves_entries)
register(ConcatenationPooling2D, exact=_moves_entries)
