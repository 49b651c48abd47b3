"""Domains of CPWL functions: the real line, a closed half-line, or a compact interval."""

from __future__ import annotations

from fractions import Fraction
from typing import Optional

from gmpy2 import mpq

from cpwl.errors import DomainError
from cpwl.rationals import RationalLike, _to_fraction, as_rational

__all__ = ["Interval"]


class Interval:
    """A closed interval of the real line with exact rational ends; ``None`` marks an
    infinite end.  Non-degenerate: a finite interval needs ``lo < hi``.

    Examples:
        >>> from cpwl import Interval
        >>> Interval(-1, "1/2")
        Interval(-1, 1/2)
        >>> Interval() == Interval.real_line()
        True
        >>> Interval(0, None).contains(10**9)
        True
    """

    __slots__ = ("_lo", "_hi")

    def __init__(self, lo: Optional[RationalLike] = None, hi: Optional[RationalLike] = None):
        self._lo = None if lo is None else as_rational(lo)
        self._hi = None if hi is None else as_rational(hi)
        if self._lo is not None and self._hi is not None and not self._lo < self._hi:
            raise DomainError(
                f"an interval needs lo < hi, got [{self._lo}, {self._hi}]; "
                "a domain of zero or negative length holds no piece of a function"
            )

    @classmethod
    def real_line(cls) -> Interval:
        """The whole real line ``(-inf, inf)``.

        Examples:
            >>> Interval.real_line().is_compact
            False
        """
        return cls(None, None)

    @classmethod
    def coerce(cls, domain: Interval | tuple | None) -> Interval:
        """Accept an :class:`Interval`, a pair ``(lo, hi)`` (``None`` for infinite ends) or
        ``None`` (the real line).

        Examples:
            >>> Interval.coerce((0, 1))
            Interval(0, 1)
        """
        if domain is None:
            return cls.real_line()
        if isinstance(domain, Interval):
            return domain
        try:
            lo, hi = domain
        except (TypeError, ValueError) as err:
            raise DomainError(f"a domain is an Interval or a pair (lo, hi), got {domain!r}") from err
        return cls(lo, hi)

    @property
    def lo(self) -> Optional[Fraction]:
        """Left end as a Fraction, or ``None`` if unbounded below."""
        return None if self._lo is None else _to_fraction(self._lo)

    @property
    def hi(self) -> Optional[Fraction]:
        """Right end as a Fraction, or ``None`` if unbounded above."""
        return None if self._hi is None else _to_fraction(self._hi)

    @property
    def is_compact(self) -> bool:
        """Both ends finite."""
        return self._lo is not None and self._hi is not None

    @property
    def length(self) -> Optional[Fraction]:
        """``hi - lo`` for a compact interval, ``None`` otherwise."""
        return _to_fraction(self._hi - self._lo) if self.is_compact else None

    def contains(self, x: RationalLike) -> bool:
        """Exact membership test (ends included)."""
        q = as_rational(x)
        return (self._lo is None or self._lo <= q) and (self._hi is None or q <= self._hi)

    def contains_interval(self, other: Interval) -> bool:
        """Whether ``other`` is a subset of this interval."""
        lo_ok = self._lo is None or (other._lo is not None and self._lo <= other._lo)
        hi_ok = self._hi is None or (other._hi is not None and other._hi <= self._hi)
        return lo_ok and hi_ok

    def intersect(self, other: Interval) -> Interval:
        """The common part of two intervals; :class:`DomainError` if it has no length.

        Examples:
            >>> Interval(0, 2).intersect(Interval(1, None))
            Interval(1, 2)
        """
        lo = _pick_end(self._lo, other._lo, max)
        hi = _pick_end(self._hi, other._hi, min)
        if lo is not None and hi is not None and not lo < hi:
            raise DomainError(f"the domains {self} and {other} share no interval of positive length")
        return Interval(lo, hi)

    def _interior(self, x: mpq) -> bool:
        return (self._lo is None or self._lo < x) and (self._hi is None or x < self._hi)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Interval):
            return NotImplemented
        return self._lo == other._lo and self._hi == other._hi

    def __hash__(self) -> int:
        return hash((self._lo, self._hi))

    def __repr__(self) -> str:
        lo = "None" if self._lo is None else str(self._lo)
        hi = "None" if self._hi is None else str(self._hi)
        return f"Interval({lo}, {hi})"

    def __str__(self) -> str:
        lo = "(-inf" if self._lo is None else f"[{self._lo}"
        hi = "inf)" if self._hi is None else f"{self._hi}]"
        return f"{lo}, {hi}"


def _pick_end(a: Optional[mpq], b: Optional[mpq], choose) -> Optional[mpq]:
    """``choose(a, b)`` where both ends are finite, else the finite one (or ``None``)."""
    if a is None or b is None:
        return b if a is None else a
    return choose(a, b)
