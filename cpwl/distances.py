"""Exact distances between CPWL functions: sup norm and squared L2 norm of the difference."""

from __future__ import annotations

from fractions import Fraction

from gmpy2 import mpq

from cpwl.errors import DomainError
from cpwl.function import CPWL
from cpwl.rationals import _to_fraction

__all__ = ["sup_distance", "l2_distance_squared"]


def _difference_with_bounded_tails(f: CPWL, g: CPWL, what: str) -> CPWL:
    diff = f - g
    dom = diff.domain
    left_bad = dom._lo is None and (diff._s[0] != 0 or (what == "l2" and diff._c[0] != 0))
    right_bad = dom._hi is None and (diff._s[-1] != 0 or (what == "l2" and diff._c[-1] != 0))
    if left_bad or right_bad:
        raise DomainError(
            f"the {what} distance on the unbounded domain {dom} is infinite; restrict both "
            "functions to a compact interval first"
        )
    return diff


def sup_distance(f: CPWL, g: CPWL) -> Fraction:
    """Exact ``max |f - g|`` on the common domain.

    On an unbounded domain the difference must be constant on the unbounded tails
    (otherwise :class:`cpwl.DomainError`).

    Examples:
        >>> from cpwl import CPWL, sup_distance
        >>> sup_distance(CPWL.identity((0, 1)), CPWL.constant(0, (0, 1)))
        Fraction(1, 1)
    """
    diff = _difference_with_bounded_tails(f, g, "sup")
    lo, hi = diff._range()
    return _to_fraction(max(abs(lo), abs(hi)))


def l2_distance_squared(f: CPWL, g: CPWL) -> Fraction:
    """Exact ``∫ (f - g)^2`` over the common domain.

    On each piece ``[u, v]`` the difference ``d`` is affine and
    ``∫ d^2 = (v - u) * (d(u)^2 + d(u) d(v) + d(v)^2) / 3``.  Unbounded tails must vanish.

    Examples:
        >>> from cpwl import CPWL, l2_distance_squared
        >>> l2_distance_squared(CPWL.identity((0, 1)), CPWL.constant(0, (0, 1)))
        Fraction(1, 3)
    """
    diff = _difference_with_bounded_tails(f, g, "l2")
    ends = [diff.domain._lo, *diff._bps, diff.domain._hi]
    total = mpq(0)
    for j, (s, c) in enumerate(zip(diff._s, diff._c)):
        u, v = ends[j], ends[j + 1]
        if u is None or v is None:
            continue
        du, dv = s * u + c, s * v + c
        total += (v - u) * (du * du + du * dv + dv * dv) / 3
    return _to_fraction(total)
