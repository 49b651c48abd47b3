"""Private: the fast engine's steps for the vector activations (MaxMin, GroupSort, Householder).

Both act on groups of channels and change piece where a linear form of the group crosses 0:
the difference of two channels (sorting) or the projection ``V·z`` on the normal
(Householder).  The engine refines the line at those crossings with the same proven float
filter as for elementwise layers (the forms are :meth:`Propagation.combined`), reads the
exact signs inside every new piece, and then permutes (sorting) or reflects (Householder) each
group piece by piece in floats, with a proven bound; the exact part (the state's event sums,
:mod:`cpwl._events`) follows the same permutations and reflections.  The integers follow
each layer's ``apply_map`` convention, so the result is the reference map bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from cpwl import _intarrays, _modular
from cpwl._filtered import _REL, _SLACK, _TINY, _U, Levels, Propagation, _row_max, grown


# ---------------------------------------------------------------------- sorting layers
def apply_sorting(state: Propagation, layer) -> None:
    """MaxMin / GroupSort: each group of channels sorted, piece by piece (run on the stored
    columns: the groups are mapped through a pending permutation)."""
    G = state.storage(layer.groups(state.width))
    size = G.shape[1]
    if size == 1:
        return
    a, b = np.triu_indices(size, k=1)  # every pair of positions inside a group
    index = np.stack([G[:, a].ravel(), G[:, b].ravel()], axis=1)
    ones = np.ones(len(index), dtype=np.int64)
    coef = _intarrays.ints(np.stack([ones, -ones], axis=1).ravel().tolist(), index.shape)
    pairs = state.combined(index, coef)
    parents, signs = state.refine(
        pairs,
        Levels.zeros(len(index)),
        8.0 * (state.width * (4 * state._mod.count + 6) + 4 * len(index)),
        f"{layer!r} of width {state.width}",
    )
    sign = signs[0].reshape(len(parents), G.shape[0], len(a))  # sign of z_a - z_b per pair
    rank = np.zeros((len(parents), G.shape[0], size), dtype=np.int64)  # ascending rank, ties by position
    for q in range(len(a)):
        rank[:, :, a[q]] += sign[:, :, q] > 0
        rank[:, :, b[q]] += sign[:, :, q] <= 0
    position = size - 1 - rank if layer.descending else rank  # ties: equal forms, either order is the same map
    source = np.empty_like(rank)
    np.put_along_axis(source, position, np.broadcast_to(G, rank.shape), axis=2)
    cols = np.empty((len(parents), state._Af.shape[1]), dtype=np.int64)
    cols[:, G.ravel()] = source.reshape(len(parents), -1)
    rows = parents[:, None]
    state._Af, state._Cf = state._Af[rows, cols], state._Cf[rows, cols]  # a permutation: the bounds stay
    state._eA, state._eC = state._eA[parents], state._eC[parents]
    state._permute_residues(parents, cols, G)


def sorting_growth(layer, width, log_mag, D) -> tuple:
    """A permutation on every piece: nothing grows."""
    return grown(layer.check_width(width), log_mag, D)


# ---------------------------------------------------------------------- Householder
def apply_householder(state: Propagation, layer) -> None:
    """``z`` where ``V·z >= 0``, ``z - 2 (V·z) V / n`` elsewhere, group by group."""
    width = state.width
    vs, norms = layer.normals(width)
    g = layer.group_size
    G = np.arange(width).reshape(-1, g)
    V = _intarrays.ints([x for v in vs for x in v], G.shape)
    projections = state.combined(G, V)
    parents, signs = state.refine(
        projections,
        Levels.zeros(len(G)),
        8.0 * (width * (6 * state._mod.count + 8) + 4 * len(G)),
        f"{layer!r} of width {width}",
    )
    reflect = signs[0] < 0  # (pieces, groups)
    common = math.lcm(*norms)
    factor = _intarrays.ints([2 * common // n for n in norms])
    _reflect_floats(state, layer, parents, reflect, G)
    mod = state._mod
    state._reflect_residues(
        parents, reflect, G, _modular.residues(V, mod.primes), _modular.residues(factor, mod.primes), common
    )
    state._D *= common


def _reflect_floats(state: Propagation, layer, parents, reflect, G) -> None:
    v, c, exact = layer.float_normals(state.width)
    rel = 0.0 if exact else _REL
    g = G.shape[1]
    # |H z|_inf <= h |z|_inf for H = I - c v v^T
    h = (1 + float((np.abs(c) * np.abs(v).max(axis=1) * np.abs(v).sum(axis=1)).max())) * (1 + rel) ** 3
    flip = np.where(reflect, c[None, :], 0.0)
    for name, err in (("_Af", "_eA"), ("_Cf", "_eC")):
        M = getattr(state, name)[parents]
        with np.errstate(all="ignore"):
            proj = sum(v[None, :, j] * M[:, G[:, j]] for j in range(g)) * flip
            out = M.copy()
            for j in range(g):
                out[:, G[:, j]] -= proj * v[None, :, j]
            bound = (h * getattr(state, err)[parents] + (g + 6) * (_U + rel) * h * _row_max(M)) * _SLACK + _TINY
        setattr(state, name, out)
        setattr(state, err, bound)


def reflected(mod, R: np.ndarray, reflect: np.ndarray, G, VR: np.ndarray, FR: np.ndarray, common: int) -> np.ndarray:
    """Residues of ``common * z - factor (V·z) V`` in the groups ``G`` where ``reflect``
    (``(rows, groups)``), ``common * z`` elsewhere, for residue rows ``R`` of shape
    ``(primes, a, rows, width)``; ``VR``, ``FR``: residues of the normals ``V`` (groups x
    group size) and of the factors (one per group)."""
    p = mod.shaped(3)
    proj = mod.reduce(sum(R[:, :, :, G[:, j]] * VR[:, None, None, :, j] for j in range(G.shape[1])))
    proj = mod.reduce(proj * FR[:, None, None, :]) * reflect[None, None]
    out = mod.reduce(R * mod.of_int(common)[:, None, None, None])
    for j in range(G.shape[1]):
        out[:, :, :, G[:, j]] = mod.reduce(out[:, :, :, G[:, j]] + p - mod.reduce(proj * VR[:, None, None, :, j]))
    return out


def householder_growth(layer, width, log_mag, D) -> tuple:
    """``|H z|_inf <= (1 + 2 max|V| sum|V| / n) |z|_inf``; the denominator gains ``lcm(n)``."""
    vs, norms = layer.normals(layer.check_width(width))
    # log2 of 1 + 2 max|V| sum|V| / n, rounded up through bit lengths (the integers can be huge)
    log_h = max(
        (2 * max(abs(x) for x in V) * sum(abs(x) for x in V) + n).bit_length() - n.bit_length() + 1
        for V, n in zip(vs, norms)
    )
    return grown(width, log_mag + log_h + 1, D * math.lcm(*norms))
