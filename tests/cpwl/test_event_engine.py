"""The event-sum state (cpwl._events) against the reference engine (each layer's
``apply_map``) on the same lines: the same map, breakpoint for breakpoint and integer for
integer.

Networks are drawn where the event bookkeeping could slip: weights on coarse binary grids
and duplicated neurons (several events at one breakpoint), activations with slopes other
than 0 and 1 and with offsets (scaled directions, offsets in the event forms), sorting layers
(permuted directions, events whose form is the difference of two components), two
different activations in a row (unit directions crossing an activation or a sort), a network that ends in an
activation (unit directions at the end), unbounded domains, and memory budgets that split
the state in the middle of a layer."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pytest
from grids import grid
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cpwl import (
    CPWL,
    Affine,
    Conv2d,
    CPWLMap,
    Gather,
    Interval,
    Network,
    Residual,
    _filtered,
    activations,
    memory_limit,
)
from cpwl._events import EventPropagation
from cpwl.errors import MemoryLimitError
from cpwl.segments import _run

ACTIVATIONS = {
    "relu": lambda: activations.relu(),
    "abs": lambda: activations.abs_(),
    "leaky": lambda: activations.leaky_relu("1/4"),
    # three pieces, slopes 3/2, -1/2 and 2: no 0/1 masks anywhere
    "bent": lambda: CPWL.from_slopes(["-1/4", "1/2"], ["3/2", "-1/2", 2], anchor=(0, "1/8")),
    "maxmin": lambda: activations.MaxMin(),
    "maxmin_halves": lambda: activations.MaxMin("halves", "min_first"),
    "groupsort": lambda: activations.GroupSort(4, descending=True),
    "householder": lambda: activations.Householder([1, -2, 2, 1]),
    "householder_raw": lambda: activations.Householder(["1/2", "-1/2", "1/2", "1/2"], normalized=False),
}


def _network(seed: int, activation: str, bits: int, second: Optional[str], ends_active: bool, width=8) -> Network:
    """Dense layers on a ``2**-bits`` grid with duplicated neurons; ``second``: another
    activation right after each one; ``ends_active``: the last layer is an activation."""
    rng = np.random.default_rng(seed)
    dims = [1, width, width, width, 4]
    layers = []
    for k, (n, m) in enumerate(zip(dims, dims[1:])):
        W, b = grid(rng, (m, n), bits, 1 / np.sqrt(n)), grid(rng, m, bits, 0.5)
        for _ in range(2):
            i, j = rng.integers(0, m, 2)
            W[j], b[j] = W[i], b[i]
        layers.append(Affine(W, b))
        if k < len(dims) - 2 or ends_active:
            layers.append(ACTIVATIONS[activation]())
            if second is not None:
                layers.append(ACTIVATIONS[second]())
    return Network(layers)


def _both(net: Network, F: CPWLMap) -> tuple:
    """The map from the event state and from the reference engine (each layer's
    ``apply_map``, exact rational arithmetic without residues or floats)."""
    events = _filtered.start(F, net.layers)
    assert isinstance(events, EventPropagation)
    reference = F
    for layer in net.layers:
        reference = layer.apply_map(reference)
    return _run(events, net.layers), reference


def _same(a: CPWLMap, b: CPWLMap) -> None:
    assert a._bps == b._bps
    assert a._D == b._D
    assert (a._A == b._A).all() and (a._C == b._C).all()


@settings(deadline=None, max_examples=60)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(sorted(ACTIVATIONS)),
    st.sampled_from([2, 4, 8, 24]),
    st.one_of(st.none(), st.sampled_from(sorted(ACTIVATIONS))),
    st.booleans(),
    st.sampled_from([(-2, 2), (None, None), (-3, None), ("-1/3", "5/7")]),
)
def test_the_event_state_gives_the_reference_map(seed, activation, bits, second, ends_active, domain):
    net = _network(seed, activation, bits, second, ends_active)
    _same(*_both(net, CPWLMap.identity(Interval(*domain))))


@pytest.mark.parametrize("second", sorted(ACTIVATIONS))
@pytest.mark.parametrize("first", sorted(ACTIVATIONS))
def test_fresh_events_cross_every_kind_of_activation(first, second):
    """Every pair of activations in a row: the first one's events still have unit
    directions when the second one scales, drops or permutes them."""
    for seed in range(2):
        net = _network(seed, first, 8, second, True)
        _same(*_both(net, CPWLMap.identity(Interval(-2, 2))))


def _largest_need(net: Network, F: CPWLMap) -> float:
    """The most bytes any step of the restriction asks the memory budget for."""
    needed = []
    check = _filtered.check_memory

    def counted(nbytes, *args, **kwargs):
        needed.append(nbytes)
        return check(nbytes, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_filtered, "check_memory", counted)
        net.apply_map(F)
    return max(needed)


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(ACTIVATIONS)), st.floats(0.02, 0.6))
def test_a_state_split_in_a_layer_gives_the_whole_map(seed, activation, fraction):
    """A budget below what a step needs cuts the state where the step stands (after some of
    its exact forms were computed); both halves give the whole line's map."""
    net = _network(seed, activation, 4, None, False, width=12)
    F = CPWLMap.identity(Interval(-4, 4))
    whole = net.apply_map(F)
    with memory_limit(int(_largest_need(net, F) * fraction) + 1):
        try:
            parts = net.apply_map(F)
        except MemoryLimitError:  # a budget below one or two pieces: refused before it allocates
            return
    _same(parts, whole)


