"""Exact conversion of activations from other 1-Lipschitz libraries, with each library's
convention mapped explicitly (DESIGN.md principle 5).

Their linear layers subclass ``nn.Linear`` with parametrized weights, so the generic export
already reads their deployed weights; the activations differ:

| library | module | meaning | exact layers |
|---|---|---|---|
| deel-torchlip | ``MaxMin`` | ``cat(relu(x), relu(-x))``: doubles the channels | ``Affine([I; -I])``, ReLU |
| deel-torchlip | ``GroupSort(group_size)``, ``GroupSort2``, ``FullSort`` | sort groups of a given *size*, ascending | ``GroupSort(size)`` |
| orthogonium | ``MaxMin`` | ``cat(max(a, b), min(a, b))`` of the two channel halves | ``MaxMin("halves", "max_first")`` |
| orthogonium | ``Abs`` | ``|x|`` | abs |
| monotonicnetworks | ``GroupSort(n_groups)`` | sort ``n_groups`` *groups*, ascending | ``GroupSort(width // n_groups)`` |
"""

from __future__ import annotations

from typing import Optional

from torch import nn

from cpwl import Affine
from cpwl import activations as exact

__all__ = ["convert", "is_one_lipschitz_activation"]


_LIBRARIES = ("deel.torchlip", "orthogonium", "monotonicnetworks")


def _library(m: nn.Module) -> str:
    module = type(m).__module__
    return next((lib for lib in _LIBRARIES if module == lib or module.startswith(lib + ".")), "")


def _check_plain(path: str, m: nn.Module) -> None:
    from nets.export import UnsupportedModuleError

    coefficient = getattr(m, "_coefficient_lip", 1.0)
    if coefficient != 1.0:
        raise UnsupportedModuleError(f"{type(m).__name__} at '{path}' scales by k_coef_lip={coefficient}; only 1 is supported")
    for attr in ("_dim", "axis"):
        value = getattr(m, attr, None)
        if value not in (None, 1, -1):
            raise UnsupportedModuleError(f"{type(m).__name__} at '{path}' acts on dim {value}; only the channel dim is supported")


def convert(path: str, m: nn.Module, width: Optional[int]) -> Optional[tuple]:
    """``(exact layers, width after)`` for a known foreign activation, else ``None``.

    Example:
        >>> convert("0", nn.ReLU(), 3) is None
        True
    """
    library, name = _library(m), type(m).__name__
    if not library:
        return None
    _check_plain(path, m)
    if library == "deel.torchlip" and name == "MaxMin":
        if width is None:
            return None
        eye = [[int(i == j) for j in range(width)] for i in range(width)]
        return [Affine(eye + [[-v for v in row] for row in eye]), exact.Elementwise(exact.relu())], 2 * width
    if library == "deel.torchlip" and name in ("GroupSort", "GroupSort2", "FullSort"):
        size = {"GroupSort2": 2, "FullSort": None}.get(name, m.group_size)
        size = size or width
        return ([exact.GroupSort(size)], width) if size else None
    if library == "orthogonium" and name == "MaxMin":
        return [exact.MaxMin("halves", "max_first")], width
    if library == "orthogonium" and name == "Abs":
        return [exact.Elementwise(exact.abs_())], width
    if library == "monotonicnetworks" and name == "GroupSort":
        if width is None or width % m.n_groups:
            return None
        return [exact.GroupSort(width // m.n_groups)], width
    return None


def is_one_lipschitz_activation(m: nn.Module) -> bool:
    """Whether ``m`` is a foreign activation that is 1-Lipschitz by construction (so a
    certificate need not multiply the norms of its exact pieces).

    Example:
        >>> is_one_lipschitz_activation(nn.ReLU())
        False
    """
    return bool(_library(m)) and type(m).__name__ in (
        "MaxMin", "GroupSort", "GroupSort2", "FullSort", "Abs"
    )
