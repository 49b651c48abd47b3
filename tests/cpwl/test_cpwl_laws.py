"""Algebraic laws of the exact CPWL algebra, checked over generated functions.

Every law is also checked pointwise at rational points, so an implementation that returned
a constant function (or ``self``) would fail."""

from fractions import Fraction

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

import cpwl
from cpwl import CPWL, l2_distance_squared, maximum, minimum, strategies, sup_distance

fns = strategies.cpwl_functions()
compact = strategies.cpwl_functions(domain=(-3, 2))
scalars = strategies.rationals(-3, 3)
points = strategies.rationals(-6, 6, max_denominator=32)


def _probe(f, g, xs):
    return all(f(x) == g(x) for x in xs if f.domain.contains(x))


@given(fns, fns, fns)
def test_addition_is_a_commutative_group(f, g, h):
    zero = CPWL.constant(0)
    assert f + g == g + f
    assert (f + g) + h == f + (g + h)
    assert f + zero == f
    assert f - f == zero
    assert -(-f) == f  # noqa: B002 (negation twice, on purpose)


@given(fns, fns, st.lists(points, min_size=1, max_size=5))
def test_sum_is_pointwise(f, g, xs):
    s, d = f + g, f - g
    for x in xs:
        assert s(x) == f(x) + g(x)
        assert d(x) == f(x) - g(x)


@given(fns, fns, scalars, scalars, st.lists(points, min_size=1, max_size=4))
def test_scalar_multiplication_distributes(f, g, a, b, xs):
    assert a * (f + g) == a * f + a * g
    assert (a + b) * f == a * f + b * f
    assert (a * b) * f == a * (b * f)
    for x in xs:
        assert (a * f)(x) == a * f(x)
        if a != 0:
            assert (f / a)(x) == f(x) / a


@given(fns, fns, fns, st.lists(points, min_size=1, max_size=4))
def test_composition_is_associative_and_pointwise(f, g, h, xs):
    assert f(g(h)) == f(g)(h)
    for x in xs:
        assert f(g)(x) == f(g(x))
        assert f.compose(g)(x) == f(g(x))


@given(fns, fns)
def test_lipschitz_constant_of_compositions_and_sums(f, g):
    assert f(g).lipschitz_constant() <= f.lipschitz_constant() * g.lipschitz_constant()
    assert (f + g).lipschitz_constant() <= f.lipschitz_constant() + g.lipschitz_constant()


@given(fns)
def test_lipschitz_constant_is_attained_by_a_slope(f):
    L = f.lipschitz_constant()
    assert L in {abs(s) for s in f.slopes}
    assert f.is_lipschitz(L) and (L == 0 or not f.is_lipschitz(L - Fraction(1, 10**6)))


@given(fns, fns, fns, st.lists(points, min_size=1, max_size=4))
def test_lattice_laws(f, g, h, xs):
    assert maximum(f, g) == maximum(g, f)
    assert maximum(f, maximum(g, h)) == maximum(maximum(f, g), h)
    assert minimum(f, maximum(f, g)) == f
    assert maximum(f, minimum(f, g)) == f
    assert maximum(f, g) + minimum(f, g) == f + g
    for x in xs:
        assert maximum(f, g)(x) == max(f(x), g(x))
        assert minimum(f, g)(x) == min(f(x), g(x))


@given(fns, st.lists(points, min_size=1, max_size=4))
def test_abs_is_max_of_f_and_minus_f(f, xs):
    assert abs(f) == maximum(f, -f)
    for x in xs:
        assert abs(f)(x) == abs(f(x))


@given(fns)
def test_canonical_is_idempotent_and_preserves_equality(f):
    c = f.canonical()
    assert c.canonical() == c
    assert c == f and hash(c) == hash(f)
    assert all(a != b for a, b in zip(c.slopes, c.slopes[1:]))
    assert _probe(c, f, list(f.breakpoints) + [Fraction(0)])


@given(fns, fns)
def test_equality_is_functional(f, g):
    xs = sorted(set(f.breakpoints) | set(g.breakpoints) | {Fraction(0)})
    xs = xs + [xs[0] - 1, xs[-1] + 1]
    same_everywhere = all(f(x) == g(x) for x in xs)
    assert (f == g) == same_everywhere


def test_equality_needs_the_same_domain_and_agrees_with_uses_the_common_one():
    relu = cpwl.activations.relu()
    ident = CPWL.identity(domain=(0, 5))
    assert relu != ident
    assert relu.agrees_with(ident)
    assert not relu.agrees_with(CPWL.identity(domain=(-1, 5)))


