"""Part 3: the engine against exact alternatives on the smallest networks: the reference
engine (each layer's ``apply_map`` on Python-integer arrays), the test suite's independent
``Fraction`` walk, and sympy (``piecewise_fold`` of the network's ``Max`` expression), each
with a time cap."""

from __future__ import annotations

import sys
from pathlib import Path

import sympy

from bench import networks
from bench._timing import capped_time, median_time, ratio
from cpwl import CPWLMap, Interval

LO, HI = -4, 4


def _reference_engine(net):
    F = CPWLMap.identity(Interval(LO, HI))
    for layer in net.layers:
        F = layer.apply_map(F)
    return F


def _fraction_walk(net):
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from oracle import walk

    return walk(net, LO, HI)


def _sympy(net):
    x = sympy.Symbol("x", real=True)
    values = [x]
    for layer in net.layers:
        if hasattr(layer, "weight"):
            values = [
                sum((sympy.Rational(w) * v for w, v in zip(row, values)), sympy.Rational(b))
                for row, b in zip(layer.weight, layer.bias)
            ]
        else:
            values = [sympy.Max(0, v) for v in values]
    expr = sympy.piecewise_fold(values[0].rewrite(sympy.Piecewise))
    return sympy.piecewise_fold(sympy.Piecewise(*[(e, c & (x >= LO) & (x <= HI)) for e, c in expr.args]))


def row(width: int, depth: int, cap_s: int) -> dict:
    """One spectral-normalised float32 ReLU MLP through every exact method."""
    weights = networks.mlp_weights(width, depth, "spectral")
    net = networks.exact_network(weights)
    fast_s, f = median_time(lambda: net.to_cpwl(domain=(LO, HI), canonical=False), 3)
    reference_s, _ = capped_time(lambda: _reference_engine(net), cap_s)
    walk_s, _ = capped_time(lambda: _fraction_walk(net), cap_s)
    sympy_s, _ = capped_time(lambda: _sympy(net), cap_s)
    return {
        "network": f"{width}x{depth}",
        "breakpoints": len(f.breakpoints),
        "exact_s": fast_s,
        "reference_engine_s": reference_s,
        "fraction_walk_s": walk_s,
        "sympy_s": sympy_s,
        "cap_s": cap_s,
        "reference_over_exact": ratio(reference_s, fast_s),
        "walk_over_exact": ratio(walk_s, fast_s),
        "sympy_over_exact": ratio(sympy_s, fast_s),
    }