def test_grids_give_several_events_at_one_breakpoint():
    """The generator reaches the case the telescoping identity must carry: at least one
    breakpoint where several neurons change piece at once, on most seeds."""
    crowded = 0
    for seed in range(12):
        net = _network(seed, "relu", 2, None, False)
        state = _filtered.start(CPWLMap.identity(Interval(-2, 2)), net.layers)
        most = 0
        for layer in net.layers:
            state.apply(layer)
            if isinstance(layer, activations.Elementwise) and state.events:
                most = max(most, int(np.bincount(state._ebp).max()))
        crowded += most >= 2
    assert crowded >= 6


def test_the_library_s_layers_take_the_event_state():
    net = _network(0, "relu", 8, None, False)
    line = CPWLMap.identity(Interval(-1, 1))
    assert isinstance(_filtered.start(line, net.layers), EventPropagation)
    reflecting = [Affine([[1], [2]]), Residual([activations.Householder([1, 1])]), Affine([[1, 1]])]
    assert isinstance(_filtered.start(line, reflecting), EventPropagation)


def test_an_event_direction_that_vanishes_is_dropped():
    """A ReLU that is off right of an event kills the event's direction: the event is
    forgotten, and the map is still exact."""
    # events at 0 (neuron 0) and 1/2 (neuron 1); in the next layer the neuron fed by neuron 0
    # is always off, the one fed by neuron 1 always on
    net = Network(
        [
            Affine([[1], [1]], [0, "-1/2"]),
            activations.relu(),
            Affine([[1, 0], [0, 1]], [-2, 1]),
            activations.relu(),
            Affine([[1, 1]]),
        ]
    )
    F = CPWLMap.identity(Interval(-1, 1))
    state = _filtered.start(F, net.layers)
    for layer in net.layers[:4]:
        state.apply(layer)
    assert state.events == 1 and list(state._ebp) == [1]  # the event at 1/2 (breakpoint 1) is left
    result, reference = _both(net, F)
    _same(result, reference)
    points = [-1, "-1/2", 0, "1/4", "1/2", 1]
    assert [net(x)[0] for x in points] == [result(x)[0] for x in points]


@settings(deadline=None, max_examples=15)
@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(ACTIVATIONS)))
def test_forms_the_refinement_did_not_ask_for_are_computed_on_the_new_pieces(seed, activation):
    """The input forms of a layer's events come from what its refinement computed; with
    that memory wiped, they are computed again on the refined pieces, to the same map."""
    net = _network(seed, activation, 4, None, False)
    F = CPWLMap.identity(Interval(-2, 2))
    expected = _run(_filtered.start(F, net.layers), net.layers)
    refine = EventPropagation.refine

    def forgetful(state, *args):
        out = refine(state, *args)
        state._asked = []
        return out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EventPropagation, "refine", forgetful)
        _same(_run(_filtered.start(F, net.layers), net.layers), expected)


