"""Private: the fast engine's step for :class:`cpwl.Conv2d`, as a convolution on patches.

The kernel is never expanded to a dense matrix: every output position reads its patch of the
padded input (:attr:`Conv2d._patches`) and multiplies it with the ``out x taps`` kernel
matrix, in floats with a proven bound and in residues exactly.  Pieces are processed in
chunks, so the gathered patches take a bounded amount of working memory on top of the
state itself.
"""

from __future__ import annotations

import numpy as np

from cpwl._filtered import _REL, _SLACK, _TINY, _U, Propagation, _row_max, grown, log2_bound
from cpwl.errors import ShapeError

#: Working memory for the gathered patches of one chunk of pieces.
CHUNK_BYTES = 2**28


def apply(state: Propagation, layer) -> None:
    """Push the state through a convolution."""
    if state.width != layer.in_features:
        raise ShapeError(f"{layer!r} takes {layer.in_features} inputs, the map has {state.width}")
    patches = layer._patches  # (groups, positions, taps), index in_features: a zero
    groups, positions, taps = patches.shape
    out = layer.kernel_shape[0]
    n, P = state._mod.count, state.pieces
    work = 8.0 * positions * taps * (2 * n + 3)
    chunk = max(1, int(CHUNK_BYTES // work))
    state.check_memory(8.0 * out * positions * (2 * n + 4) + work * min(chunk, P) / P, P, f"{layer!r} on {P} pieces")
    form = layer._matrix.float_form
    Wf, bf, exact = form.weight, form.bias, form.exact
    WTR, bR, den = layer._matrix._residues(state._mod)
    bias = bR * state._mod.of_int(state._D)[:, None]  # below 2**42: added before one reduction
    Af, Cf = np.empty((P, out * positions)), np.empty((P, out * positions))
    R = np.empty((n, 2, P, out * positions))
    for lo in range(0, P, chunk):
        hi = min(P, lo + chunk)
        Af[lo:hi] = _floats(state._Af[lo:hi], patches, Wf)
        Cf[lo:hi] = _floats(state._Cf[lo:hi], patches, Wf) + np.repeat(bf, positions)[None, :]
        R[:, :, lo:hi] = _residues(state, state._R[:, :, lo:hi], patches, WTR, bias)
    rel = 0.0 if exact else _REL
    gamma = taps * _U / (1 - taps * _U) + rel
    w1 = float(np.abs(Wf).sum(axis=1).max()) * (1 + rel)
    with np.errstate(all="ignore"):
        eA = (state._eA * w1 + gamma * w1 * _row_max(state._Af)) * _SLACK + _TINY
        eC = (
            state._eC * w1 + gamma * w1 * _row_max(state._Cf) + rel * float(np.abs(bf).max()) + _U * _row_max(Cf)
        ) * _SLACK + _TINY
    state._Af, state._Cf, state._eA, state._eC, state._R = Af, Cf, eA, eC, R
    state._D *= den


def _pad(M: np.ndarray) -> np.ndarray:
    return np.concatenate([M, np.zeros(M.shape[:-1] + (1,))], axis=-1)


def _floats(M: np.ndarray, patches: np.ndarray, Wf: np.ndarray) -> np.ndarray:
    """``(pieces, out * positions)`` float64 convolution of the rows of ``M`` (row-major
    ``(out, H', W')`` outputs)."""
    groups = patches.shape[0]
    out_g = Wf.shape[0] // groups
    padded = _pad(M)
    with np.errstate(all="ignore"):
        blocks = [padded[:, patches[g]] @ Wf[g * out_g : (g + 1) * out_g].T for g in range(groups)]
    return np.concatenate(blocks, axis=2).transpose(0, 2, 1).reshape(len(M), -1)


def _residues(state: Propagation, R: np.ndarray, patches: np.ndarray, WTR: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Exact residues of the convolution of ``R`` ``(primes, 2, pieces, inputs)``, the bias
    (times the denominator) added to the offsets."""
    n, _, P, _ = R.shape
    groups, positions, taps = patches.shape
    out_g = WTR.shape[2] // groups
    padded = _pad(R)
    blocks = []
    for g in range(groups):
        cols = slice(g * out_g, (g + 1) * out_g)
        gathered = padded[:, :, :, patches[g]].reshape(n, 2 * P * positions, taps)
        prod = state._mod.matmul(gathered, np.ascontiguousarray(WTR[:, :, cols]), add=(P * positions, bias[:, cols]))
        blocks.append(prod.reshape(n, 2, P, positions, out_g))
    return np.concatenate(blocks, axis=4).transpose(0, 1, 2, 4, 3).reshape(n, 2, P, -1)


def growth(layer, width, log_mag, D) -> tuple:
    """As an affine layer with the kernel's rows: ``|out| <= max row sum |K| * |in| + |b|``."""
    form = layer._matrix.float_form
    w = float(np.abs(form.weight).sum(axis=1).max())
    b = float(np.abs(form.bias).max()) if form.bias.size else 0.0
    return grown(layer.check_width(width), max(log_mag + log2_bound(w), log2_bound(b)) + 1, D * layer._matrix._den)
