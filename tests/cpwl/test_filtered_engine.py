"""The fast engine (float filter + residues, cpwl._filtered) against the reference engine
(each layer's ``apply_map`` on integer object arrays): same breakpoints, same pieces, exactly;
and its number layers (cpwl._modular, cpwl._dyadic) against Python integers."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpwl import (
    Affine,
    Conv2d,
    CPWLMap,
    Gather,
    Interval,
    Network,
    NumberError,
    Residual,
    ShapeError,
    _filtered,
    activations,
    strategies,
)
from cpwl._dyadic import DyadicArray
from cpwl._modular import Moduli

FAMILIES = strategies.FAMILIES  # every activation family: elementwise, sorting, Householder
DOMAINS = [(-3, 3), (None, None), (None, "1/2"), ("-5/7", None)]


def _reference(net: Network, F: CPWLMap) -> CPWLMap:
    for layer in net.layers:
        F = layer.apply_map(F)
    return F


def _assert_same(fast: CPWLMap, ref: CPWLMap) -> None:
    assert fast.breakpoints == ref.breakpoints
    assert fast.domain == ref.domain
    assert fast == ref
    assert fast.components == ref.components


@given(
    st.sampled_from(FAMILIES).flatmap(
        lambda name: strategies.networks(name, width=st.integers(1, 5), depth=st.integers(1, 3), lipschitz=name != "n")
    ),
    st.sampled_from(DOMAINS),
)
def test_fast_engine_equals_reference(net, domain):
    F = CPWLMap.identity(Interval(*domain))
    assert _filtered.start(F, net.layers) is not None
    _assert_same(net.apply_map(F), _reference(net, F))


@given(strategies.networks("relu", width=st.integers(1, 4), depth=st.integers(1, 3), lipschitz=False, output_dim=2))
def test_fast_engine_equals_reference_without_lipschitz_bound(net):
    F = CPWLMap.identity(Interval(-10, 10))
    _assert_same(net.apply_map(F), _reference(net, F))


@given(strategies.near_degenerate_networks(width=st.integers(1, 5)))
def test_fast_engine_settles_ties_exactly(pair):
    net, x0 = pair
    F = CPWLMap.identity(Interval(x0 - 1, x0 + 1))
    fast = net.apply_map(F)
    _assert_same(fast, _reference(net, F))
    assert fast(x0) == net(x0)


@given(
    st.integers(-50, 50),
    st.sampled_from([3, 7, 11, 13, 19, 23, 29]),
    st.integers(45, 75),
    st.sampled_from([1, -1]),
    st.integers(1, 9),
    st.sampled_from([3, 7, 11]),
)
def test_float_signs_that_rounding_flips_are_decided_exactly(cn, cd, k, side, sn, sd):
    """Two neurons crossing ``2**-k`` apart near a point that floats cannot hold: at the first
    breakpoint the second neuron is ``-+2**-k`` exactly, while its float value can have either
    sign (a filter without error bounds gets about one case in ten wrong)."""
    c, s, delta = Fraction(cn, cd), Fraction(sn, sd), Fraction(side, 2**k)
    net = Network([Affine([[1], [s]], [-c, -s * c - delta]), activations.relu(), Affine([[1, -1]])])
    F = CPWLMap.identity(Interval(c - 1, c + 1))
    _assert_same(net.apply_map(F), _reference(net, F))


@given(
    strategies.networks("abs", width=st.integers(1, 4), depth=st.integers(1, 2), input_dim=3), st.integers(0, 2**32 - 1)
)
def test_fast_engine_on_lines(net, seed):
    rng = np.random.default_rng(seed)
    start, end = rng.standard_normal(3), rng.standard_normal(3)
    line = CPWLMap.line(start, end)
    _assert_same(net.restrict_to_line(start, end, canonical=False), _reference(net, line))


@st.composite
def _float_networks(draw):
    """Float32 networks as trained ones arrive: He-initialised or spectral-normalised weights,
    some tiny entries, zero biases or not; ReLU, abs or N-activations in between."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    width, depth = draw(st.integers(1, 12)), draw(st.integers(1, 3))
    scale = draw(st.sampled_from(["he", "spectral", "tiny"]))
    act = draw(st.sampled_from(["relu", "abs", "n"]))
    dims = [1] + [width] * depth + [2]
    layers = []
    for k in range(len(dims) - 1):
        W = rng.standard_normal((dims[k + 1], dims[k])) * np.sqrt(2 / dims[k])
        if scale == "spectral":
            W /= np.linalg.norm(W, 2)
        elif scale == "tiny":
            W *= 2.0 ** rng.integers(-40, 0, size=W.shape)
        b = rng.standard_normal(dims[k + 1]) * draw(st.sampled_from([0.0, 0.1]))
        layers.append(Affine(W.astype(np.float32), b.astype(np.float32)))
        if k < len(dims) - 2:
            thetas = [tuple(sorted(rng.standard_normal(2).astype(np.float32).tolist())) for _ in range(width)]
            layers.append({"relu": activations.relu(), "abs": activations.abs_(), "n": activations.NLayer(thetas)}[act])
    return Network(layers)


