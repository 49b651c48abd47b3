"""docs/theory.md §2.2: closed forms of the N-activation, and the N-function as one N-activation."""

from __future__ import annotations

from hypothesis import strategies as st

from cpwl import CPWL, maximum, minimum, strategies
from cpwl import activations as act
from proofs.harness import Checker, Result

STATEMENT = (
    "For rationals theta1 <= theta2, as exact functions on R: "
    "N(y) = y - 2 clip(y, theta1, theta2) = y - 2 theta1 - 2 ReLU(y - theta1) + 2 ReLU(y - theta2); "
    "on [theta1, inf) N(y) = |y - theta2| - theta2; N(y) - y takes values in [-2 theta2, -2 theta1]; "
    "theta1 = theta2 = t gives y - 2t. The N-function n equals N with theta = (-1/2, 1/2)."
)


def closed_forms_hold(candidate: CPWL, theta1, theta2) -> bool:
    """Whether ``candidate`` satisfies every closed form of ``N_theta`` (``theta1 <= theta2``).

    Examples:
        >>> closed_forms_hold(act.n_activation(0, 1), 0, 1)
        True
    """
    y = CPWL.identity()
    lo, hi = CPWL.constant(theta1), CPWL.constant(theta2)
    relu = act.relu()
    clip = minimum(maximum(y, lo), hi)
    shifted_abs = abs(y - hi) - hi
    low, high = (candidate - y).value_range()
    return (
        candidate == y - 2 * clip
        and candidate == y - 2 * lo - 2 * relu(y - lo) + 2 * relu(y - hi)
        and candidate.restrict(theta1, None) == shifted_abs.restrict(theta1, None)
        and low is not None
        and high is not None
        and -2 * hi(0) <= low
        and high <= -2 * lo(0)
    )


def _sorted_pairs():
    """Threshold pairs ``theta1 <= theta2``, tied in about half of the examples (the boundary
    where the middle piece vanishes)."""
    q = strategies.rationals(-4, 4, max_denominator=32)
    return st.one_of(st.tuples(q, q).map(sorted), q.map(lambda v: [v, v]))


def check(c: Checker) -> None:
    c.holds("n = N_(-1/2, 1/2)", act.n_function() == act.n_activation("-1/2", "1/2"))
    c.holds("theta = (0, 0) is the identity", act.n_activation(0, 0) == CPWL.identity())
    c.for_all(
        "closed forms of N_theta",
        _sorted_pairs(),
        lambda t: closed_forms_hold(act.n_activation(*t), *t),
        reached=("tied thresholds theta1 = theta2", lambda t: t[0] == t[1], 0.3),
    )
    c.falsifiable(
        "closed forms reject N with a shifted theta2",
        _sorted_pairs(),
        lambda t: closed_forms_hold(act.n_activation(t[0], t[1] + 1), *t),
    )


RESULT = Result("N_identities", "lemma", "2.2", STATEMENT, check)
