"""Exact invariants of network classes (docs/theory.md §3), as predicates on exported functions.

Each predicate returns True when the function is *consistent* with the class; a False is a
proof that no network of the class computes the function.
"""

from __future__ import annotations

from fractions import Fraction

from cpwl import CPWL, DomainError, Network
from cpwl.activations import Elementwise

__all__ = ["activation_contraction", "tight_runs", "unit_slopes_share_sign", "window_test", "window_test_on_line"]


def activation_contraction(net: Network) -> Fraction:
    """Product over elementwise activation layers of their largest ``|slope|`` (``rho`` per
    layer in case A); vector activations count as 1.

    Examples:
        >>> from cpwl import Affine, activations as act
        >>> activation_contraction(Network([Affine([[1]]), act.leaky_relu("1/2")]))
        Fraction(1, 1)
    """
    bound = Fraction(1)
    for layer in net.layers:
        if isinstance(layer, Elementwise):
            bound *= max(f.lipschitz_constant() for f in layer.functions)
    return bound


def unit_slopes_share_sign(f: CPWL) -> bool:
    """Case B: all slopes of magnitude 1 have one sign.

    Examples:
        >>> from cpwl import activations as act
        >>> unit_slopes_share_sign(act.relu()), unit_slopes_share_sign(act.abs_())
        (True, False)
    """
    return len({s for s in f.slopes if abs(s) == 1}) <= 1


def tight_runs(f: CPWL) -> list:
    """Maximal runs of consecutive pieces with ``|slope| = 1``: a list of
    ``(start, end, turning_points)`` with ``None`` for infinite ends; turning points are the
    breakpoints inside the run where the slope changes sign.

    Examples:
        >>> from cpwl import activations as act
        >>> tight_runs(act.n_function())
        [(None, None, [Fraction(-1, 2), Fraction(1, 2)])]
    """
    runs, current = [], None
    for lo, hi, s, _ in f.canonical().pieces():
        if abs(s) == 1:
            if current is None:
                current = [lo, hi, []]
            else:
                current[2].append(lo)
                current[1] = hi
        elif current is not None:
            runs.append(tuple(current))
            current = None
    if current is not None:
        runs.append(tuple(current))
    return runs


def window_test(f: CPWL) -> bool:
    """Case C (tight-window lemma, docs/theory.md §3.6): for every tight run with turning points
    ``t_1 < ... < t_r`` and every window ``[t_{i-1}, t_{j+1}]`` around a run ``t_i..t_j``
    (``j > i``; run ends stand in for missing neighbours) the maximum or the minimum of ``f``
    over the window is attained at an interior turning point.  Needs a compact domain.

    Examples:
        >>> from cpwl import activations as act
        >>> n = act.n_function()
        >>> window_test(n.restrict(-2, 2)), window_test(n.restrict("-3/2", 2))
        (False, True)
    """
    if not f.domain.is_compact:
        raise DomainError(f"window_test needs a compact domain, got {f.domain}; use window_test_on_line")
    for start, end, turns in tight_runs(f):
        ends = [start, *turns, end]
        for i in range(1, len(turns) + 1):
            for j in range(i + 1, len(turns) + 1):
                vals = [f(t) for t in ends[i - 1 : j + 2]]
                inner = vals[1:-1]
                if max(vals) not in inner and min(vals) not in inner:
                    return False
    return True


def window_test_on_line(f: CPWL) -> bool:
    """:func:`window_test` for a function on an unbounded domain: restricted to a window wide
    enough that unbounded tight ends exceed every interior value (what a network computes on
    the line it also computes on any part of it).

    Examples:
        >>> from cpwl import activations as act
        >>> window_test_on_line(act.n_function()), window_test_on_line(act.abs_())
        (False, True)
    """
    if f.domain.is_compact or not f.breakpoints:
        return window_test(f) if f.domain.is_compact else True
    bps, vals = f.breakpoints, f.values
    pad = max(vals) - min(vals) + (bps[-1] - bps[0]) + 1
    lo = bps[0] - pad if f.domain.lo is None else f.domain.lo
    hi = bps[-1] + pad if f.domain.hi is None else f.domain.hi
    return window_test(f.restrict(lo, hi))
