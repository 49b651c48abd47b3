"""Independent slow references written with ``fractions.Fraction`` only.

``walk`` restricts a :class:`cpwl.Network` to ``[a, b]`` by a different algorithm from the
library's engine: it walks left to right, propagating exact values *and right-hand
derivatives* through every layer, and jumps to the nearest point where any neuron's affine
piece changes.  It reads only the public description of each layer (weights, activation
breakpoints and slopes, pairing conventions), never the engine's data structures.

``psd_by_elimination`` is the textbook symmetric-elimination PSD test.
"""

from __future__ import annotations

from fractions import Fraction

from cpwl import CPWL, Affine, Conv2d, Gather, Residual
from cpwl.activations import Elementwise, Householder, MaxMin


def _groups(layer, k: int) -> list:
    if isinstance(layer, MaxMin):
        if layer.pairing == "adjacent":
            return [[2 * j, 2 * j + 1] for j in range(k // 2)]
        return [[j, j + k // 2] for j in range(k // 2)]
    return [list(range(s, s + layer.group_size)) for s in range(0, k, layer.group_size)]


def _scalar(f: CPWL, v: Fraction, d: Fraction, x: Fraction, events: list) -> tuple:
    bps, slopes, icpts = f.breakpoints, f.slopes, f.intercepts
    j = sum(1 for t in bps if t < v)
    if v in bps and d > 0:
        j += 1
    for t in bps:
        if d != 0 and x + (t - v) / d > x:
            events.append(x + (t - v) / d)
    return slopes[j] * v + icpts[j], slopes[j] * d


def padded_source(y: int, size: int, mode: str):
    """Source of padded position ``y`` along an axis of ``size`` (None: zero), torch's rules."""
    if 0 <= y < size:
        return y
    if mode == "zeros":
        return None
    if mode == "circular":
        return y % size
    if mode == "replicate":
        return min(max(y, 0), size - 1)
    return -y if y < 0 else 2 * (size - 1) - y


def _convolve(layer: Conv2d, vals: list, with_bias: bool) -> list:
    """torch's conv2d definition, with Fractions and loops, from the layer's public fields."""
    c, h, w = layer.in_shape
    kernel, (out_c, cg, kh, kw) = layer.kernel, layer.kernel_shape
    top, _, left, _ = layer.padding
    _, ho, wo = layer.out_shape
    out = []
    for o in range(out_c):
        g = o // (out_c // layer.groups)
        for y in range(ho):
            for x in range(wo):
                total = layer.bias[o] if with_bias else Fraction(0)
                for ci in range(cg):
                    for a in range(kh):
                        for b in range(kw):
                            yy = padded_source(y * layer.stride[0] + a * layer.dilation[0] - top, h, layer.padding_mode)
                            xx = padded_source(
                                x * layer.stride[1] + b * layer.dilation[1] - left, w, layer.padding_mode
                            )
                            if yy is not None and xx is not None:
                                total += kernel[o][ci][a][b] * vals[(g * cg + ci) * h * w + yy * w + xx]
                out.append(total)
    return out


def _layer(layer, vals: list, ders: list, x: Fraction, events: list) -> tuple:
    if isinstance(layer, Conv2d):
        return _convolve(layer, vals, True), _convolve(layer, ders, False)
    if isinstance(layer, Gather):
        return [Fraction(0) if i is None else vals[i] for i in layer.index], [
            Fraction(0) if i is None else ders[i] for i in layer.index
        ]
    if isinstance(layer, Residual):
        inner_vals, inner_ders = vals, ders
        for inner in layer.layers:
            inner_vals, inner_ders = _layer(inner, inner_vals, inner_ders, x, events)
        skip_vals, skip_ders = (vals, ders) if layer.skip is None else _layer(layer.skip, vals, ders, x, events)
        return [a + b for a, b in zip(inner_vals, skip_vals)], [a + b for a, b in zip(inner_ders, skip_ders)]
    if isinstance(layer, Affine):
        W, b = layer.weight, layer.bias
        return (
            [sum((w * v for w, v in zip(row, vals)), bi) for row, bi in zip(W, b)],
            [sum(w * d for w, d in zip(row, ders)) for row in W],
        )
    if isinstance(layer, Elementwise):
        fns = (
            layer.functions * len(vals)
            if layer.width is None
            else [f for f in layer.functions for _ in range(layer.repeat)]
        )
        out = [_scalar(f, v, d, x, events) for f, v, d in zip(fns, vals, ders)]
        return [o[0] for o in out], [o[1] for o in out]
    vals, ders = list(vals), list(ders)
    for index, group in enumerate(_groups(layer, len(vals))):
        if isinstance(layer, Householder):
            v = layer.v if isinstance(layer.v[0], Fraction) else layer.v[index]
            p = sum(a * vals[i] for a, i in zip(v, group))
            dp = sum(a * ders[i] for a, i in zip(v, group))
            if dp != 0 and x - p / dp > x:
                events.append(x - p / dp)
            if (p, dp) < (0, 0):
                vv = sum(a * a for a in v) if layer.normalized else 1
                for a, i in zip(v, group):
                    vals[i] -= 2 * p * a / vv
                    ders[i] -= 2 * dp * a / vv
            continue
        for i in group:
            for j in group:
                dd = ders[i] - ders[j]
                if i < j and dd != 0 and x - (vals[i] - vals[j]) / dd > x:
                    events.append(x - (vals[i] - vals[j]) / dd)
        descending = layer.order == "max_first" if isinstance(layer, MaxMin) else layer.descending
        ordered = sorted(((vals[i], ders[i]) for i in group), reverse=descending)
        for pos, i in enumerate(group):
            vals[i], ders[i] = ordered[pos]
    return vals, ders


def _right_pass(net, x: Fraction) -> tuple:
    vals, ders, events = [x], [Fraction(1)], []
    for layer in net.layers:
        vals, ders = _layer(layer, vals, ders, x, events)
    return vals, events


def walk(net, a, b) -> list:
    """The exact output components of a scalar-input network on ``[a, b]`` as CPWL
    functions (one per output).  ``net`` is anything with ``layers`` (Affine, Conv2d, Gather,
    Residual, elementwise, MaxMin, GroupSort, Householder)."""
    a, b = Fraction(a), Fraction(b)
    x = a
    knots = []
    while True:
        vals, events = _right_pass(net, x)
        knots.append((x, vals))
        if x == b:
            break
        x = min([e for e in events if e < b] + [b])
    return [CPWL.from_points([(p, v[i]) for p, v in knots]) for i in range(len(knots[0][1]))]


def psd_by_elimination(M: list) -> bool:
    """Symmetric Gaussian elimination: a zero pivot needs a zero row, a negative one fails."""
    A = [[Fraction(v) for v in row] for row in M]
    n = len(A)
    for k in range(n):
        if A[k][k] < 0:
            return False
        if A[k][k] == 0:
            if any(A[k][j] != 0 for j in range(k + 1, n)):
                return False
            continue
        for i in range(k + 1, n):
            factor = A[i][k] / A[k][k]
            for j in range(k + 1, n):
                A[i][j] -= factor * A[k][j]
    return True
