"""Rational enclosures: answers that are proven intervals rather than exact values."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import isqrt

from cpwl.errors import InvalidArgument
from cpwl.rationals import RationalLike, as_fraction

__all__ = ["Enclosure", "sqrt_upper"]


@dataclass(frozen=True)
class Enclosure:
    """A proven enclosure ``lo <= value <= hi`` of a real number that may be irrational
    (a spectral norm, say), with exact rational ends.

    Examples:
        >>> from fractions import Fraction
        >>> e = Enclosure(Fraction(14, 10), Fraction(15, 10))   # sqrt(2)
        >>> e.contains(Fraction(141, 100)), e.width
        (True, Fraction(1, 10))
    """

    lo: Fraction
    hi: Fraction

    def __post_init__(self) -> None:
        if not self.lo <= self.hi:
            raise InvalidArgument(f"an enclosure needs lo <= hi, got [{self.lo}, {self.hi}]")

    @property
    def width(self) -> Fraction:
        """``hi - lo``."""
        return self.hi - self.lo

    def contains(self, x: RationalLike) -> bool:
        """Whether the rational ``x`` lies in ``[lo, hi]``."""
        return self.lo <= as_fraction(x) <= self.hi

    def __sub__(self, other: RationalLike) -> Enclosure:
        k = as_fraction(other)
        return Enclosure(self.lo - k, self.hi - k)

    def __str__(self) -> str:
        return f"[{float(self.lo):.12g}, {float(self.hi):.12g}] (enclosure)"


def sqrt_upper(q: RationalLike, bits: int = 40) -> Fraction:
    """A rational ``>= sqrt(q)`` within ``2**-bits`` relative precision (0 for ``q <= 0``).

    Examples:
        >>> r = sqrt_upper(2); r * r >= 2 and r - Fraction(1, 2**30) < 1.4142136
        True
    """
    q = as_fraction(q)
    if q <= 0:
        return Fraction(0)
    scale = 1 << bits
    target = q * scale * scale
    root = isqrt(target.numerator // target.denominator)
    while root * root < target:
        root += 1
    return Fraction(root, scale)
