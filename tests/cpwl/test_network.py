"""Exact networks: to_cpwl agrees with the exact forward pass at random rationals and at every
breakpoint, and with the independent Fraction oracle (tests/oracle.py) on small networks."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import walk

import cpwl
from cpwl import CPWL, Affine, CPWLMap, Network, strategies
from cpwl import activations as act

FAMILIES = strategies.FAMILIES
xs = st.lists(strategies.rationals(-5, 5, max_denominator=64), min_size=1, max_size=5)
_EXAMPLES = max(20, settings.default.max_examples // 3)  # a third of the profile's: deep deepens these too


@pytest.mark.parametrize("family", FAMILIES)
@settings(max_examples=_EXAMPLES)
@given(data=st.data())
def test_to_cpwl_matches_the_forward_pass(family, data):
    net = data.draw(strategies.networks(family, output_dim=data.draw(st.integers(1, 2))))
    f = net.to_cpwl()
    comps = [f] if isinstance(f, CPWL) else list(f.components)
    points = data.draw(xs) + [t for c in comps for t in c.breakpoints]
    for x in points:
        assert tuple(c(x) for c in comps) == net(x)


@pytest.mark.parametrize("family", FAMILIES)
@settings(max_examples=_EXAMPLES)
@given(data=st.data())
def test_to_cpwl_matches_the_oracle(family, data):
    net = data.draw(strategies.networks(family, lipschitz=data.draw(st.booleans())))
    a = data.draw(strategies.rationals(-4, 0))
    b = a + data.draw(strategies.rationals(Fraction(1, 4), 6))
    (expected,) = walk(net, a, b)
    assert net.to_cpwl(domain=(a, b)) == expected.canonical()


@settings(max_examples=_EXAMPLES)
@given(strategies.networks("relu", input_dim=2, output_dim=2), strategies.matrices(2, 2))
def test_restrict_to_line_matches_the_forward_pass(net, ends):
    start, end = ends
    F = net.restrict_to_line(start, end)
    for t in [Fraction(0), Fraction(1, 3), Fraction(1), *F.breakpoints]:
        point = [s + t * (e - s) for s, e in zip(start, end)]
        assert F(t) == net(point)


@given(strategies.networks("n", depth=st.integers(1, 3)))
def test_lipschitz_networks_export_lipschitz_functions(net):
    # docs/theory.md §6.1: exact contractions and 1-Lipschitz activations give |slope| <= 1
    assert all(c.ok for c in net.layer_norm_report())
    assert net.to_cpwl().is_lipschitz(1)


def test_canonical_false_keeps_neuron_breakpoints():
    # relu(x) - relu(x) never bends, but the neuron switches at 0
    net = Network([Affine([[1], [1]]), act.relu(), Affine([[1, -1]])])
    assert net.to_cpwl().breakpoints == ()
    assert net.to_cpwl(canonical=False).breakpoints == (0,)


def test_paper_examples():
    # |x| = relu(x) + relu(-x); the N-function is one N-layer
    absnet = Network([Affine([[1], [-1]]), act.relu(), Affine([[1, 1]])])
    assert absnet.to_cpwl() == act.abs_()
    nnet = Network([Affine([[1]]), act.NLayer([("-1/2", "1/2")]), Affine([[1]])])
    assert nnet.to_cpwl() == act.n_function()
    assert nnet.to_cpwl(domain=(-2, 2)) == act.n_function().restrict(-2, 2)


def test_network_errors():
    with pytest.raises(cpwl.ShapeError, match="layer 2"):
        Network([Affine([[1], [1]]), act.relu(), Affine([[1, 1, 1]])])
    with pytest.raises(cpwl.ShapeError, match="layer 1"):
        Network([Affine([[1], [1], [1]]), act.MaxMin()])
    with pytest.raises(cpwl.ShapeError):
        Network([])
    with pytest.raises(cpwl.ShapeError):
        Network([Affine([[1, 1]])]).to_cpwl()
    with pytest.raises(cpwl.ShapeError):
        Network([Affine([[1, 1]])])([1])
    with pytest.raises(cpwl.ShapeError):
        Network(["relu"])
    with pytest.raises(cpwl.ShapeError):
        Network([Affine([[1, 1]])]).restrict_to_line([0], [1])
    with pytest.raises(cpwl.NumberError):
        Affine([[float("inf")]])


def test_network_does_not_mutate_inputs():
    W, b = [[Fraction(1, 2)], [Fraction(-1)]], [Fraction(0), Fraction(1)]
    net = Network([Affine(W, b), act.relu()])
    net.to_cpwl()
    assert W == [[Fraction(1, 2)], [Fraction(-1)]] and b == [0, 1]


def test_map_output_for_several_outputs():
    net = Network([Affine([[1], [-1]]), act.relu()])
    F = net.to_cpwl()
    assert isinstance(F, CPWLMap) and F.dim == 2
    assert F[0] == act.relu() and F[1] == act.relu()(CPWL.linear(-1))
