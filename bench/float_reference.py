"""A vectorised float64 line restriction: what a float tool does (regioncam's vertex method),
as the speed and agreement baseline for every network the exact engine takes.

The values of every layer are kept at the vertices along the line; where a form that decides
a piece (a neuron against its levels, the difference of two channels a sorting layer
compares, a Householder projection) changes sign between two consecutive vertices, a vertex
is inserted by linear interpolation.  Nothing is proven: a crossing closer to a vertex than
the rounding error can be missed or duplicated, and ties are whatever the floats say.
"""

from __future__ import annotations

import numpy as np
import torch

from cpwl import Affine, Conv2d, Gather, Network, Residual
from cpwl.activations import Elementwise, Householder, SortingLayer


def relu_breakpoints(weights: list, lo: float, hi: float) -> np.ndarray:
    """Float64 breakpoints in ``(lo, hi)`` of a scalar-input ReLU MLP ``[(W, b), ...]``."""
    t = np.array([lo, hi], dtype=np.float64)
    values = t[:, None]
    for k, (W, b) in enumerate(weights):
        z = values @ W.T.astype(np.float64) + b.astype(np.float64)
        if k == len(weights) - 1:
            break
        positive = z > 0
        seg, neuron = np.nonzero(positive[:-1] != positive[1:])
        left, right = z[seg, neuron], z[seg + 1, neuron]
        lam = left / (left - right)
        t_new = t[seg] + lam * (t[seg + 1] - t[seg])
        z_new = z[seg] + lam[:, None] * (z[seg + 1] - z[seg])
        order = np.argsort(np.concatenate([t, t_new]), kind="stable")
        t, z = np.concatenate([t, t_new])[order], np.concatenate([z, z_new])[order]
        values = np.maximum(z, 0)
    return t[1:-1]


def line_breakpoints(net: Network, start, end, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """Float64 breakpoints in ``(lo, hi)`` of ``net`` along ``start + t (end - start)``."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    t = np.array([lo, hi], dtype=np.float64)
    X = start[None, :] + t[:, None] * (end - start)[None, :]
    t, _ = _through(net.layers, t, X)
    return t[1:-1]


def _through(layers, t: np.ndarray, X: np.ndarray) -> tuple:
    for layer in layers:
        t, X = _layer(layer, t, X)
    return t, X


def _layer(layer, t, X) -> tuple:
    if isinstance(layer, Affine):
        form = layer.float_form
        return t, X @ form.weight.T + form.bias
    if isinstance(layer, Conv2d):
        return t, _conv(layer, X)
    if isinstance(layer, Gather):
        padded = np.concatenate([X, np.zeros((len(X), 1))], axis=1)
        return t, padded[:, [X.shape[1] if i is None else i for i in layer.index]]
    if isinstance(layer, Elementwise):
        return _elementwise(layer, t, X)
    if isinstance(layer, SortingLayer):
        return _sorting(layer, t, X)
    if isinstance(layer, Householder):
        return _householder(layer, t, X)
    if isinstance(layer, Residual):
        t_in, X_in = t, X
        t, Y = _through(layer.layers, t, X)
        S = _at(t_in, X_in, t)
        if layer.skip is not None:
            t_skip, S = _through([layer.skip], t, S)
            Y = _at(t, Y, t_skip)
            t = t_skip
        return t, Y + S
    raise TypeError(f"no float reference for {layer!r}")


def _at(t_old, X_old, t_new) -> np.ndarray:
    """Values at ``t_new`` of the map that is linear between consecutive ``t_old``."""
    i = np.clip(np.searchsorted(t_old, t_new, side="right") - 1, 0, len(t_old) - 2)
    lam = ((t_new - t_old[i]) / (t_old[i + 1] - t_old[i]))[:, None]
    return X_old[i] + lam * (X_old[i + 1] - X_old[i])


def _split(t, X, forms) -> tuple:
    """Insert a vertex wherever a column of ``forms`` (values at the vertices, linear in
    between) changes sign between two vertices; returns the new ``t``, ``X`` and ``forms``."""
    seg, col = np.nonzero(np.sign(forms[:-1]) * np.sign(forms[1:]) < 0)
    if len(seg) == 0:
        return t, X, forms
    lam = forms[seg, col] / (forms[seg, col] - forms[seg + 1, col])
    t_new = t[seg] + lam * (t[seg + 1] - t[seg])
    t_all, keep = np.unique(np.concatenate([t, t_new]), return_index=True)
    X_all = np.concatenate([X, X[seg] + lam[:, None] * (X[seg + 1] - X[seg])])[keep]
    F_all = np.concatenate([forms, forms[seg] + lam[:, None] * (forms[seg + 1] - forms[seg])])[keep]
    return t_all, X_all, F_all


def _elementwise(layer, t, X) -> tuple:
    tables = layer.float_tables(X.shape[1])
    for level in tables.levels:
        finite = np.isfinite(level)
        t, X, _ = _split(t, X, np.where(finite[None, :], X - np.where(finite, level, 0.0)[None, :], 1.0))
    piece = (X[:, None, :] > tables.levels[None, :, :]).sum(axis=1)
    cols = np.arange(X.shape[1])[None, :]
    return t, tables.slopes[piece, cols] * X + tables.intercepts[piece, cols]


def _sorting(layer, t, X) -> tuple:
    G = layer.groups(X.shape[1])
    a, b = np.triu_indices(G.shape[1], k=1)
    t, X, _ = _split(t, X, X[:, G[:, a].ravel()] - X[:, G[:, b].ravel()])
    ordered = np.sort(X[:, G], axis=2)
    Y = X.copy()
    Y[:, G.ravel()] = (ordered[:, :, ::-1] if layer.descending else ordered).reshape(len(X), -1)
    return t, Y


def _householder(layer, t, X) -> tuple:
    v, c, _ = layer.float_normals(X.shape[1])
    G = np.arange(X.shape[1]).reshape(-1, v.shape[1])
    t, X, proj = _split(t, X, np.einsum("vgj,gj->vg", X[:, G], v))
    Y = X.copy()
    flip = np.where(proj < 0, c[None, :] * proj, 0.0)
    for j in range(G.shape[1]):
        Y[:, G[:, j]] -= flip * v[None, :, j]
    return t, Y


def _conv(layer, X) -> np.ndarray:
    form = layer.float_form
    top, bottom, left, right = layer.padding
    x = torch.from_numpy(X.reshape((len(X),) + layer.in_shape))
    if any(layer.padding):
        mode = {"zeros": "constant"}.get(layer.padding_mode, layer.padding_mode)
        x = torch.nn.functional.pad(x, (left, right, top, bottom), mode=mode)
    y = torch.nn.functional.conv2d(
        x,
        torch.from_numpy(form.weight),
        torch.from_numpy(form.bias),
        stride=layer.stride,
        dilation=layer.dilation,
        groups=layer.groups,
    )
    return y.reshape(len(X), -1).numpy()
