"""The exact selection layer: outputs are chosen inputs or zeros."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Optional

import numpy as np
from gmpy2 import mpq

from cpwl.enclosure import sqrt_upper
from cpwl.errors import InvalidArgument
from cpwl.layer import Layer, LipschitzBound, norm_name

__all__ = ["Gather"]


class Gather(Layer):
    """``y[j] = x[index[j]]`` (``None`` in ``index``: ``y[j] = 0``) for inputs of width
    ``in_features``: permutations, selections, copies and zero padding, exactly.  Reshaping,
    slicing, channel concatenation with zeros and space-to-depth pooling of a feature map in
    row-major order are all gathers.

    Examples:
        >>> g = Gather([2, None, 0], in_features=3)
        >>> g([1, 2, 3])
        (Fraction(3, 1), Fraction(0, 1), Fraction(1, 1))
        >>> g.lipschitz_bound().value
        Fraction(1, 1)
    """

    def __init__(self, index: Sequence[Optional[int]], in_features: int):
        if not isinstance(in_features, (int, np.integer)) or isinstance(in_features, bool) or in_features < 1:
            raise InvalidArgument(f"in_features must be a positive int, got {in_features!r}")
        index = list(index)
        if not index:
            raise InvalidArgument("a Gather needs at least one output")
        if not _plain(index, in_features):
            for i in index:
                if i is not None and (
                    isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < in_features
                ):
                    raise InvalidArgument(f"gather indices must be ints in [0, {in_features}) or None, got {i!r}")
        self.in_features = int(in_features)
        #: The source of each output (``None``: zero).
        self.index = tuple(None if i is None else int(i) for i in index)

    def check_width(self, k: int) -> int:
        super().check_width(k)
        return len(self.index)

    @property
    def copies(self) -> int:
        """The largest number of outputs that read one input (0 if all outputs are zero)."""
        counts = np.bincount([i for i in self.index if i is not None], minlength=1)
        return int(counts.max())

    def then(self, after: Gather) -> Gather:
        """The one gather that computes ``after`` applied to this gather's outputs.

        Examples:
            >>> Gather([1, None, 0], 2).then(Gather([2, 1, 0], 3)).index
            (0, None, 1)
        """
        return Gather([None if j is None else self.index[j] for j in after.index], self.in_features)

    def _forward(self, vals: list) -> list:
        zero = mpq(0)
        return [zero if i is None else vals[i] for i in self.index]

    def apply_map(self, F):
        return F.gather(self.index)

    def jacobian_hull(self, lo, hi) -> tuple:
        """The selected rows of the box (zero rows for zero outputs)."""
        zero = np.zeros((1, lo.shape[1]), dtype=object)
        index = [len(lo) if i is None else i for i in self.index]
        return np.concatenate([lo, zero])[index], np.concatenate([hi, zero])[index]

    def lipschitz_bound(self, norm=2) -> LipschitzBound:
        """Exact in every norm, for ``c`` the largest number of copies of one input (1 for a
        permutation, selection or zero padding): ``sqrt(c)`` in l2 (``G^T G`` is diagonal with
        the copy counts), ``c`` in l1 (column sums), ``min(1, c)`` in l-infinity (each output
        reads one input or is zero).

        Examples:
            >>> Gather([0, 0, 1, 0], in_features=2).lipschitz_bound().value > Fraction(173, 100)
            True
            >>> Gather([0, 0, 1, 0], in_features=2).lipschitz_bound(1).value
            Fraction(3, 1)
        """
        c = self.copies
        norm = norm_name(norm)
        if norm != 2:
            value = c if norm == 1 else min(1, c)
            return LipschitzBound(
                Fraction(value),
                "exact: largest copy count" if norm == 1 else "exact: each output reads at most one input",
            )
        root = math.isqrt(c)
        if root * root == c:
            return LipschitzBound(
                Fraction(root),
                "exact: each input is read at most once" if c <= 1 else "exact sqrt of the largest copy count",
            )
        return LipschitzBound(sqrt_upper(c), "sqrt of the largest copy count (rational upper bound)")

    def __repr__(self) -> str:
        return f"Gather({self.in_features} -> {len(self.index)})"


def _plain(index: list, in_features: int) -> bool:
    """Whether every entry is a plain ``int`` in ``[0, in_features)`` or ``None``, checked
    without a Python loop per entry (the common case: translations build long index lists)."""
    if not set(map(type, index)) <= {int, type(None)}:
        return False
    ints = [i for i in index if i is not None]
    try:
        values = np.fromiter(ints, dtype=np.int64, count=len(ints))
    except OverflowError:
        return False
    return not values.size or (int(values.min()) >= 0 and int(values.max()) < in_features)
