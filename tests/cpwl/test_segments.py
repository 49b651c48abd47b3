"""Line restriction in segments (cpwl.segments): cutting the line, by count or because a step
does not fit the memory budget, gives the map of the whole line, exactly."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpwl import (
    Affine,
    CPWLMap,
    Interval,
    InvalidArgument,
    MemoryLimitError,
    Network,
    _filtered,
    activations,
    memory_limit,
    segments,
    strategies,
)


def _as_map(f) -> CPWLMap:
    return f if isinstance(f, CPWLMap) else CPWLMap.from_components([f])


def _same_function_fewer_breakpoints(cut: CPWLMap, whole: CPWLMap, junctions: set) -> None:
    """Equal as functions; every breakpoint of the cut map is one of the whole map's, and the
    whole map's others are junctions (where a neuron changed piece but the output did not)."""
    assert cut == whole and cut.domain == whole.domain
    assert set(cut.breakpoints) <= set(whole.breakpoints)
    assert set(whole.breakpoints) - set(cut.breakpoints) <= junctions
    assert cut.canonical().breakpoints == whole.canonical().breakpoints


@settings(deadline=None)
@given(
    st.sampled_from(strategies.FAMILIES).flatmap(
        lambda name: strategies.networks(name, width=st.integers(1, 5), depth=st.integers(1, 3))
    ),
    st.integers(1, 6),
    strategies.rationals(-3, 0, max_denominator=4),
    strategies.rationals(Fraction(1, 8), 3, max_denominator=4),
)
def test_cutting_the_domain_keeps_the_map(net, count, lo, length):
    hi = lo + length
    whole = net.apply_map(CPWLMap.identity(Interval(lo, hi)))
    cut = _as_map(net.to_cpwl(domain=(lo, hi), canonical=False, segments=count))
    junctions = {lo + (hi - lo) * Fraction(k, count) for k in range(1, count)}
    _same_function_fewer_breakpoints(cut, whole, junctions)
    for t in junctions:
        assert cut(t) == net(t)  # the exact forward pass at every junction


@settings(deadline=None)
@given(
    st.sampled_from(strategies.FAMILIES).flatmap(
        lambda name: strategies.networks(name, width=st.integers(4, 8), depth=st.integers(2, 3))
    ),
    st.floats(0.55, 0.95),
)
def test_any_budget_gives_the_map_or_a_step_that_cannot_be_split(net, fraction):
    """The budget is a fraction of the largest step the whole line needs, so most examples
    split (a fixed byte count would almost always fit or almost always fail)."""
    F = CPWLMap.identity(Interval(-3, 3))
    needs = []
    check = _filtered.check_memory
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            _filtered, "check_memory", lambda nbytes, *rest, **kw: needs.append(nbytes) or check(nbytes, *rest, **kw)
        )
        whole = net.apply_map(F)
    try:
        with memory_limit(int(max(needs) * fraction)):
            split = net.apply_map(F)
    except MemoryLimitError as err:
        assert err.pieces is None or err.pieces <= 2  # a step on one or two pieces does not fit
        return
    dyadic = {Fraction(k, 2**12) * 3 for k in range(-(2**12), 2**12)}  # middles of halved single pieces
    _same_function_fewer_breakpoints(split, whole, dyadic)


def _wide_net() -> Network:
    # pairs (x + a, -x): pair a crosses once, at -a / 2
    offsets = [v for k in range(-30, 30) for v in (Fraction(k, 8), 0)]
    slopes = [[1], [-1]] * 60
    return Network([Affine(slopes, offsets), activations.MaxMin(), Affine([[1, -1] * 60])])


def _spy_splits(monkeypatch) -> list:
    calls = []
    split = _filtered.Propagation.split

    def spied(self, k):
        halves = split(self, k)
        calls.append((k, *halves))
        return halves

    monkeypatch.setattr(_filtered.Propagation, "split", spied)
    return calls


