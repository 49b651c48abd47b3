"""Exact norm verdicts: the PSD test against an independent elimination oracle, and
layer_norm_report on matrices just above and just below norm 1."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cpwl
from cpwl import Affine, Network, is_psd, operator_norm_at_most, spectral_norm_enclosure, strategies
from oracle import psd_by_elimination

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
    assert (one.value, one.ok) == (Fraction(5, 6), True)
    assert (inf.value, inf.ok) == (Fraction(1), True)
    (bad,) = Network([Affine([[1, TINY]])]).layer_norm_report(norm="inf")
    assert not bad.ok and bad.excess == TINY
    with pytest.raises(ValueError):
        operator_norm_at_most(W, norm=3)


def test_is_psd_rejects_non_symmetric():
    with pytest.raises(ValueError):
        is_psd([[1, 2], [0, 1]])
    with pytest.raises(cpwl.ShapeError):
        is_psd([[1, 2], [3]])
