"""Rewrites of a chain of exact layers that the float passes share (:mod:`nets.certify.screen`,
:mod:`nets.certify.rigorous`): each computes exactly what the layers it replaces compute, with
fewer steps.

Examples:
    >>> from cpwl import Gather
    >>> [layer.index for layer in composed_gathers([Gather([1, 0, 2], 3), Gather([2, 2], 3)])]
    [(2, 2)]
"""

from __future__ import annotations

import numpy as np

from cpwl import Gather
from cpwl import activations as exact

__all__ = ["composed_gathers", "fused_sort"]


def _permutation(layer) -> np.ndarray | None:
    if not isinstance(layer, Gather) or None in layer.index or layer.copies != 1:
        return None
    index = np.asarray(layer.index)
    return index if len(index) == layer.in_features else None


def composed_gathers(layers) -> list:
    """``layers`` with each run of consecutive gathers composed into one (a single copy)."""
    out = []
    for layer in layers:
        if type(layer) is Gather and out and type(out[-1]) is Gather:
            out[-1] = out[-1].then(layer)
        else:
            out.append(layer)
    return out


def fused_sort(layers: list, k: int, width: int):
    """``(layer, groups)`` when ``layers[k:k + 3]`` is a permutation, a sort and the inverse
    permutation: the sort of the groups where they stand (nothing moves), else ``None``."""
    if k + 2 >= len(layers) or not isinstance(layers[k + 1], exact.SortingLayer):
        return None
    first, last = _permutation(layers[k]), _permutation(layers[k + 2])
    if first is None or last is None or not np.array_equal(first[last], np.arange(width)):
        return None
    return layers[k + 1], first[layers[k + 1].groups(width)]