def test_a_step_that_does_not_fit_splits_the_state_where_it_stands(monkeypatch):
    # x = relu(x) - relu(-x) first: a breakpoint at 0 where nothing bends, then the wide layer
    net = Network([Affine([[1], [-1]]), activations.relu(), Affine([[1, -1]]), *_wide_net().layers])
    F = CPWLMap.identity(Interval(-2, 2))
    whole = net.apply_map(F)
    calls = _spy_splits(monkeypatch)
    applied, needs = [], []
    apply, check = _filtered.Propagation.apply, _filtered.check_memory
    monkeypatch.setattr(
        _filtered.Propagation, "apply", lambda state, layer: applied.append(layer) or apply(state, layer)
    )
    monkeypatch.setattr(
        _filtered, "check_memory", lambda nbytes, *a, **k: needs.append(nbytes) or check(nbytes, *a, **k)
    )
    net.apply_map(F)
    largest_whole = max(needs)
    needs.clear()
    applied.clear()
    with memory_limit(60_000):
        split = net.apply_map(F)
    # what a half holds counts the other half once: never more than the whole line needed
    assert max(needs) <= largest_whole
    assert split.breakpoints == whole.breakpoints and split == whole  # breakpoint for breakpoint, 0 included
    assert any(k > 0 for k, *_ in calls)  # split at a breakpoint of the state
    assert applied.count(net.layers[0]) == 1 and applied.count(net.layers[2]) == 1  # nothing computed twice


def test_a_single_piece_is_split_at_the_middle_of_its_domain(monkeypatch):
    net = _wide_net()
    F = CPWLMap.identity(Interval(-2, 2))
    whole = net.apply_map(F)
    calls = _spy_splits(monkeypatch)
    with memory_limit(150_000):
        halved = _as_map(net.to_cpwl(domain=(-2, 2), canonical=False))
    assert calls and calls[0][0] == 0 and calls[0][1]._domain == Interval(-2, 0)
    _same_function_fewer_breakpoints(halved, whole, {Fraction(k, 2**10) for k in range(-(2**11), 2**11)})


def test_a_budget_that_one_piece_cannot_meet_is_still_an_error():
    with memory_limit(5_000), pytest.raises(MemoryLimitError, match="on 1 pieces"):
        _wide_net().to_cpwl(domain=(-2, 2))


def test_processes_give_the_same_map():
    net = _wide_net()
    line = ([-2], [2])
    assert net.restrict_to_line(*line, segments=4, workers=2) == net.restrict_to_line(*line)
    assert net.restrict_to_line(*line, segments=4, workers=2).breakpoints == net.restrict_to_line(*line).breakpoints


def test_segment_arguments_are_checked():
    net = _wide_net()
    for bad in (0, -1, "2", True, 1.5):
        with pytest.raises(InvalidArgument, match="segments must be a positive int"):
            net.to_cpwl(domain=(0, 1), segments=bad)
    with pytest.raises(InvalidArgument, match="workers must be a positive int"):
        net.restrict_to_line([0], [1], workers=0)
    with pytest.raises(InvalidArgument, match="bounded domain"):
        net.to_cpwl(segments=2)
    with pytest.raises(InvalidArgument, match="without breakpoints"):
        kinked = Network([Affine([[1]]), activations.abs_()]).apply_map(CPWLMap.identity(Interval(-1, 1)))
        segments.restrict(net.layers, kinked, 2)


def test_join_keeps_a_junction_only_where_the_pieces_differ():
    f = Network([Affine([[1]]), activations.abs_()])
    parts = [f.apply_map(CPWLMap.identity(Interval(a, b))) for a, b in ((-1, 0), (0, 1), (1, 2))]
    joined = segments.join(parts)
    assert joined.breakpoints == (0,)  # the kink of |x| stays, the straight junction at 1 goes
    assert joined == f.apply_map(CPWLMap.identity(Interval(-1, 2)))


def test_a_failed_attempt_frees_its_arrays_at_once(monkeypatch):
    """No engine state outlives its work, split or failed: the exception that stops a step
    may not sit in a reference cycle with the engine's frames (only the cyclic garbage
    collector would free it, long after memory ran short)."""
    import gc
    import weakref

    states = []
    init, split = _filtered.Propagation.__init__, _filtered.Propagation.split

    def recorded(self, *args):
        init(self, *args)
        states.append(weakref.ref(self))

    def recorded_split(self, k):
        halves = split(self, k)
        states.extend(weakref.ref(h) for h in halves)
        return halves

    monkeypatch.setattr(_filtered.Propagation, "__init__", recorded)
    monkeypatch.setattr(_filtered.Propagation, "split", recorded_split)
    gc.disable()
    try:
        with memory_limit(150_000):
            _wide_net().to_cpwl(domain=(-2, 2), canonical=False)
        with memory_limit(5_000), pytest.raises(MemoryLimitError):
            _wide_net().to_cpwl(domain=(-2, 2), canonical=False)
        alive = [s for s in states if s() is not None]
    finally:
        gc.enable()
    assert len(states) >= 5 and not alive
