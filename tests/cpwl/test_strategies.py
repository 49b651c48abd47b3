"""The public hypothesis strategies produce what they promise, and shrink to small examples."""

from fractions import Fraction

from hypothesis import find, given
from hypothesis import strategies as st
from oracle import psd_by_elimination

import cpwl
from cpwl import strategies


@given(strategies.rationals(-1, 2, dyadic=True))
def test_dyadic_rationals(q):
    assert -1 <= q <= 2 and q.denominator & (q.denominator - 1) == 0


@given(strategies.cpwl_functions(lipschitz="1/2", domain=(1, 4)))
def test_cpwl_functions_respect_bounds(f):
    assert f.domain == cpwl.Interval(1, 4) and f.is_lipschitz(Fraction(1, 2))


@given(st.integers(1, 4).flatmap(strategies.orthogonal_matrices))
def test_orthogonal_matrices_are_exactly_orthogonal(Q):
    n = len(Q)
    assert all(sum(Q[k][i] * Q[k][j] for k in range(n)) == (i == j) for i in range(n) for j in range(n))


@given(st.tuples(st.integers(1, 3), st.integers(1, 3)).flatmap(lambda mn: strategies.contractions(*mn)))
def test_contractions_have_norm_at_most_one(W):
    n = len(W[0])
    gram = [[(i == j) - sum(W[k][i] * W[k][j] for k in range(len(W))) for j in range(n)] for i in range(n)]
    assert psd_by_elimination(gram)


def test_failing_examples_shrink_small():
    f = find(strategies.cpwl_functions(), lambda f: len(f.breakpoints) >= 2)
    assert len(f.breakpoints) == 2
    net = find(
        strategies.networks("relu", width=st.integers(1, 3), depth=st.integers(1, 3)), lambda n: len(n.layers) >= 5
    )
    assert len(net.layers) == 5 and net.layers[0].out_features == 1
    assert net.layers[0].weight == ((1,),) and net.layers[0].bias == (0,)
    Q = find(strategies.orthogonal_matrices(3), lambda Q: True)
    assert Q == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


@given(strategies.networks("maxmin", width=3))
def test_pairing_networks_get_even_widths(net):
    assert net.layers[0].out_features % 2 == 0


def test_arguments_are_checked_and_keyword_only_past_the_first():
    import pytest

    bad = [
        lambda: strategies.rationals(0, 1, max_denominator=0),
        lambda: strategies.rationals(2, 1),
        lambda: strategies.rationals(0, 1, dyadic="yes"),
        lambda: strategies.cpwl_functions(lipschitz=-1),
        lambda: strategies.cpwl_functions(max_breakpoints=-1),
        lambda: strategies.orthogonal_matrices(0),
        lambda: strategies.contractions(2, 2.5),
        lambda: strategies.matrices(2, 2, max_value=-1),
        lambda: strategies.networks("sigmoid"),
        lambda: strategies.networks("relu", width=0),
        lambda: strategies.networks("relu", input_dim=True),
        lambda: strategies.near_degenerate_networks(depth=-1),
    ]
    for make in bad:
        with pytest.raises(cpwl.InvalidArgument):
            make()
    for positional in (
        lambda: strategies.rationals(0, 1, 8),
        lambda: strategies.contractions(2, 2, 8),
        lambda: strategies.networks("relu", 2),
        lambda: strategies.cpwl_functions(1, (0, 1)),
    ):
        with pytest.raises(TypeError, match="positional"):
            positional()
