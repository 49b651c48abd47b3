"""The contract every layer of an exact :class:`cpwl.Network` follows.

A layer is a map ``R^n -> R^m`` that is continuous and piecewise linear, given exactly.  It
knows four things, each written once, in its own class:

* ``_forward``: its exact value on a vector of rationals;
* ``apply_map``: its exact image of a :class:`cpwl.CPWLMap` (a layer restricted to a line);
* ``check_width``: which input widths it accepts, and the output width;
* ``lipschitz_bound``: a *proven* upper bound on its l2 Lipschitz constant.

The last is abstract: a layer type that forgets its bound cannot even be instantiated, so
no certificate can fall back to "1" for it.

Example:
    >>> from cpwl import Affine
    >>> Affine([["3/5", "4/5"]]).lipschitz_bound()
    LipschitzBound(value=Fraction(1, 1), method='exact PSD test of I - W^T W')
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Sequence

from cpwl.errors import ShapeError

__all__ = ["Layer", "LipschitzBound", "composed_bound"]


@dataclass(frozen=True)
class LipschitzBound:
    """A proven upper bound ``value`` on an l2 Lipschitz constant, and how it was proven.

    Example:
        >>> b = LipschitzBound(Fraction(1), "by construction")
        >>> b.value <= 1
        True
    """

    value: Fraction
    method: str


def composed_bound(layers: Sequence["Layer"]) -> LipschitzBound:
    """The bound of a composition: the product of the layers' proven bounds (1 for none),
    with their distinct methods.

    Example:
        >>> from cpwl import Affine, activations
        >>> composed_bound([Affine([["1/2"]]), activations.Elementwise(activations.relu())]).value
        Fraction(1, 1)
    """
    found = [layer.lipschitz_bound() for layer in layers]
    value = math.prod((b.value for b in found), start=Fraction(1))
    return LipschitzBound(value, "; ".join(dict.fromkeys(b.method for b in found)) or "identity")


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
        from cpwl.numbers import _to_fraction, as_rational

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
    def lipschitz_bound(self) -> LipschitzBound:
        """A proven upper bound on the layer's l2 Lipschitz constant (any accepted width)."""
