"""CPWLMap: components, affine maps, activations applied to maps, canonical form."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cpwl
from cpwl import CPWL, CPWLMap, activations, maximum, minimum, strategies

fns = strategies.cpwl_functions(domain=(-2, 3))
xs = st.lists(strategies.rationals(-2, 3, max_denominator=32), min_size=1, max_size=4)


@given(st.lists(fns, min_size=1, max_size=3), xs)
def test_components_round_trip(fs, points):
    F = CPWLMap.from_components(fs)
    assert F.dim == len(fs)
    assert set(F.breakpoints) == set().union(*(f.breakpoints for f in fs))
    for f, g in zip(fs, F.components):
        assert g.canonical() == f.canonical()
    for x in points:
        assert F(x) == tuple(f(x) for f in fs)


@given(
    st.lists(fns, min_size=2, max_size=2),
    strategies.matrices(3, 2),
    st.lists(strategies.rationals(-2, 2), min_size=3, max_size=3),
    xs,
)
def test_affine_matches_pointwise_linear_algebra(fs, W, b, points):
    G = CPWLMap.from_components(fs).affine(W, b)
    for x in points:
        v = [f(x) for f in fs]
        assert G(x) == tuple(sum(w * vi for w, vi in zip(row, v)) + bi for row, bi in zip(W, b))


@given(st.lists(fns, min_size=2, max_size=2))
def test_maxmin_on_a_map_is_max_and_min_of_components(fs):
    f, g = fs
    F = CPWLMap.from_components([f, g])
    H = F.apply(activations.MaxMin())
    assert H[0].canonical() == maximum(f, g) and H[1].canonical() == minimum(f, g)
    H = F.apply(activations.MaxMin(order="min_first"))
    assert H[0].canonical() == minimum(f, g)
    assert F.apply(activations.Householder([1, -1])) == F.apply(activations.MaxMin())
    assert F.apply(activations.GroupSort(2, descending=True)) == F.apply(activations.MaxMin())


@given(st.lists(fns, min_size=1, max_size=3), fns)
def test_elementwise_activation_is_composition(fs, sigma_on_interval):
    sigma = CPWL.from_pieces(sigma_on_interval.breakpoints, sigma_on_interval.slopes, sigma_on_interval.intercepts)
    F = CPWLMap.from_components(fs).apply(sigma)
    for f, g in zip(fs, F.components):
        assert g.canonical() == sigma(f)


def test_maxmin_halves_and_householder_general_vector():
    F = CPWLMap.line([1, 5, 4, 2], [-1, 0, 0, 3])
    H = F.apply(activations.MaxMin(pairing="halves"))
    for t in (Fraction(0), Fraction(1, 3), Fraction(1)):
        a = F(t)
        assert H(t) == (max(a[0], a[2]), max(a[1], a[3]), min(a[0], a[2]), min(a[1], a[3]))
    v = [Fraction(1, 2), 3]
    R = CPWLMap.line([2, -1], [-1, 1]).apply(activations.Householder(v))
    for t in (Fraction(0), Fraction(1, 7), Fraction(1)):
        assert R(t) == activations.Householder(v)(CPWLMap.line([2, -1], [-1, 1])(t))
    F = CPWLMap.line([2, -1], [-1, 1])
    ends = [Fraction(0), *R.breakpoints, Fraction(1)]
    for u, w in zip(ends, ends[1:]):
        m = (u + w) / 2
        slope_R = [c.slopes[sum(1 for t in c.breakpoints if t < m)] for c in R.components]
        slope_F = [c.slopes[0] for c in F.components]
        assert sum(s * s for s in slope_R) == sum(s * s for s in slope_F)  # reflections are isometries


def test_householder_with_one_normal_per_group():
    from oracle import walk

    layer = activations.Householder([[1, -1], [Fraction(1, 3), 2]])
    net = cpwl.Network(
        [cpwl.Affine([[1], [-2], [Fraction(1, 2)], [-1]], [0, 1, -1, 2]), layer, cpwl.Affine([[1, 2, -1, 1]])]
    )
    (expected,) = walk(net, -4, 4)
    assert net.to_cpwl(domain=(-4, 4)) == expected.canonical()
    with pytest.raises(cpwl.ShapeError):
        layer([1, 2])


def test_canonical_drops_only_breakpoints_without_a_bend():
    F = CPWLMap.from_components(
        [CPWL.from_points([(0, 0), (1, 1), (2, 2)]), CPWL.from_points([(0, 0), (1, 0), (2, 1)])]
    )
    assert F.breakpoints == (1,)
    assert F.canonical().breakpoints == (1,)
    G = CPWLMap.from_components([CPWL.from_points([(0, 0), (1, 1), (2, 2)])])
    assert G.canonical().breakpoints == ()
    assert G.canonical() == G


def test_map_errors():
    F = CPWLMap.line([0, 1], [1, 1])
    with pytest.raises(cpwl.ShapeError):
        F.affine([[1, 2, 3]])
    with pytest.raises(cpwl.ShapeError):
        F.affine([[1, 2], [3]])
    with pytest.raises(cpwl.ShapeError):
        F.affine([[1, 2]], [1, 2])
    with pytest.raises(cpwl.ShapeError):
        CPWLMap.line([0, 1, 2], [1, 1, 1]).apply(activations.MaxMin())
    with pytest.raises(cpwl.ShapeError):
        F.apply(activations.GroupSort(3))
    with pytest.raises(cpwl.NumberError):
        F.affine([[float("nan"), 1]])
    with pytest.raises(cpwl.DomainError):
        F(2)
    with pytest.raises(TypeError):
        F.apply("relu")


def test_gather_errors():
    F = CPWLMap.line([0, 1], [1, 1])
    with pytest.raises(cpwl.ShapeError):
        F.gather([2])