def test_a_swap_at_the_breakpoint_of_earlier_events_permutes_their_directions():
    """ReLU events at 0 and a MaxMin swap at the same point: the ReLU events' directions
    cross the MaxMin with the order right of 0."""
    net = Network(
        [
            Affine([[1], [-1]]),
            activations.relu(),  # (relu(t), relu(-t)): both change at 0
            Affine([[1, 0], [0, 1]]),
            activations.MaxMin(),  # the larger one changes at 0 too
            Affine([[1, 3]]),
        ]
    )
    F = CPWLMap.identity(Interval(-1, 1))
    events, pieces = _both(net, F)
    _same(events, pieces)
    assert [events(x)[0] for x in (-1, 0, 1)] == [net(x)[0] for x in (-1, 0, 1)] == [1, 0, 1]


def _conv_network(seed: int, bits: int, padding_mode: str, activation: str) -> Network:
    """A small conv net with every layer the event state runs: convolutions (strided, with
    each padding mode), permuting gathers (one the sort runs under, one pending over fresh
    events), a gather that copies and zeroes, a residual block with a skip layer."""
    rng = np.random.default_rng(seed)
    c1 = Conv2d(
        grid(rng, (4, 2, 3, 3), bits, 0.3),
        grid(rng, 4, bits, 0.3),
        in_shape=(2, 4, 4),
        padding=1,
        padding_mode=padding_mode,
    )
    c2 = Conv2d(grid(rng, (4, 4, 3, 3), bits, 0.3), None, in_shape=(4, 4, 4), stride=2, padding=1)
    shuffle = Gather(rng.permutation(16).tolist(), 16)
    copies = Gather([int(i) if i >= 0 else None for i in rng.integers(-2, 16, 16)], 16)
    block = Residual(
        [Affine(grid(rng, (16, 16), bits, 0.25), grid(rng, 16, bits, 0.2)), ACTIVATIONS[activation]()],
        skip=Affine(grid(rng, (16, 16), bits, 0.25)),
    )
    head = Affine(grid(rng, (4, 16), bits, 0.3))
    first = Affine(grid(rng, (32, 1), bits, 1.0), grid(rng, 32, bits, 0.3))
    act = ACTIVATIONS[activation]()
    again = Gather(rng.permutation(16).tolist(), 16)  # pending until the head: the ReLU's fresh events move
    return Network([first, c1, act, c2, shuffle, activations.MaxMin(), copies, block, activations.relu(), again, head])


@settings(deadline=None, max_examples=30)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from([2, 4, 24]),
    st.sampled_from(["zeros", "circular", "reflect", "replicate"]),
    st.sampled_from(sorted(ACTIVATIONS)),
)
def test_conv_nets_gathers_and_residual_blocks_give_the_reference_map(seed, bits, padding_mode, activation):
    net = _conv_network(seed, bits, padding_mode, activation)
    _same(*_both(net, CPWLMap.identity(Interval(-2, 2))))


