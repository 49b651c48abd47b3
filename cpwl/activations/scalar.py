"""Exact scalar activations, each a :class:`cpwl.CPWL` on the real line.

These are the single source of truth for every activation of the library: the torch modules
of ``nets`` are tested against them.
"""

from __future__ import annotations

from collections.abc import Sequence

from cpwl.errors import BreakpointError
from cpwl.function import CPWL
from cpwl.interval import Interval
from cpwl.rationals import RationalLike, as_rational

_REAL_LINE = Interval.real_line()

__all__ = ["relu", "abs_", "identity", "leaky_relu", "two_piece", "n_activation", "n_function", "linear_spline"]


def identity() -> CPWL:
    """``y -> y``.

    Examples:
        >>> identity()(-3)
        Fraction(-3, 1)
    """
    return CPWL.identity()


def two_piece(c: RationalLike, left_slope: RationalLike, right_slope: RationalLike, value: RationalLike = 0) -> CPWL:
    """The 2-piece function with one breakpoint ``c``, value ``value`` there, and the given
    slopes (docs/theory.md §2.1: a 2-piece 1-CPWL activation when both slopes lie in [-1, 1]).

    Examples:
        >>> two_piece(1, 0, 1)(3)      # ReLU shifted to 1
        Fraction(2, 1)
    """
    if as_rational(left_slope) == as_rational(right_slope):
        raise BreakpointError("a two-piece activation needs two different slopes")
    return CPWL.from_points([(c, value)], left_slope=left_slope, right_slope=right_slope)


def relu() -> CPWL:
    """``max(y, 0)``.

    Examples:
        >>> relu()(-2), relu()(2)
        (Fraction(0, 1), Fraction(2, 1))
    """
    return two_piece(0, 0, 1)


def abs_() -> CPWL:
    """``|y|``.

    Examples:
        >>> abs_()(-2)
        Fraction(2, 1)
    """
    return two_piece(0, -1, 1)


def leaky_relu(alpha: RationalLike) -> CPWL:
    """``y`` for ``y >= 0`` and ``alpha * y`` below (any slope ``alpha != 1``; exact, so
    pass ``"0.01"`` for one hundredth).

    Examples:
        >>> leaky_relu("1/10")(-5)
        Fraction(-1, 2)
    """
    return two_piece(0, alpha, 1)


def n_activation(theta1: RationalLike, theta2: RationalLike) -> CPWL:
    """The N-activation of Prach & Lampert (docs/theory.md §2.2): with ``t1 = min(theta)`` and
    ``t2 = max(theta)``, ``y - 2 t1`` below ``t1``, ``-y`` on ``[t1, t2]``, ``y - 2 t2`` above.
    Slopes ``+1, -1, +1``; for ``t1 == t2`` it is the shift ``y - 2 t1``.

    Examples:
        >>> n = n_activation("-1/2", "1/2")     # the N-function
        >>> n(-1), n(0), n(1)
        (Fraction(0, 1), Fraction(0, 1), Fraction(0, 1))
    """
    t1, t2 = sorted((as_rational(theta1), as_rational(theta2)))
    return _n_sorted(t1, t2)


def _n_sorted(t1, t2) -> CPWL:
    """:func:`n_activation` of exact rationals ``t1 <= t2`` (``gmpy2.mpq``), built without
    converting or checking again (its pieces meet by construction: ``-t1`` at ``t1``, ``-t2``
    at ``t2``)."""
    if t1 == t2:
        return CPWL.linear(1, -2 * t1)
    one = t1 - t1 + 1
    return CPWL._trusted((t1, t2), (one, -one, one), (-2 * t1, one - one, -2 * t2), _REAL_LINE)


def n_function() -> CPWL:
    """The toy target of docs/theory.md §2.2: ``x + 1`` below ``-1/2``, ``-x`` between, ``x - 1``
    above; equal to ``n_activation(-1/2, 1/2)``.

    Examples:
        >>> n_function()(2)
        Fraction(1, 1)
    """
    return CPWL.from_pieces(["-1/2", "1/2"], [1, -1, 1], [1, 0, -1])


def linear_spline(
    knots: Sequence[RationalLike],
    values: Sequence[RationalLike],
    left_slope: RationalLike,
    right_slope: RationalLike,
) -> CPWL:
    """The linear spline through ``(knots[j], values[j])``, continued linearly with the given
    end slopes (the learnable-spline form of docs/theory.md §2.4).

    Examples:
        >>> s = linear_spline([0, 1], [0, 1], 0, 0)    # clamp to [0, 1]
        >>> s(-1), s("1/2"), s(2)
        (Fraction(0, 1), Fraction(1, 2), Fraction(1, 1))
    """
    if len(knots) != len(values):
        raise BreakpointError(f"{len(knots)} knots but {len(values)} values")
    return CPWL.from_points(list(zip(knots, values)), left_slope=left_slope, right_slope=right_slope)
