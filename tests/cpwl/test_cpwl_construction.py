"""Constructors, reading back, evaluation and bad input of CPWL."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given

import cpwl
from cpwl import CPWL, Interval, strategies


def test_design_example():
    f = CPWL.from_points([(-1, 0), (0, 1), (1, 0)], left_slope=1, right_slope=-1)
    assert f(Fraction(1, 3)) == Fraction(2, 3)
    assert f.breakpoints == (-1, 0, 1)
    assert f.values == (0, 1, 0)
    assert f.slopes == (1, 1, -1, -1)
    assert len(f.slopes) == len(f.breakpoints) + 1
    assert f.domain == Interval.real_line()
    assert f(-10) == -9 and f(10) == -9
    assert f.canonical().breakpoints == (0,)


def test_from_points_compact_domain_and_values():
    f = CPWL.from_points([(0, 0), (1, 2), (3, -1)])
    assert f.domain == Interval(0, 3)
    assert f.breakpoints == (1,)
    assert f(0) == 0 and f(3) == -1 and f(2) == Fraction(1, 2)
    with pytest.raises(cpwl.DomainError):
        f(4)


def test_half_line_domain():
    f = CPWL.from_points([(0, 1), (1, 0)], right_slope=0)
    assert f.domain == Interval(0, None)
    assert f(100) == 0
    with pytest.raises(cpwl.DomainError):
        f(-1)


def test_linear_identity_constant():
    assert CPWL.linear("1/2", 1)(4) == 3
    assert CPWL.identity()(Fraction(-7, 3)) == Fraction(-7, 3)
    assert CPWL.constant(5)(10**30) == 5
    assert CPWL.identity(domain=(0, 1)).domain == Interval(0, 1)


@given(strategies.cpwl_functions())
def test_from_slopes_and_from_pieces_rebuild_the_function(f):
    x0 = f.domain.lo if f.domain.lo is not None else Fraction(0)
    again = CPWL.from_slopes(f.breakpoints, f.slopes, anchor=(x0, f(x0)), domain=f.domain)
    assert again == f
    assert CPWL.from_pieces(f.breakpoints, f.slopes, f.intercepts, f.domain) == f


@given(strategies.cpwl_functions())
def test_values_are_consistent_with_pieces(f):
    for t, v, (_lo, hi, s, c) in zip(f.breakpoints, f.values, f.pieces()):
        assert hi == t and s * t + c == v == f(t)


@given(strategies.cpwl_functions(domain=(-2, 3)))
def test_float_evaluate_tracks_exact_values(f):
    xs = [Fraction(-2), Fraction(-1, 3), Fraction(0), Fraction(5, 2), Fraction(3)] + list(f.breakpoints)
    got = f.evaluate(np.array([float(x) for x in xs]))
    for x, y in zip(xs, got):
        assert abs(Fraction(float(y)) - f(Fraction(float(x)))) <= Fraction(1, 10**9) * (1 + abs(f(Fraction(float(x)))))


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: CPWL.from_points([]), cpwl.BreakpointError),
        (lambda: CPWL.from_points([(1, 0), (0, 1)]), cpwl.BreakpointError),
        (lambda: CPWL.from_points([(0, 0), (0, 1)]), cpwl.BreakpointError),
        (lambda: CPWL.from_points([(0, 0)]), cpwl.DomainError),
        (lambda: CPWL.from_points([(0, float("nan")), (1, 0)]), cpwl.NumberError),
        (lambda: CPWL.from_points([(0, 0), (float("inf"), 0)]), cpwl.NumberError),
        (lambda: CPWL.from_points([(0, 0, 1)]), cpwl.BreakpointError),
        (lambda: CPWL.from_pieces([0], [1], [0]), cpwl.BreakpointError),
        (lambda: CPWL.from_pieces([0], [1, 2], [0, 1]), cpwl.BreakpointError),
        (lambda: CPWL.from_pieces([1, 0], [1, 1, 1], [0, 0, 0]), cpwl.BreakpointError),
        (lambda: CPWL.from_pieces([5], [1, 1], [0, 0], domain=(0, 1)), cpwl.BreakpointError),
        (lambda: CPWL.from_slopes([0], [1, 1, 1], anchor=(0, 0)), cpwl.BreakpointError),
        (lambda: CPWL.from_slopes([], [1], anchor=(5, 0), domain=(0, 1)), cpwl.DomainError),
        (lambda: CPWL.identity(domain=(1, 0)), cpwl.DomainError),
        (lambda: CPWL.identity(domain=(1, 1)), cpwl.DomainError),
        (lambda: CPWL.identity(domain=5), cpwl.DomainError),
        (lambda: CPWL.identity().evaluate([float("nan")]), cpwl.NumberError),
        (lambda: CPWL.identity(domain=(0, 1)).evaluate([2.0]), cpwl.DomainError),
    ],
)
def test_bad_input_raises_typed_errors(call, error):
    with pytest.raises(error) as info:
        call()
    assert str(info.value)


def test_direct_construction_points_to_the_constructors():
    with pytest.raises(TypeError, match="from_points"):
        CPWL()
    with pytest.raises(TypeError, match="from_components"):
        cpwl.CPWLMap()
    with pytest.raises(ValueError):
        strategies.rationals(2, 1)


def test_inputs_are_not_mutated():
    points = [[0, 0], [1, 1], [2, 0]]
    snapshot = [list(p) for p in points]
    CPWL.from_points(points)
    assert points == snapshot
    bps = [Fraction(0)]
    CPWL.from_pieces(bps, [0, 1], [0, 0])
    assert bps == [Fraction(0)]


def test_public_numbers_are_fractions():
    f = CPWL.from_points([(0, "1/3"), (1, 0.5)])
    for value in (*f.slopes, *f.intercepts, f(Fraction(1, 2)), f.lipschitz_constant()):
        assert type(value) is Fraction