@given(_float_networks(), st.sampled_from(DOMAINS))
def test_fast_engine_on_float_weights(net, domain):
    F = CPWLMap.identity(Interval(*domain))
    _assert_same(net.apply_map(F), _reference(net, F))


@given(strategies.networks("relu", width=st.integers(1, 4), depth=st.integers(1, 2)), st.integers(0, 2**32 - 1))
def test_rational_weights_that_floats_cannot_hold(net, seed):
    """Weights like 1/3 reach the filter rounded; its bounds account for that."""
    rng = np.random.default_rng(seed)
    thirds = [
        Affine([[v + Fraction(int(rng.integers(-3, 4)), 3) for v in row] for row in layer.weight], layer.bias)
        if isinstance(layer, Affine)
        else layer
        for layer in net.layers
    ]
    net = Network(thirds)
    F = CPWLMap.identity(Interval(-2, 2))
    _assert_same(net.apply_map(F), _reference(net, F))


def test_every_layer_of_the_library_runs_in_the_fast_engine():
    conv = Conv2d([[[[1, -1], [0, "1/2"]]]], [0], in_shape=(1, 2, 2), padding=1, padding_mode="reflect")
    layers = [
        Affine([[1], [2], [-1], ["1/3"]]),
        activations.MaxMin(),
        activations.GroupSort(2, descending=True),
        activations.Householder([1, -1]),
        Residual([Affine([[1, 0, 0, 0]] * 4), activations.relu()]),
        activations.NLayer([(0, 1)] * 4),
        Gather([0, 1, 2, 3], 4),
        conv,
        Affine([[1] * 9]),
    ]
    net = Network(layers)
    for layer in layers:
        assert _filtered._step(layer) is not None, layer
    F = CPWLMap.identity(Interval(-2, 2))
    _assert_same(net.apply_map(F), _reference(net, F))


def test_a_layer_defined_outside_the_library_keeps_its_own_meaning():
    class Doubled(Affine):  # a subclass that says something else than its weights
        def apply_map(self, F):
            return super().apply_map(F) + super().apply_map(F)

        def _forward(self, x):
            return [2 * v for v in super()._forward(x)]

    net = Network([Doubled([[1], [2]]), activations.MaxMin(), Affine([[1, -1]])])
    assert _filtered.start(CPWLMap.identity(), net.layers) is None
    assert net.to_cpwl(domain=(-1, 1)).slopes == (Fraction(-2), Fraction(2))  # max - min of 2x, 4x = 2|x|
    assert net(1) == (Fraction(2),)


# ---------------------------------------------------------------------------- number layers
_BIG = st.one_of(
    st.integers(-(2**52) + 1, 2**53 - 1), st.sampled_from([2**53 - 1, -(2**52) + 1, -1, 0, 2**42, -(2**42)])
)


@given(st.lists(_BIG, min_size=1, max_size=20), st.integers(1, 6))
def test_reduce_is_exact(values, count):
    mod = Moduli(count)
    got = mod.reduce(np.broadcast_to(np.array(values, dtype=np.float64), (count, len(values))).copy())
    assert got.tolist() == [[float(v % p) for v in values] for p in mod.primes_list]


