"""Exact norm verdicts: the PSD test against an independent elimination oracle, and
layer_norm_report on matrices just above and just below norm 1."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import psd_by_elimination

import cpwl
from cpwl import Affine, Network, is_psd, operator_norm_at_most, spectral_norm_enclosure, strategies

TINY = Fraction(1, 2**60)


@st.composite
def symmetric(draw, n=st.integers(1, 4)):
    k = draw(n)
    B = draw(strategies.matrices(k, draw(st.integers(1, 4))))
    gram = [[sum(a * b for a, b in zip(r, s)) for s in B] for r in B]
    shift = draw(strategies.rationals(-2, 2))
    return [[gram[i][j] - (shift if i == j else 0) for j in range(k)] for i in range(k)]


@given(symmetric())
def test_psd_test_agrees_with_elimination(M):
    assert is_psd(M) == psd_by_elimination(M)


@given(strategies.contractions(3, 2))
def test_contractions_pass_and_scaled_up_copies_fail(W):
    assert operator_norm_at_most(W)
    norm = spectral_norm_enclosure(W)
    assert norm.hi <= 1 + Fraction(1, 2**20)
    if norm.lo > 0:
        bigger = [[v * (1 / norm.lo) * (1 + TINY) for v in row] for row in W]
        assert not operator_norm_at_most(bigger)


@pytest.mark.parametrize("delta", [TINY, -TINY, Fraction(1, 2**20), -Fraction(1, 2**20)])
def test_layer_norm_report_just_above_and_below_one(delta):
    c, s = Fraction(3, 5), Fraction(4, 5)  # an exact rotation
    rot = [[c, -s], [s, c]]
    W = [[v * (1 + delta) for v in row] for row in rot]
    (check,) = Network([Affine(W)]).layer_norm_report(norm=2)
    assert check.ok == (delta < 0)
    assert check.value.contains(1 + delta)
    if delta > 0:
        assert check.excess.contains(delta) and check.excess.lo >= 0
        assert (check.excess.lo > 0) == (delta > Fraction(1, 2**25))  # resolved when above the width
    else:
        assert check.excess == 0


@given(strategies.matrices(3, 3))
def test_enclosure_contains_the_float_norm(W):
    e = spectral_norm_enclosure(W)
    approx = np.linalg.norm(np.array(W, dtype=float), 2)
    assert float(e.lo) <= approx * (1 + 1e-9) + 1e-300 and approx <= float(e.hi) * (1 + 1e-9) + 1e-300
    assert operator_norm_at_most(W, e.hi) and (e.lo == 0 or not operator_norm_at_most(W, e.lo))


def test_one_and_inf_norms_are_exact():
    W = [[Fraction(1, 2), Fraction(-1, 2)], [Fraction(1, 3), Fraction(1, 3)]]
    one, inf = Network([Affine(W)]).layer_norm_report(norm=1)[0], Network([Affine(W)]).layer_norm_report(norm="inf")[0]
    assert (one.value, one.ok, one.excess) == (Fraction(5, 6), True, 0)
    assert (inf.value, inf.ok, inf.excess) == (Fraction(1), True, 0)
    (bad,) = Network([Affine([[1, TINY]])]).layer_norm_report(norm="inf")
    assert not bad.ok and bad.excess == TINY
    with pytest.raises(ValueError, match="norm must be 2, 1 or 'inf'"):
        operator_norm_at_most(W, norm=3)
    with pytest.raises(cpwl.InvalidArgument, match="not a sum norm"):
        cpwl.linalg._sum_norm(W, 2)


def test_is_psd_rejects_non_symmetric():
    with pytest.raises(ValueError, match="^is_psd needs a symmetric square matrix$"):
        is_psd([[1, 2], [0, 1]])
    with pytest.raises(cpwl.ShapeError, match="^M"):
        is_psd([[1, 2], [3]])


@given(
    strategies.matrices(3, 2),
    st.sampled_from([1, Fraction(1, 4), 64]),
    st.one_of(
        strategies.rationals(Fraction(1, 2**40), Fraction(1, 8), max_denominator=2**40),
        st.integers(55, 90).map(lambda k: Fraction(1, 2**k)),
    ),
)
def test_enclosure_is_as_narrow_as_asked(W, factor, width):
    """Both ends proven, and the bracket no wider than a few times the requested relative
    width or the float guess's accuracy, whichever is larger (the search doubles its step).
    Widths below float64 precision make the search move both ends; norms below and above 1."""
    W = [[v * factor for v in row] for row in W]
    e = spectral_norm_enclosure(W, rel_width=width)
    assert operator_norm_at_most(W, e.hi)
    if e.lo > 0:
        assert not operator_norm_at_most(W, e.lo)
    assert e.hi - e.lo <= 4 * max(width, Fraction(1, 2**48)) * e.hi


def test_negative_bounds_are_never_met():
    for norm in (2, 1, "inf"):
        assert not operator_norm_at_most([[0, 0]], -TINY, norm=norm)
        assert operator_norm_at_most([[0, 0]], 0, norm=norm)


def test_norm_checks_carry_their_index_and_norm():
    net = Network([Affine([[2]]), Affine([["1/2"]])])
    for norm in (2, 1, "inf"):
        checks = net.layer_norm_report(norm=norm)
        assert [(c.index, c.norm, c.ok) for c in checks] == [(0, norm, False), (1, norm, True)]
    (two, half) = net.layer_norm_report(norm=2)
    assert two.value.contains(2) and half.value.contains(Fraction(1, 2)) and half.excess == 0


@pytest.mark.parametrize("exponent", [-400, -30, 30, 400])
def test_enclosure_of_entries_beyond_float_range(exponent):
    """Entries of 10**exponent (no float64 holds 10**400): the enclosure scales with them."""
    big = Fraction(10) ** exponent
    e = spectral_norm_enclosure([[3 * big, 0], [0, 4 * big]])
    assert e.lo <= 4 * big <= e.hi and e.hi - e.lo <= 4 * big / 2**28


def test_check_norm_defaults_to_the_spectral_norm_of_layer_zero():
    check = cpwl.linalg.check_norm([[2]])
    assert (check.index, check.norm, check.ok) == (0, 2, False) and check.value.contains(2)