@given(fns, strategies.rationals(-3, 0), strategies.rationals(Fraction(1, 8), 3), st.lists(points, max_size=4))
def test_restrict_keeps_values(f, a, width, xs):
    g = f.restrict(a, a + width)
    assert g.domain == cpwl.Interval(a, a + width)
    for x in [a, a + width, *xs]:
        if g.domain.contains(x):
            assert g(x) == f(x)
    with pytest.raises(cpwl.DomainError):
        g.restrict(a - 1, a + width)


@given(compact)
def test_monotone_and_convex_match_their_definitions(f):
    xs = sorted({Fraction(-3), Fraction(2), *f.breakpoints, Fraction(-1, 3), Fraction(1, 2)})
    ys = [f(x) for x in xs]
    increasing = all(a <= b for a, b in zip(ys, ys[1:]))
    decreasing = all(a >= b for a, b in zip(ys, ys[1:]))
    assert f.is_monotone() == (increasing or decreasing)
    pts = [f.domain.lo, *f.breakpoints, f.domain.hi]
    convex = all(
        f(pts[i]) * (pts[i + 1] - pts[i - 1])
        <= f(pts[i - 1]) * (pts[i + 1] - pts[i]) + f(pts[i + 1]) * (pts[i] - pts[i - 1])
        for i in range(1, len(pts) - 1)
    )
    assert f.is_convex() == convex
    assert f.is_concave() == (-f).is_convex()


@given(compact, compact)
def test_sup_distance_is_the_largest_gap_at_the_kinks(f, g):
    xs = {Fraction(-3), Fraction(2), *f.breakpoints, *g.breakpoints}
    gaps = [abs(f(x) - g(x)) for x in xs]
    assert sup_distance(f, g) == max(gaps)
    assert sup_distance(f, g) == sup_distance(g, f)
    assert (sup_distance(f, g) == 0) == (f == g)


@given(compact, compact)
def test_l2_distance_matches_simpson_rule(f, g):
    xs = sorted({Fraction(-3), Fraction(2), *f.breakpoints, *g.breakpoints})
    d = lambda x: f(x) - g(x)  # noqa: E731
    simpson = sum((v - u) / 6 * (d(u) ** 2 + 4 * d((u + v) / 2) ** 2 + d(v) ** 2) for u, v in zip(xs, xs[1:]))
    assert l2_distance_squared(f, g) == simpson


def test_distances_on_unbounded_domains():
    relu = cpwl.activations.relu()
    assert sup_distance(relu, relu + 1) == 1
    with pytest.raises(cpwl.DomainError):
        sup_distance(relu, CPWL.constant(0))
    with pytest.raises(cpwl.DomainError):
        l2_distance_squared(relu, relu + 1)
    assert l2_distance_squared(relu, relu) == 0


def test_composition_domain_errors():
    inner = CPWL.identity(domain=(0, 3))
    outer = CPWL.identity(domain=(0, 2))
    with pytest.raises(cpwl.DomainError):
        outer(inner)
    assert outer(inner.restrict(0, 2)) == CPWL.identity(domain=(0, 2))
    with pytest.raises(cpwl.DomainError):
        CPWL.identity(domain=(0, 1)) + CPWL.identity(domain=(2, 3))


@given(fns | compact)
def test_json_round_trip(f):
    assert CPWL.from_json(f.to_json()) == f
    assert CPWL.from_json(f.to_json()).breakpoints == f.breakpoints


@given(fns | compact | strategies.cpwl_functions(domain=(0, None)))
def test_sympy_round_trip(f):
    x = sympy.Symbol("x")
    expr = f.to_sympy(x)
    assert CPWL.from_sympy(expr, x, f.domain) == f.canonical()
    probe = f.domain.lo if f.domain.lo is not None else Fraction(1, 3)
    assert expr.subs(x, sympy.Rational(probe.numerator, probe.denominator)) == sympy.Rational(
        f(probe).numerator, f(probe).denominator
    )


def test_from_sympy_reads_lattice_expressions_and_rejects_the_rest():
    x = sympy.Symbol("x")
    f = CPWL.from_sympy(sympy.Max(x, 0) - sympy.Min(x, 1) + sympy.Abs(2 * x - 1) / 3, x)
    for v in (Fraction(-2), Fraction(0), Fraction(1, 3), Fraction(5)):
        assert f(v) == max(v, 0) - min(v, 1) + abs(2 * v - 1) / 3
    assert CPWL.from_sympy(sympy.Float(0.5) * x, x)(2) == 1
    for bad in (x**2, sympy.sin(x), sympy.Piecewise((x, x < 0), (x + 1, True)), sympy.Piecewise((x, x < 0))):
        with pytest.raises(cpwl.SerializationError):
            CPWL.from_sympy(bad, x)
