"""Exact activations: the identities of docs/theory.md §2.2 and the layer forms."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cpwl
from cpwl import CPWL, maximum, minimum, strategies
from cpwl import activations as act

theta = strategies.rationals(-3, 3, max_denominator=16)
ys = strategies.rationals(-6, 6, max_denominator=64)


def _clip(y, lo, hi):
    return min(max(y, lo), hi)


def _relu(y):
    return max(y, 0)


@given(theta, theta, st.lists(ys, min_size=1, max_size=6))
def test_n_activation_closed_forms(a, b, points):
    t1, t2 = sorted((a, b))
    n = act.n_activation(a, b)
    assert n == act.n_activation(b, a)  # theta is sorted
    for y in points + [t1, t2]:
        piecewise = y - 2 * t1 if y < t1 else (-y if y < t2 else y - 2 * t2)
        assert n(y) == piecewise
        assert n(y) == y - 2 * _clip(y, t1, t2)
        assert n(y) == y - 2 * t1 - 2 * _relu(y - t1) + 2 * _relu(y - t2)
        if y >= t1:
            assert n(y) == abs(y - t2) - t2
        assert -2 * t2 <= n(y) - y <= -2 * t1
    assert n.slopes == ((1, -1, 1) if t1 < t2 else (1,))


def test_n_activation_as_cpwl_identities():
    t1, t2 = Fraction(-1, 3), Fraction(5, 4)
    y = CPWL.identity()
    clip = minimum(maximum(y, CPWL.constant(t1)), CPWL.constant(t2))
    assert act.n_activation(t1, t2) == y - 2 * clip
    assert act.n_activation(0, 0) == y
    assert act.n_activation(2, 2) == y - 4


def test_n_function_is_the_n_activation_at_plus_minus_half():
    assert act.n_function() == act.n_activation("-1/2", "1/2")
    n = act.n_function()
    assert [n(x) for x in (-1, Fraction(-1, 2), 0, Fraction(1, 2), 1)] == [0, Fraction(1, 2), 0, Fraction(-1, 2), 0]
    assert n.is_lipschitz(1) and not n.is_monotone()


def test_two_piece_family():
    assert act.relu() == maximum(CPWL.identity(), CPWL.constant(0))
    assert act.abs_() == abs(CPWL.identity())
    assert act.leaky_relu("1/10")(-10) == -1
    s = act.two_piece(1, Fraction(-1, 2), 1, value=3)
    assert s(1) == 3 and s(3) == 5 and s(-1) == 4
    with pytest.raises(cpwl.BreakpointError):
        act.two_piece(0, 1, 1)


@given(st.lists(st.tuples(theta, theta), min_size=1, max_size=4).map(lambda ps: sorted({p[0] for p in ps})))
def test_linear_spline_interpolates(knots):
    values = [k * k for k in knots]
    s = act.linear_spline(knots, values, -1, 1)
    assert all(s(k) == v for k, v in zip(knots, values))
    assert s(knots[0] - 1) == values[0] + 1 and s(knots[-1] + 2) == values[-1] + 2
    with pytest.raises(cpwl.BreakpointError):
        act.linear_spline(knots, values[:-1], 0, 0)


def test_maxmin_is_rotated_abs_identity():
    # docs/theory.md §2.3: max(a,b) = (a+b)/2 + |a-b|/2, min(a,b) = (a+b)/2 - |a-b|/2
    for a, b in [(Fraction(3), Fraction(-1, 2)), (Fraction(0), Fraction(2, 7)), (Fraction(1), Fraction(1))]:
        mx, mn = act.MaxMin()([a, b])
        assert (mx, mn) == ((a + b) / 2 + abs(a - b) / 2, (a + b) / 2 - abs(a - b) / 2)


@given(st.lists(ys, min_size=6, max_size=6))
def test_vector_layers_forward(v):
    assert act.GroupSort(3)(v) == tuple(sorted(v[:3]) + sorted(v[3:]))
    assert act.GroupSort(6, descending=True)(v) == tuple(sorted(v, reverse=True))
    mm = act.MaxMin()(v)
    assert all(
        mm[2 * j] == max(v[2 * j], v[2 * j + 1]) and mm[2 * j + 1] == min(v[2 * j], v[2 * j + 1]) for j in range(3)
    )
    assert act.Householder([1, -1])(v) == mm
    assert act.Householder([2, -2])(v) == mm  # the reflection does not depend on the scale of v
    h = act.Householder([1, 2, 2])(v)
    for g in (0, 3):
        assert sum(x * x for x in h[g : g + 3]) == sum(x * x for x in v[g : g + 3])


def test_layer_errors():
    with pytest.raises(cpwl.ShapeError):
        act.MaxMin()([1, 2, 3])
    with pytest.raises(ValueError):
        act.MaxMin(pairing="pairs")
    with pytest.raises(ValueError):
        act.GroupSort(0)
    with pytest.raises(ValueError):
        act.Householder([0, 0])
    with pytest.raises(cpwl.DomainError):
        act.Elementwise(CPWL.identity(domain=(0, 1)))
    with pytest.raises(cpwl.ShapeError):
        act.NLayer([(1, 2, 3)])
    with pytest.raises(cpwl.ShapeError):
        act.Elementwise([act.relu(), act.relu()])([1, 2, 3])
    assert act.NLayer([(1, 0), (2, 2)]).thetas == ((0, 1), (2, 2))
