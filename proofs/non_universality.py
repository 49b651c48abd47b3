"""docs/theory.md §3 (Theorem 1 and its corollary): no 2-piece activation, and neither
MaxMin, GroupSort nor abs/identity, makes l2 1-Lipschitz networks universal."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from cpwl import Network, strategies
from cpwl import activations as act
from proofs.boundary import ABS_LIKE, CONTRACTIVE, ONE_UNIT, chains, folds
from proofs.harness import Checker, Result
from proofs.invariants import (
    activation_contraction,
    tight_runs,
    unit_slopes_share_sign,
    window_test,
    window_test_on_line,
)
from proofs.lipschitz_export import inflate

STATEMENT = (
    "Hypotheses: feed-forward networks R -> R, every weight matrix with exact spectral norm "
    "<= 1 (l2), arbitrary biases, any width and depth, exact representation. "
    "(A) With a 2-piece activation whose slopes both have |.| < 1, every exported f has "
    "max|slope| <= product of the layers' largest activation slopes (< 1). "
    "(B) With activations having exactly one slope of magnitude 1 (ReLU, leaky ReLU, ...), all "
    "slopes of f of magnitude 1 share one sign; so |x| and the N-function n are not "
    "representable. (C) With abs-like activations, MaxMin, GroupSort, Householder or mixed "
    "abs/identity, f passes the tight-window test; n fails it on [a, b] when a < -3/2 and "
    "b > 3/2, and the scaled n_(tau, c) = N_(c - tau, c + tau) fails it on any [a, b] with "
    "c = (a + b)/2 and 0 < tau < (b - a)/6. Hence none of these classes is universal for "
    "1-CPWL functions on R or on any compact interval."
)

_case_c_families = ("abs", "maxmin", "groupsort", "householder", "absid")


def scaled_n(a, b, tau_fraction) -> act.CPWL:
    """``n_(tau, c)`` on ``[a, b]`` with ``c`` the midpoint and ``tau = tau_fraction (b - a)/6``."""
    c, tau = (a + b) / 2, tau_fraction * (b - a) / 6
    return act.n_activation(c - tau, c + tau).restrict(a, b)


def case_a_holds(net: Network) -> bool:
    """Case A invariant on the exported function (network on R).

    Examples:
        >>> from cpwl import Affine
        >>> net = Network([Affine([[1]]), act.leaky_relu("1/2"), Affine([[1]])])
        >>> case_a_holds(net)
        True
    """
    return net.to_cpwl().lipschitz_constant() <= activation_contraction(net)


def family_networks(family, depth=st.integers(1, 3)):
    """Exact l2 1-Lipschitz networks of one family (a name or a strategy of layers)."""
    return strategies.networks(family, width=st.integers(1, 4), depth=depth)


def _turning_run(net: Network) -> bool:
    """Some run of unit slopes has at least two turning points (the window test's case)."""
    return any(len(turns) >= 2 for _, _, turns in tight_runs(net.to_cpwl()))


def _unit_slope(net: Network) -> bool:
    """A piece of slope magnitude 1: the invariant constrains its sign (two unit pieces of a
    case B network lie in one convex region, so one piece is what a network can show)."""
    return any(abs(s) == 1 for s in net.to_cpwl().slopes)


def _at_the_bound(net: Network) -> bool:
    """The steepest piece reaches half the contraction bound or more."""
    return 2 * net.to_cpwl().lipschitz_constant() >= activation_contraction(net)


_TURNS = ("a unit-slope run with 2+ turning points", _turning_run)
_UNITS = ("a piece of unit slope", _unit_slope)
_BOUND = ("a slope at least half the contraction bound", _at_the_bound)


def check(c: Checker) -> None:
    n = act.n_function()
    # case A
    c.for_all(
        "A: |slope| <= rho^L for contractive 2-piece nets",
        family_networks(CONTRACTIVE),
        case_a_holds,
        reached=(*_BOUND, 0),
    )
    c.for_all("A: ... aimed: width-1 chains", chains("contractive"), case_a_holds, reached=(*_BOUND, 0.3))
    c.holds("A: n violates (it has slope 1)", n.lipschitz_constant() == 1)
    c.falsifiable(
        "A: a layer of norm 1.01 breaks the bound", family_networks(CONTRACTIVE, depth=1).map(inflate), case_a_holds
    )
    # case B
    shares = lambda net: unit_slopes_share_sign(net.to_cpwl())  # noqa: E731
    c.for_all(
        "B: unit slopes share a sign (one-unit-slope nets)", family_networks(ONE_UNIT), shares, reached=(*_UNITS, 0)
    )
    c.for_all("B: ... for ReLU nets", family_networks("relu"), shares, scale=0.5, reached=(*_UNITS, 0))
    c.for_all("B: ... aimed: width-1 chains", chains("one-unit"), shares, reached=(*_UNITS, 0.3))
    c.holds(
        "B: n and |x| violate", not unit_slopes_share_sign(n) and not unit_slopes_share_sign(act.abs_().restrict(-1, 1))
    )
    c.falsifiable("B: abs nets break it", family_networks("abs"), lambda net: unit_slopes_share_sign(net.to_cpwl()))
    # case C
    passes = lambda net: window_test_on_line(net.to_cpwl())  # noqa: E731
    for family in _case_c_families:
        c.for_all(
            f"C: window test passes ({family} nets)", family_networks(family), passes, scale=0.5, reached=(*_TURNS, 0)
        )
        c.for_all(f"C: ... aimed: {family} folds", folds(family), passes, scale=0.5, reached=(*_TURNS, 0.3))
    c.for_all(
        "C: window test passes (abs-like 2-piece nets)",
        family_networks(ABS_LIKE),
        passes,
        scale=0.5,
        reached=(*_TURNS, 0),
    )
    c.for_all("C: ... aimed: abs-like chains", chains("abs-like"), passes, scale=0.5, reached=(*_TURNS, 0.3))
    c.holds("C: n on [-2, 2] fails the window test", not window_test(n.restrict(-2, 2)))
    wide = st.tuples(
        strategies.rationals(-6, Fraction(-3, 2), max_denominator=8).filter(lambda a: a < Fraction(-3, 2)),
        strategies.rationals(Fraction(3, 2), 6, max_denominator=8).filter(lambda b: b > Fraction(3, 2)),
    )
    c.for_all("C: n fails on every [a, b] with a < -3/2 < 3/2 < b", wide, lambda ab: not window_test(n.restrict(*ab)))
    interval = st.tuples(
        strategies.rationals(-5, 5, max_denominator=8),
        strategies.rationals(Fraction(1, 8), 6, max_denominator=8),
        strategies.rationals(Fraction(1, 16), Fraction(15, 16), max_denominator=16),
    )
    c.for_all(
        "C: scaled n fails on every compact interval",
        interval,
        lambda t: not window_test(scaled_n(t[0], t[0] + t[1], t[2])),
    )
    c.falsifiable(
        "C: N-activation nets break the window test",
        family_networks("n"),
        lambda net: window_test_on_line(net.to_cpwl()),
    )


RESULT = Result("theorem1_non_universality", "theorem", "3", STATEMENT, check)
