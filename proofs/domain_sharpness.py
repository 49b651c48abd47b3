"""docs/theory.md §3.7 (sharpness): the N-function *is* an abs network on [-3/2, inf) and on
(-inf, 3/2], so the domain condition of Theorem 1 (a < -3/2 and b > 3/2) is tight."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from cpwl import Affine, Network, strategies
from cpwl import activations as act
from proofs.harness import Checker, Result
from proofs.invariants import window_test

STATEMENT = (
    "With weights of norm 1 and abs activations: n(x) = ||x + 1/2| - 1| - 1/2 on [-3/2, inf) and "
    "n(x) = -||x - 1/2| - 1| + 1/2 on (-inf, 3/2]. So n restricted to [a, b] is computed by an "
    "abs network iff a >= -3/2 or b <= 3/2."
)

#: ``||x + 1/2| - 1| - 1/2``: equals n on ``[-3/2, inf)``.
LEFT = Network([Affine([[1]], ["1/2"]), act.abs_(), Affine([[1]], [-1]), act.abs_(), Affine([[1]], ["-1/2"])])
#: ``-||x - 1/2| - 1| + 1/2``: equals n on ``(-inf, 3/2]``.
RIGHT = Network([Affine([[1]], ["-1/2"]), act.abs_(), Affine([[1]], [-1]), act.abs_(), Affine([[-1]], ["1/2"])])

_HALF3 = Fraction(3, 2)


def check(c: Checker) -> None:
    n = act.n_function()
    c.holds("LEFT = n on [-3/2, inf)", LEFT.to_cpwl(domain=(-_HALF3, None)) == n.restrict(-_HALF3, None))
    c.holds("RIGHT = n on (-inf, 3/2]", RIGHT.to_cpwl(domain=(None, _HALF3)) == n.restrict(None, _HALF3))
    c.holds("both are exact contractions", all(ch.ok for net in (LEFT, RIGHT) for ch in net.layer_norm_report()))
    c.holds("LEFT differs from n left of -3/2", LEFT.to_cpwl(domain=(-2, 2)) != n.restrict(-2, 2))
    ends = strategies.rationals(Fraction(-1, 2), 6, max_denominator=8)
    both_turns = ("a window holding both turning points (past 1/2)", lambda x: abs(x) > Fraction(1, 2), 0.3)
    c.for_all(
        "n passes the window test on [-3/2, b]", ends, lambda b: window_test(n.restrict(-_HALF3, b)), reached=both_turns
    )
    c.for_all(
        "n passes the window test on [a, 3/2]",
        ends.map(lambda x: -x),
        lambda a: window_test(n.restrict(a, _HALF3)),
        reached=both_turns,
    )
    beyond = st.one_of(
        strategies.rationals(Fraction(1, 64), 4, max_denominator=64),
        st.integers(10, 60).map(lambda k: Fraction(1, 2**k)),
    )
    c.for_all(
        "n fails the window test on [-3/2 - e, 3/2 + e']",
        st.tuples(beyond, beyond),
        lambda e: not window_test(n.restrict(-_HALF3 - e[0], _HALF3 + e[1])),
        reached=("a margin e below 1/1024 (next to the sharp boundary)", lambda e: min(e) < Fraction(1, 1024), 0.3),
    )
    left_ends = strategies.rationals(-3, 0, max_denominator=64)
    c.falsifiable(
        "LEFT stops being n once its domain starts left of -3/2",
        left_ends,
        lambda a: LEFT.to_cpwl(domain=(a, 2)) == n.restrict(a, 2),
    )


RESULT = Result("abs_sharpness", "corollary", "3.7", STATEMENT, check)
