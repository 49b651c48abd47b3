"""MaxMin and GroupSort with explicit conventions (DESIGN.md principle 5)."""

from __future__ import annotations

import torch
from torch import nn

from cpwl.errors import InvalidArgument, ShapeError
from nets._checks import channels_of
from nets.semantics import blocks
from nets.semantics.registry import register

__all__ = ["MaxMin", "GroupSort"]


class MaxMin(nn.Module):
    """MaxMin on channel pairs: ``pairing="adjacent"`` pairs ``(2j, 2j+1)`` (Prach & Lampert),
    ``"halves"`` pairs ``j`` with ``j + C/2`` (orthogonium); ``order`` puts the max
    (``"max_first"``) or the min first.  At ties torch splits the gradient evenly.

    Examples:
        >>> MaxMin()(torch.tensor([[1.0, 3.0]])).tolist()
        [[3.0, 1.0]]
    """

    def __init__(self, pairing: str = "adjacent", order: str = "max_first"):
        super().__init__()
        if pairing not in ("adjacent", "halves"):
            raise InvalidArgument(f"pairing must be 'adjacent' or 'halves', got {pairing!r}")
        if order not in ("max_first", "min_first"):
            raise InvalidArgument(f"order must be 'max_first' or 'min_first', got {order!r}")
        self.pairing, self.order = pairing, order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = channels_of(self, x, multiple=2)
        if self.pairing == "adjacent":
            pairs = x.unflatten(1, (c // 2, 2))
            a, b = pairs[:, :, 0], pairs[:, :, 1]
        else:
            a, b = x[:, : c // 2], x[:, c // 2 :]
        hi, lo = torch.maximum(a, b), torch.minimum(a, b)
        first, second = (hi, lo) if self.order == "max_first" else (lo, hi)
        if self.pairing == "adjacent":
            return torch.stack([first, second], dim=2).flatten(1, 2)
        return torch.cat([first, second], dim=1)

    def exact_layer(self):
        """The exact layer :class:`cpwl.activations.MaxMin` with the same convention."""
        from cpwl.activations import MaxMin as ExactMaxMin

        return ExactMaxMin(self.pairing, self.order)

    def extra_repr(self) -> str:
        return f"pairing={self.pairing!r}, order={self.order!r}"


class GroupSort(nn.Module):
    """Sort consecutive groups of ``group_size`` channels (group *size*, as deel-torchlip;
    ascending by default).

    Examples:
        >>> GroupSort(3)(torch.tensor([[3.0, 1.0, 2.0]])).tolist()
        [[1.0, 2.0, 3.0]]
    """

    def __init__(self, group_size: int, descending: bool = False):
        super().__init__()
        if not isinstance(group_size, int) or group_size < 1:
            raise InvalidArgument(f"group_size must be a positive int, got {group_size!r}")
        self.group_size, self.descending = group_size, bool(descending)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = channels_of(self, x, multiple=self.group_size)
        groups = x.unflatten(1, (c // self.group_size, self.group_size))
        return torch.sort(groups, dim=2, descending=self.descending).values.flatten(1, 2)

    def exact_layer(self):
        """The exact layer :class:`cpwl.activations.GroupSort`."""
        from cpwl.activations import GroupSort as ExactGroupSort

        return ExactGroupSort(self.group_size, self.descending)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, descending={self.descending}"


def _maxmin(module: MaxMin, shape: tuple) -> tuple:
    if len(shape) == 1:
        return [module.exact_layer()], shape
    c = blocks.channel_axis(shape, module)
    if c % 2:
        raise ShapeError(f"MaxMin pairs channels, so it needs an even channel count, got {c}")
    order = None if module.pairing == "adjacent" else [j for i in range(c // 2) for j in (i, i + c // 2)]
    from cpwl.activations import MaxMin as ExactMaxMin

    return blocks.grouped(shape, 0, ExactMaxMin("adjacent", module.order), order), shape


def _group_sort(module: GroupSort, shape: tuple) -> tuple:
    blocks.channel_axis(shape, module)
    return blocks.grouped(shape, 0, module.exact_layer()), shape


register(MaxMin, exact=_maxmin)
register(GroupSort, exact=_group_sort)