@given(st.integers(1, 5), st.integers(0, 3000), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_residue_products_are_exact(rows, inner, cols, seed):
    mod = Moduli(2)
    rng = np.random.default_rng(seed)
    primes = np.array(mod.primes_list)[:, None, None]
    left = rng.integers(0, 2**62, (2, rows, inner)) % primes
    right = rng.integers(0, 2**62, (2, inner, cols)) % primes
    got = mod.matmul(left.astype(np.float64), right.astype(np.float64))
    expected = [
        (left[n].astype(object) @ right[n].astype(object)) % p if inner else np.zeros((rows, cols))
        for n, p in enumerate(mod.primes_list)
    ]
    assert got.tolist() == [np.asarray(e, dtype=np.float64).tolist() for e in expected]


@given(
    st.integers(1, 400).flatmap(
        lambda bits: st.tuples(
            st.just(bits), st.lists(st.integers(-(2**bits) + 1, 2**bits - 1), min_size=1, max_size=8)
        )
    )
)
def test_residues_reconstruct_every_integer_in_range(case):
    bits, values = case
    mod = Moduli.for_bits(bits)
    res = np.stack([[v % p for v in values] for p in mod.primes_list]).astype(np.float64)
    assert mod.reconstruct(res).tolist() == values


_floats = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True, width=64)


@given(st.lists(_floats, min_size=1, max_size=12), st.integers(0, 7))
def test_dyadic_form_is_exact(values, extra):
    d = DyadicArray(np.array(values))
    shift = max(0, -d.min_exponent()) + extra
    ints = d.scaled_ints(shift).tolist()
    assert [Fraction(n, 2**shift) for n in ints] == [Fraction(v) for v in values]
    mod = Moduli(3)
    assert d.scaled_residues(shift, mod).tolist() == [[float(n % p) for n in ints] for p in mod.primes_list]


@given(st.lists(st.lists(_floats.filter(lambda v: abs(v) < 1e300), min_size=2, max_size=2), min_size=1, max_size=3))
def test_affine_from_float_arrays_is_the_affine_from_rationals(rows):
    W = np.array(rows)
    b = W[:, 0] / 2
    fast, slow = Affine(W, b), Affine([[Fraction(v) for v in row] for row in rows], [Fraction(v) for v in b.tolist()])
    assert fast.weight == slow.weight and fast.bias == slow.bias
    assert fast._int_form[2] == slow._int_form[2]
    assert fast._int_form[0].tolist() == slow._int_form[0].tolist()


def test_affine_from_float_arrays_rejects_what_has_no_rational_value():
    with pytest.raises(NumberError, match="NaN"):
        Affine(np.array([[np.nan]]))
    with pytest.raises(NumberError, match="b"):
        Affine(np.array([[1.0]]), np.array([np.inf]))
    with pytest.raises(ShapeError, match="vector of length 1"):
        Affine(np.array([[1.0]]), np.array([1.0, 2.0]))
    with pytest.raises(ShapeError, match="2-D"):
        Affine(np.ones(3))


@st.composite
def _shared_non_dyadic_roots(draw):
    """Neurons that all cross zero at one point ``t = p / q`` that no float holds (q odd), with
    weights of very different sizes: at that breakpoint every neuron's float value is a
    rounding residue of order ``|w| 2**-53`` whose sign means nothing, so the filter must leave
    every one of them to the exact integers (whose sign is 0)."""
    q = draw(st.sampled_from([3, 5, 7, 11, 13]))
    t = Fraction(draw(st.integers(-20, 20)), q)
    weights = draw(
        st.lists(st.sampled_from([1, -1, 3, Fraction(1, 3), 2**20, -(2**-20), Fraction(7, 5)]), min_size=2, max_size=4)
    )
    first = Affine([[w] for w in weights], [-w * t for w in weights])
    act = draw(st.sampled_from([activations.relu(), activations.abs_(), activations.leaky_relu(Fraction(1, 3))]))
    # a second layer without bias is exactly 0 at t too, and is read there, at the first
    # layer's breakpoint, by the filter
    mix = Affine(
        [[draw(st.sampled_from([1, -1, Fraction(7, 3), Fraction(-5, 11)])) for _ in weights] for _ in range(2)]
    )
    head = Affine([[draw(strategies.rationals(-1, 1, max_denominator=4)) for _ in range(2)]])
    return Network([first, act, mix, act, head]), t


@given(_shared_non_dyadic_roots())
def test_fast_engine_settles_non_dyadic_ties_exactly(pair):
    net, t = pair
    F = CPWLMap.identity(Interval(t - 1, t + Fraction(1, 3)))
    fast = net.apply_map(F)
    _assert_same(fast, _reference(net, F))
    assert fast(t) == net(t)