@settings(deadline=None, max_examples=15)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["relu", "maxmin", "bent"]), st.sampled_from([4, 24]))
def test_a_conv_that_overwrites_its_rows_leaves_the_skip_branch_alone(seed, activation, bits):
    """A convolution as wide as its input moves the event rows in place.  Here it is the
    first step of a residual branch on an all-dense state (an affine layer before it, so
    nothing is written out anew), where the skip branch holds the same events: the skip
    must keep its own rows."""
    rng = np.random.default_rng(seed)
    conv = Conv2d(grid(rng, (2, 2, 3, 3), bits, 0.4), grid(rng, 2, bits, 0.3), in_shape=(2, 3, 3), padding=1)
    net = Network(
        [
            Affine(grid(rng, (18, 1), bits, 1.0), grid(rng, 18, bits, 0.3)),
            ACTIVATIONS[activation](),
            Affine(grid(rng, (18, 18), bits, 0.3)),
            Residual([conv, ACTIVATIONS[activation]()]),
            Affine(grid(rng, (3, 18), bits, 0.3)),
        ]
    )
    _same(*_both(net, CPWLMap.identity(Interval(-2, 2))))


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(ACTIVATIONS)), st.sampled_from([2, 8, 24]))
def test_a_map_with_breakpoints_starts_with_its_jumps_as_events(seed, activation, bits):
    """The input already bends (the output of another network, ties with the next layers'
    crossings likely on coarse grids): its slope and offset jumps are the first events."""
    first = _network(seed + 1, "relu", bits, None, False, width=4)
    F = first.apply_map(CPWLMap.identity(Interval(-4, 4)))
    assume(F.breakpoints)
    rest = _network(seed, activation, bits, None, False).layers[1:]
    rng = np.random.default_rng(seed)
    net = Network([Affine(grid(rng, (8, 4), bits, 0.5), grid(rng, 8, bits, 0.5)), *rest])  # the map's 4 outputs in
    _same(*_both(net, F))


def test_sparse_events_count_as_the_dense_rows_they_become():
    """The memory a step is checked against includes the dense rows the sparse events turn
    into before a layer that mixes components (a convolution, a copying gather): a budget
    check before that layer sees them, and cuts the line instead of running out."""
    net = _conv_network(3, 4, "zeros", "maxmin")
    F = CPWLMap.identity(Interval(-2, 2))
    state = _filtered.start(F, net.layers)
    for layer in net.layers[:3]:  # up to the first activation: its events are sparse
        state.apply(layer)
    assert len(state._unit) > 0
    dense = 8.0 * state._mod.count * len(state._unit) * state.width
    assert state.bytes() >= dense + state.own_bytes()


@settings(deadline=None, max_examples=10)
@given(st.integers(0, 2**32 - 1), st.floats(0.05, 0.6))
def test_a_conv_state_split_by_the_budget_gives_the_whole_map(seed, fraction):
    net = _conv_network(seed, 4, "zeros", "relu")
    F = CPWLMap.identity(Interval(-2, 2))
    whole = net.apply_map(F)
    with memory_limit(int(_largest_need(net, F) * fraction) + 1):
        try:
            parts = net.apply_map(F)
        except MemoryLimitError:
            return
    # a single piece is cut at its middle, not at a breakpoint: a neuron that changes piece
    # exactly there without bending the output is not listed (cpwl.segments)
    assert set(parts._bps) <= set(whole._bps) and parts._D == whole._D
    for t in set(whole._bps) - set(parts._bps):
        k = whole._bps.index(t)
        assert (whole._A[k] == whole._A[k + 1]).all() and (whole._C[k] == whole._C[k + 1]).all()
    probe = [t for t in whole._bps] + [whole._domain._lo, whole._domain._hi]
    assert [parts(x) for x in probe] == [whole(x) for x in probe]


def test_one_network_on_lines_that_need_more_then_fewer_primes():
    """A layer keeps its weights' residues for the most primes asked for so far and serves
    fewer primes from their first rows: the same network restricted in turn to lines whose
    integers need many primes, few, and many again gives the reference map each time, and
    the weights were read only when more primes were first asked for."""
    net = _network(3, "leaky", 24, None, False)
    lines = [
        CPWLMap.identity(Interval(-1, 1)),
        CPWLMap.line([f"1/{3**60}"], [f"{5**40}/{7**30}"]),
        CPWLMap.identity(Interval(-2, 2)),
        CPWLMap.line([f"-1/{11**50}"], ["2/3"]),
    ]
    counts = []
    read = Affine._compute_residues

    def counting(self, moduli):
        counts.append(moduli.count)
        return read(self, moduli)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Affine, "_compute_residues", counting)
        for F in lines:
            before = len(counts)
            _same(*_both(net, F))
            primes = _filtered.start(F, net.layers)._mod.count
            assert all(c == primes for c in counts[before:])
    # four Affine layers: read for the first line, again when the second line needs more primes
    assert counts[:4] == [counts[0]] * 4 and len(set(counts)) >= 2
    assert sorted(counts) == counts  # never read again for fewer primes
