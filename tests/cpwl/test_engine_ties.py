"""Exact ties in the fast engine: weights on coarse binary grids (2^-2 .. 2^-8), duplicated
neurons and small random conv nets make several neurons cross at one point.  The engine must
merge them exactly: its map equals the reference engine's (each layer's ``apply_map``) and an
independent oracle (the network's exact forward pass in ``Fraction`` arithmetic, at every
breakpoint and at points inside every piece)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from grids import grid
from hypothesis import given, settings
from hypothesis import strategies as st

from cpwl import Affine, Conv2d, CPWLMap, Interval, Network, Residual, _filtered, activations

ACTIVATIONS = {
    "relu": lambda w: activations.Elementwise(activations.relu()),
    "abs": lambda w: activations.Elementwise(activations.abs_()),
    "n": lambda w: activations.NLayer([("-1/4", "1/4"), (0, 0)] * (w // 2)),
    "leaky": lambda w: activations.Elementwise(activations.leaky_relu("1/4")),
    "maxmin": lambda w: activations.MaxMin(),
    "maxmin_halves": lambda w: activations.MaxMin("halves", "min_first"),
    "groupsort": lambda w: activations.GroupSort(4, descending=True),
    "groupsort_up": lambda w: activations.GroupSort(2),
    "householder": lambda w: activations.Householder([1, -1, 1, 1]),
    "householder_raw": lambda w: activations.Householder(["1/2", "-1/2", "1/2", "1/2"], normalized=False),
}


def _duplicate_rows(rng, W: np.ndarray, b: np.ndarray) -> None:
    """Copy a few neurons onto others (two neurons, one crossing point)."""
    for _ in range(max(1, len(W) // 4)):
        i, j = rng.integers(0, len(W), 2)
        W[j], b[j] = W[i], b[i]


def _mlp(seed: int, activation: str, bits: int, width: int = 8, depth: int = 3) -> Network:
    rng = np.random.default_rng(seed)
    dims = [1] + [width] * depth + [2]
    layers = []
    for k, (n, m) in enumerate(zip(dims, dims[1:])):
        W, b = grid(rng, (m, n), bits, 1 / np.sqrt(n)), grid(rng, m, bits, 0.5)
        if k < len(dims) - 2:
            _duplicate_rows(rng, W, b)
        layers.append(Affine(W, b))
        if k < len(dims) - 2:
            layers.append(ACTIVATIONS[activation](width))
    return Network(layers)


def _conv_net(seed: int, bits: int, padding_mode: str) -> Network:
    """A random-init conv net on 2x4x4 inputs (the kind that produced hundreds of float
    crossings at a few dozen distinct points)."""
    rng = np.random.default_rng(seed)
    c1 = Conv2d(
        grid(rng, (3, 2, 3, 3), bits, 0.3),
        grid(rng, 3, bits, 0.3),
        in_shape=(2, 4, 4),
        padding=1,
        padding_mode=padding_mode,
    )
    c2 = Conv2d(grid(rng, (4, 3, 3, 3), bits, 0.3), None, in_shape=(3, 4, 4), stride=2, padding=1)
    block = Residual([Conv2d(grid(rng, (4, 4, 1, 1), bits, 0.5), None, in_shape=(4, 2, 2)), activations.relu()])
    head = Affine(grid(rng, (2, 16), bits, 0.3))
    return Network([Affine(grid(rng, (32, 1), bits)), c1, activations.relu(), c2, activations.MaxMin(), block, head])


def _reference(net: Network, F: CPWLMap) -> CPWLMap:
    for layer in net.layers:
        F = layer.apply_map(F)
    return F


def _oracle_points(F: CPWLMap, rng) -> list:
    """Every breakpoint, the domain ends, and three points inside every piece (two of them
    random), as Fractions."""
    ends = [F.domain.lo, *F.breakpoints, F.domain.hi]
    points = list(ends)
    for lo, hi in zip(ends, ends[1:]):
        for u in (Fraction(1, 2), Fraction(int(rng.integers(1, 97)), 97), Fraction(int(rng.integers(1, 89)), 89)):
            points.append(lo + u * (hi - lo))
    return points


def _check(net: Network, domain=(-2, 2), seed: int = 0) -> CPWLMap:
    F = CPWLMap.identity(Interval(*domain))
    assert _filtered.start(F, net.layers) is not None
    fast = net.apply_map(F)
    reference = _reference(net, F)
    assert fast.breakpoints == reference.breakpoints
    assert fast == reference and fast.components == reference.components
    rng = np.random.default_rng(seed)
    for x in _oracle_points(fast, rng):
        assert fast(x) == net(x), x
    return fast


@settings(deadline=None)
@given(st.sampled_from(sorted(ACTIVATIONS)), st.sampled_from([2, 4, 8]), st.integers(0, 2**32 - 1))
def test_coarse_grid_networks_merge_ties_exactly(activation, bits, seed):
    _check(_mlp(seed, activation, bits), seed=seed)


@settings(deadline=None, max_examples=12)
@given(
    st.sampled_from([2, 4, 8]),
    st.sampled_from(["zeros", "circular", "reflect", "replicate"]),
    st.integers(0, 2**32 - 1),
)
def test_random_conv_nets_merge_ties_exactly(bits, padding_mode, seed):
    _check(_conv_net(seed, bits, padding_mode), seed=seed)


def test_coarse_grids_really_produce_ties():
    """The generators above reach the case they are for: on these seeds several neurons change
    piece at one breakpoint (counted with the exact reference, layer by layer)."""
    tied = 0
    for seed in range(6):
        net = _mlp(seed, "relu", 2)
        F = CPWLMap.identity(Interval(-2, 2))
        for layer in net.layers:
            before = F
            F = layer.apply_map(F)
            if isinstance(layer, activations.Elementwise):
                # a breakpoint of this layer where two or more neurons cross their level 0
                pre = before
                for t in set(F.breakpoints) - set(before.breakpoints):
                    values = pre(t)
                    tied += sum(v == 0 for v in values) >= 2
    assert tied >= 3


def test_four_neurons_crossing_at_one_point():
    # four copies of x - 1/2 under ReLU, summed with alternating signs and scales: one breakpoint
    net = Network(
        [Affine([[1]] * 4, ["-1/2"] * 4), activations.relu(), Affine([[1, -1, 2, "1/2"]]), activations.abs_()]
    )
    f = _check(net, domain=(-1, 1))
    assert f.breakpoints == (Fraction(1, 2),)
    assert f(1) == (Fraction(5, 4),)  # (1 - 1 + 2 + 1/2) * 1/2