@given(
    st.lists(st.sampled_from([-2, -1, "-1/3", 0, "1/3", 1, 2]), min_size=2, max_size=5),
    st.sampled_from(["relu", "leaky_relu", "n"]),
    st.sampled_from([(None, None), (None, "1/2"), ("-5/7", None)]),
)
def test_constant_neurons_on_unbounded_ends(biases, name, domain):
    # zero rows make neurons constant: on an infinite end the filter cannot read a slope's sign and
    # must compare the constant with every level exactly (and a neuron exactly at a level on a tail)
    layer = {
        "relu": activations.relu(),
        "leaky_relu": activations.Elementwise(activations.leaky_relu("1/3")),
        "n": activations.NLayer([("-1/3", "1/3")] * len(biases)),
    }[name]
    weights = [[0] if k % 2 == 0 else [Fraction(1, k + 1)] for k in range(len(biases))]
    net = Network([Affine(weights, biases), layer, Affine([[1] * len(biases), [k - 1 for k in range(len(biases))]])])
    F = CPWLMap.identity(Interval(*domain))
    _assert_same(net.apply_map(F), _reference(net, F))


@st.composite
def _gather_chains(draw):
    """Affine, then a chain of gathers (permutations, their inverses, selections with copies
    and zeros) between sorting layers and activations, some of which run under a pending
    permutation (sorting, one function for every channel) and some of which do not."""
    width = 4
    layers = [
        Affine(draw(strategies.matrices(width, 1)), draw(st.lists(strategies.rationals(-2, 2), min_size=4, max_size=4)))
    ]
    for _ in range(draw(st.integers(1, 4))):
        perm = draw(st.permutations(range(width)))
        kind = draw(st.sampled_from(["perm", "perm_back", "select"]))
        if kind == "select":
            index = draw(st.lists(st.one_of(st.none(), st.integers(0, width - 1)), min_size=width, max_size=width))
            layers.append(Gather(index, width))
        else:
            layers.append(Gather(perm, width))
        layers.append(
            draw(
                st.sampled_from(
                    [
                        activations.MaxMin(),
                        activations.GroupSort(4),
                        activations.Elementwise(activations.abs_()),
                        activations.NLayer([("-1/2", "1/2"), (0, 1), (-1, 0), (0, 0)]),
                        activations.Householder([1, -1]),
                    ]
                )
            )
        )
        if kind == "perm_back":
            layers.append(Gather([perm.index(j) for j in range(width)], width))
    layers.append(Affine(draw(strategies.matrices(2, width))))
    return Network(layers)


@given(_gather_chains())
def test_pending_permutations_give_the_reference_map(net):
    F = CPWLMap.identity(Interval(-3, 3))
    _assert_same(net.apply_map(F), _reference(net, F))


def test_a_permutation_and_its_inverse_cost_nothing():
    perm = [1, 3, 0, 2]
    back = [perm.index(j) for j in range(4)]
    net = Network([Affine([[1], [-1], [2], ["1/2"]]), Gather(perm, 4), activations.MaxMin(), Gather(back, 4)])
    F = CPWLMap.identity(Interval(-3, 3))
    state = _filtered.start(F, net.layers)
    for layer in net.layers[:3]:
        state.apply(layer)
    assert state._perm is not None  # MaxMin ran on the stored columns
    state.apply(net.layers[3])
    assert state._perm is None  # composed to the identity: nothing was copied
    result = state.result()
    _assert_same(result, _reference(net, F))


def test_convolutions_with_more_taps_than_one_exact_sum_holds():
    """229 input channels x 3x3 taps: more products than a float64 sum of residues holds
    exactly (2047).  Left of every crossing each input slope is -64 (over its denominator)
    and each kernel entry -2, so every residue product is odd and near 2**42, and a sum of
    2061 of them passes 2**53 and is odd: one float64 sum would round it.  The engine sums
    channel slices."""
    conv = Conv2d(-2 * np.ones((2, 229, 3, 3)), [1, -1], in_shape=(229, 2, 1), padding=(1, 1), padding_mode="replicate")
    offsets = np.arange(458, dtype=np.float64) / 64 - 3
    net = Network(
        [Affine(-np.ones((458, 1)), offsets), activations.relu(), conv, activations.abs_(), Affine([[1, -1, 2, 1]])]
    )
    F = CPWLMap.identity(Interval(-4, 4))
    fast = net.apply_map(F)
    _assert_same(fast, _reference(net, F))
    assert len(fast.breakpoints) > 100
