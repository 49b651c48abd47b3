"""docs/theory.md §2.4: slope clipping of learnable linear splines (Ducotterd et al.) and their
second-order total variation, exactly."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from cpwl import CPWL, strategies
from cpwl import activations as act
from proofs.harness import Checker, Result

STATEMENT = (
    "For spline coefficients c_0..c_K on a grid of spacing T: after slope clipping (differences "
    "clamped to [-T, T], rebuilt by cumulative sums, shifted to keep the mean) every "
    "|c_(k+1) - c_k| <= T, the mean is unchanged and the spline is 1-Lipschitz; "
    "TV2 = sum_k |c_(k+1) - 2 c_k + c_(k-1)| / T equals the sum of the slope jumps of the "
    "spline; TV2(N_theta) = 4 and TV2(|.|) = 2."
)


def clip_slopes(coeffs: list, T: Fraction) -> list:
    """Clamp consecutive differences to ``[-T, T]``, rebuild, and restore the mean.

    Examples:
        >>> clip_slopes([Fraction(0), Fraction(3)], Fraction(1))
        [Fraction(1, 1), Fraction(2, 1)]
    """
    rebuilt = [coeffs[0]]
    for a, b in zip(coeffs, coeffs[1:]):
        rebuilt.append(rebuilt[-1] + min(max(b - a, -T), T))
    shift = (sum(coeffs) - sum(rebuilt)) / len(coeffs)
    return [v + shift for v in rebuilt]


def tv2(coeffs: list, T: Fraction) -> Fraction:
    """Second-order total variation of the spline with these coefficients."""
    return sum((abs(coeffs[k + 1] - 2 * coeffs[k] + coeffs[k - 1]) for k in range(1, len(coeffs) - 1)), Fraction(0)) / T


def spline(coeffs: list, T: Fraction) -> CPWL:
    """The linear spline through ``(k T, c_k)``, continued linearly at both ends."""
    knots = [k * T for k in range(len(coeffs))]
    first, last = (coeffs[1] - coeffs[0]) / T, (coeffs[-1] - coeffs[-2]) / T
    return act.linear_spline(knots, coeffs, first, last)


def slope_jumps(f: CPWL) -> Fraction:
    """Total variation of the derivative: the sum of ``|slope jumps|``."""
    return sum((abs(b - a) for a, b in zip(f.slopes, f.slopes[1:])), Fraction(0))


def _clip_laws(data) -> bool:
    coeffs, T = data
    new = clip_slopes(coeffs, T)
    return (
        all(abs(b - a) <= T for a, b in zip(new, new[1:]))
        and sum(new) == sum(coeffs)
        and spline(new, T).is_lipschitz(1)
        and tv2(new, T) == slope_jumps(spline(new, T))
    )


def check(c: Checker) -> None:
    data = st.tuples(
        st.lists(strategies.rationals(-3, 3, max_denominator=8), min_size=3, max_size=8),
        strategies.rationals(Fraction(1, 8), 1, max_denominator=8),
    )
    steep = ("a spline steeper than 1 before clipping", lambda d: not spline(d[0], d[1]).is_lipschitz(1), 0.3)
    c.for_all("clipping laws and TV2 = sum of slope jumps", data, _clip_laws, reached=steep)
    c.holds("TV2(N_theta) = 4", slope_jumps(act.n_activation(-1, 2)) == 4)
    c.holds("TV2(|.|) = 2", slope_jumps(act.abs_()) == 2)
    c.falsifiable("unclipped splines are not always 1-Lipschitz", data, lambda d: spline(d[0], d[1]).is_lipschitz(1))


RESULT = Result("lls_clip", "lemma", "2.4", STATEMENT, check)
