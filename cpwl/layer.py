"""The contract every layer of an exact :class:`cpwl.Network` follows.

A layer is a map ``R^n -> R^m`` that is continuous and piecewise linear, given exactly.  It
knows five things, each written once, in its own class:

* ``_forward``: its exact value on a vector of rationals;
* ``apply_map``: its exact image of a :class:`cpwl.CPWLMap` (a layer restricted to a line);
* ``check_width``: which input widths it accepts, and the output width;
* ``lipschitz_bound``: a *proven* upper bound on its Lipschitz constant in the l2 norm, or in
  the l1 or l-infinity norm (the same norm on inputs and outputs; see :func:`norm_name`);
* ``jacobian_hull``: exact interval bounds on its directional derivatives, everywhere
  (monotonicity certificates, :func:`cpwl.derivative_bounds`).

The last two are abstract: a layer type that forgets them cannot even be instantiated, so no
certificate can fall back to "1" for it.

Examples:
    >>> from cpwl import Affine
    >>> Affine([["3/5", "4/5"]]).lipschitz_bound()
    LipschitzBound(value=Fraction(1, 1), method='exact PSD test of I - W^T W')
    >>> Affine([["3/5", "4/5"]]).lipschitz_bound("inf").value
    Fraction(7, 5)
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import numpy as np

from cpwl.errors import InvalidArgument, ShapeError

__all__ = ["Layer", "LipschitzBound", "composed_bound", "linear_hull", "norm_name"]


def norm_name(norm) -> object:
    """The canonical name of a vector norm: ``2``, ``1`` or ``"inf"`` (also accepted:
    ``math.inf``, and the strings ``"1"``, ``"2"``, ``"l1"``, ``"l2"``, ``"linf"``);
    anything else raises :class:`cpwl.InvalidArgument`.

    Examples:
        >>> norm_name(math.inf), norm_name(2)
        ('inf', 2)
    """
    if isinstance(norm, str):
        names = {"inf": "inf", "infinity": "inf", "linf": "inf", "1": 1, "l1": 1, "2": 2, "l2": 2}
        if norm.strip().lower() in names:
            return names[norm.strip().lower()]
    if isinstance(norm, (int, float)) and not isinstance(norm, bool):
        if norm == math.inf:
            return "inf"
        if norm in (1, 2):
            return int(norm)
    raise InvalidArgument(f"norm must be 2, 1 or 'inf', got {norm!r}")


@dataclass(frozen=True)
class LipschitzBound:
    """A proven upper bound ``value`` on a Lipschitz constant, and how it was proven.

    Examples:
        >>> b = LipschitzBound(Fraction(1), "by construction")
        >>> b.value <= 1
        True
    """

    value: Fraction
    method: str


def composed_bound(layers: Sequence[Layer], norm=2) -> LipschitzBound:
    """The bound of a composition in one ``norm``: the product of the layers' proven bounds
    (1 for none), with their distinct methods.

    Examples:
        >>> from cpwl import Affine, activations
        >>> composed_bound([Affine([["1/2"]]), activations.Elementwise(activations.relu())]).value
        Fraction(1, 1)
    """
    found = [layer.lipschitz_bound(norm) for layer in layers]
    value = math.prod((b.value for b in found), start=Fraction(1))
    return LipschitzBound(value, "; ".join(dict.fromkeys(b.method for b in found)) or "identity")


def linear_hull(W, lo, hi) -> tuple:
    """Exact bounds of ``W d`` over the box ``lo <= d <= hi`` (object arrays, ``W`` of shape
    ``(m, k)``, the box ``(k, n)``): ``W+ lo + W- hi`` and ``W+ hi + W- lo``.

    Examples:
        >>> import numpy as np
        >>> W, lower, upper = (np.array(a, dtype=object) for a in ([[1, -2]], [[0], [0]], [[1], [1]]))
        >>> lo, hi = linear_hull(W, lower, upper)
        >>> lo.tolist(), hi.tolist()
        ([[-2]], [[1]])
    """
    positive = np.where(W > 0, W, 0)
    negative = np.where(W < 0, W, 0)
    return positive.dot(lo) + negative.dot(hi), positive.dot(hi) + negative.dot(lo)


class Layer(abc.ABC):
    """Base class of the layers of :class:`cpwl.Network` (see the module docstring)."""

    #: Fixed input width, or ``None`` if any width that ``check_width`` accepts works.
    in_features: Optional[int] = None

    def check_width(self, k: int) -> int:
        """The output width for ``k`` inputs; :class:`cpwl.ShapeError` if ``k`` does not fit."""
        if self.in_features is not None and k != self.in_features:
            raise ShapeError(f"{self!r} takes {self.in_features} inputs but receives {k}")
        return k

    def __call__(self, vector: Sequence) -> tuple:
        """Exact forward pass on a vector of rationals; returns a tuple of Fractions."""
        from cpwl.rationals import _to_fraction, as_rational

        vals = [as_rational(v) for v in vector]
        self.check_width(len(vals))
        return tuple(_to_fraction(v) for v in self._forward(vals))

    @abc.abstractmethod
    def _forward(self, vals: list) -> list:
        """Exact values (mpq) on a vector of mpq of an accepted width."""

    @abc.abstractmethod
    def apply_map(self, F):
        """The exact image ``layer ∘ F`` of a :class:`cpwl.CPWLMap`."""

    @abc.abstractmethod
    def jacobian_hull(self, lo, hi) -> tuple:
        """Exact bounds ``(lo', hi')`` with ``lo' <= J d <= hi'`` for every direction ``d``
        with ``lo <= d <= hi`` and every generalized (Clarke) Jacobian ``J`` of the layer at
        any point.  ``lo`` and ``hi`` are object arrays of rationals ``(width, directions)``:
        one column per direction, all propagated at once."""

    @abc.abstractmethod
    def lipschitz_bound(self, norm=2) -> LipschitzBound:
        """A proven upper bound on the layer's Lipschitz constant (any accepted width) in
        ``norm`` (2, 1 or ``"inf"``, see :func:`norm_name`) on inputs and outputs."""
