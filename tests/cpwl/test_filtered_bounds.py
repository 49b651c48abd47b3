"""The float filter of the fast engine (cpwl._filtered) keeps its promises: after every layer
the float64 numbers are within their claimed bounds of the exact ones; the bounds are tight
enough that floats settle almost every sign; and the engine's resource guards fire with
messages that say what was too large."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpwl import (
    Affine,
    BreakpointLimitError,
    Conv2d,
    CPWLMap,
    Gather,
    Interval,
    MemoryLimitError,
    Network,
    Residual,
    _filtered,
    activations,
    breakpoint_limit,
    memory_limit,
    strategies,
)

ELEMENTWISE = ["relu", "abs", "leaky_relu", "two_piece", "absid", "n"]


def _float_network(rng, widths, scale=1.0) -> Network:
    """Float64 weights (as trained networks have), which floats hold exactly, and bias sizes
    that make many neurons switch on [-4, 4]."""
    layers = []
    for k, (m, n) in enumerate(zip(widths[1:], widths)):
        layers.append(Affine(rng.normal(size=(m, n)) * scale / np.sqrt(n), rng.normal(size=m)))
        if k < len(widths) - 2:
            layers.append(activations.relu() if k % 2 == 0 else activations.Elementwise(activations.leaky_relu("1/3")))
    return Network(layers)


class _Watch:
    """Wraps one restriction: after every layer, the largest ratio of true error to claimed
    bound (floats against the exact integers), and how many exact reconstructions the sign
    decisions needed."""

    def __init__(self, monkeypatch):
        self.worst, self.exact_calls, self.decisions = 0.0, 0, 0
        apply, exact, signs = _filtered.Propagation.apply, _filtered.Propagation._exact, _filtered.Propagation._signs
        watch = self

        def checked_apply(state, layer):
            apply(state, layer)
            watch.check(state)

        def counted_exact(state, pieces, neurons):
            watch.exact_calls += len(pieces)
            return exact(state, pieces, neurons)

        def counted_signs(state, points, pieces, forms, levels, r):
            watch.decisions += len(points) * forms.Af.shape[1]
            return signs(state, points, pieces, forms, levels, r)

        monkeypatch.setattr(_filtered.Propagation, "apply", checked_apply)
        monkeypatch.setattr(_filtered.Propagation, "_exact", counted_exact)
        monkeypatch.setattr(_filtered.Propagation, "_signs", counted_signs)

    def check(self, state):
        table = state._table()
        A, C = state._mod.reconstruct(table[:, 0]), state._mod.reconstruct(table[:, 1])
        D = int(state._D)
        for floats, exact, bound in ((state._Af, A, state._eA), (state._Cf, C, state._eC)):
            for p in range(floats.shape[0]):
                for i in range(floats.shape[1]):
                    error = abs(Fraction(float(floats[p, i])) - Fraction(int(exact[p, i]), D))
                    assert error <= Fraction(float(bound[p])), (p, i, float(error), float(bound[p]))
                    if bound[p] > 0:
                        self.worst = max(self.worst, float(error / Fraction(float(bound[p]))))


@settings(deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(1, 6, 6, 2), (2, 8, 8, 8, 3), (3, 5, 5, 1)]))
def test_floats_stay_within_their_bounds(seed, widths):
    rng = np.random.default_rng(seed)
    net = _float_network(rng, widths)
    direction = rng.normal(size=widths[0])
    with pytest.MonkeyPatch.context() as monkeypatch:
        watch = _Watch(monkeypatch)
        net.restrict_to_line((-4 * direction).tolist(), (4 * direction).tolist())
    assert watch.worst <= 1


@settings(deadline=None)
@given(
    st.sampled_from(ELEMENTWISE).flatmap(
        lambda name: strategies.networks(name, width=st.integers(2, 5), depth=st.integers(1, 3))
    )
)
def test_floats_stay_within_their_bounds_for_rational_weights(net):
    with pytest.MonkeyPatch.context() as monkeypatch:
        _Watch(monkeypatch)
        net.apply_map(CPWLMap.identity(Interval(-3, 3)))


def _vector_network(rng, kind: str) -> Network:
    """Float weights around one vector activation (or a conv / residual block), applied twice."""
    act = {
        "maxmin": activations.MaxMin(),
        "maxmin_halves": activations.MaxMin("halves", "min_first"),
        "groupsort": activations.GroupSort(4, descending=True),
        "householder": activations.Householder(rng.normal(size=4).tolist()),
        "householder_float": activations.Householder(
            (lambda v: (v / np.linalg.norm(v)).tolist())(rng.normal(size=4)), normalized=False
        ),
    }.get(kind)
    if kind == "conv":
        conv = Conv2d(rng.normal(size=(2, 2, 3, 3)) / 3, rng.normal(size=2), in_shape=(2, 3, 3), padding=1)
        return Network([Affine(rng.normal(size=(18, 2)), rng.normal(size=18)), conv, activations.relu(), conv])
    if kind == "residual":
        block = Residual([Affine(rng.normal(size=(8, 8)) / 3, rng.normal(size=8)), activations.MaxMin()])
        return Network([Affine(rng.normal(size=(8, 2)), rng.normal(size=8)), block, activations.relu(), block])
    first = Affine(rng.normal(size=(8, 2)), rng.normal(size=8))
    return Network([first, act, Affine(rng.normal(size=(8, 8)) / 3, rng.normal(size=8)), act])


@settings(deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(["maxmin", "maxmin_halves", "groupsort", "householder", "householder_float", "conv", "residual"]),
)
def test_floats_stay_within_their_bounds_through_every_step(seed, kind):
    rng = np.random.default_rng(seed)
    net = _vector_network(rng, kind)
    F = CPWLMap.line(rng.normal(size=2).tolist(), rng.normal(size=2).tolist())
    assert _filtered.start(F, net.layers) is not None
    with pytest.MonkeyPatch.context() as monkeypatch:
        watch = _Watch(monkeypatch)
        fast = net.apply_map(F)
    assert watch.worst <= 1
    reference = F
    for layer in net.layers:
        reference = layer.apply_map(reference)
    assert fast.breakpoints == reference.breakpoints and fast == reference


def test_floats_settle_almost_every_sign(monkeypatch):
    # generic float networks: a neuron sits within rounding of a level only by accident, so the
    # filter must decide nearly every sign without rebuilding integers (an inflated bound would not)
    watch = _Watch(monkeypatch)
    rng = np.random.default_rng(7)
    for _ in range(4):
        net = _float_network(rng, (3, 24, 24, 24, 4))
        net.restrict_to_line(rng.normal(size=3).tolist(), rng.normal(size=3).tolist())
    assert watch.decisions > 5000 and watch.exact_calls <= 0.01 * watch.decisions, (watch.exact_calls, watch.decisions)
    assert watch.worst < 1


def test_gathers_keep_values_and_bounds(monkeypatch):
    watch = _Watch(monkeypatch)
    net = Network(
        [
            Affine([[1], [-1], ["1/3"]], [0, "1/2", "-1/7"]),
            Gather([2, None, 0, 1, 1], 3),
            activations.relu(),
            Affine([[1, 1, 1, 1, -1]]),
        ]
    )
    fast = net.apply_map(CPWLMap.identity(Interval(-2, 2)))
    reference = CPWLMap.identity(Interval(-2, 2))
    for layer in net.layers:
        reference = layer.apply_map(reference)
    assert fast == reference and fast.breakpoints == reference.breakpoints and watch.worst <= 1


def test_resource_guards_name_what_is_too_large():
    net = Network([Affine([[1]] * 8, [Fraction(k, 8) for k in range(8)]), activations.relu(), Affine([[1] * 8])])
    F = CPWLMap.identity(Interval(-2, 2))
    assert len(net.apply_map(F).breakpoints) == 8  # every -k/8: each neuron switches once inside [-2, 2]
    with breakpoint_limit(8):
        net.apply_map(F)
    with breakpoint_limit(7), pytest.raises(BreakpointLimitError, match="8 breakpoints"):
        net.apply_map(F)
    with memory_limit(64), pytest.raises(MemoryLimitError, match="an affine layer of width 8 on 1 pieces"):
        net.apply_map(F)
    wide = Network([Affine([[1]] * 8, [Fraction(k, 8) for k in range(8)]), activations.relu()])
    with memory_limit(2500), pytest.raises(MemoryLimitError, match="Elementwise.* of width 8 on 2 pieces"):
        wide.apply_map(F)
