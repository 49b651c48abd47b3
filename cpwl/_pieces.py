"""Private helpers shared by the scalar algebra: piece lookup, sample points, assembly.

A CPWL function is stored as sorted breakpoints ``t_1 < ... < t_k`` strictly inside its
domain and one affine piece ``s_j * x + c_j`` per gap (``k + 1`` pieces).  Every binary
operation follows the same recipe: choose the breakpoints of the result, take one rational
point strictly inside each resulting piece, and read off the result's affine piece there.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence

from gmpy2 import mpq

from cpwl.interval import Interval

Piece = tuple  # (slope, intercept), both mpq

_ONE = mpq(1)
_HALF = mpq(1, 2)


def piece_index(bps: Sequence[mpq], x: mpq) -> int:
    """Index of the piece that holds ``x`` (at a breakpoint: the piece on its right)."""
    return bisect_right(bps, x)


def sample_points(bps: Sequence[mpq], domain: Interval) -> list:
    """One exact rational strictly inside each of the ``len(bps) + 1`` pieces."""
    ends = [domain._lo, *bps, domain._hi]
    points = []
    for left, right in zip(ends[:-1], ends[1:]):
        if left is None and right is None:
            points.append(mpq(0))
        elif left is None:
            points.append(right - _ONE)
        elif right is None:
            points.append(left + _ONE)
        else:
            points.append((left + right) * _HALF)
    return points


def merge_breakpoints(domain: Interval, *groups: Iterable[mpq]) -> list:
    """Sorted union of breakpoint groups, keeping only points strictly inside ``domain``."""
    merged = set()
    for group in groups:
        merged.update(group)
    return sorted(t for t in merged if domain._interior(t))


def assemble(domain: Interval, bps: list, piece_at: Callable[[mpq], Piece]):
    """Build the canonical CPWL whose piece around each sample point is ``piece_at(point)``."""
    from cpwl.function import CPWL

    pieces = [piece_at(m) for m in sample_points(bps, domain)]
    return CPWL._trusted(bps, [p[0] for p in pieces], [p[1] for p in pieces], domain).canonical()


def affine_crossing(slope: mpq, intercept: mpq, left, right):
    """Zero of ``slope * x + intercept`` if it lies strictly inside ``(left, right)``
    (``None`` ends are infinite), else ``None``."""
    if slope == 0:
        return None
    x = -intercept / slope
    if (left is None or left < x) and (right is None or x < right):
        return x
    return None
