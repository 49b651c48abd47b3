"""Private engine: refine a CPWLMap where linear forms of its components cross levels.

Every activation (elementwise or vector) is piecewise linear with pieces cut out by
hyperplanes ``form(z) = level``.  Applying it to a map ``F`` restricted to a line needs:

1. the signs of ``form(F(t)) - level`` at the current breakpoints and domain ends
   (``±inf`` ends use the sign of the slope),
2. the crossing points strictly inside a piece (opposite signs at the two ends), computed
   exactly as ``(level * D - C) / A``,
3. the refined breakpoints, each new piece's parent piece, and one exact sample point inside
   each new piece, at which the activation's active piece is read off.

All arithmetic is on integers: a map is ``(A x + C) / D`` per piece, ``A, C`` integer object
arrays and ``D`` a positive integer; a point ``x = n / d`` with ``d > 0``.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
from gmpy2 import mpq

from cpwl import _intarrays, _pieces
from cpwl.limits import check_breakpoints, check_memory


def point_arrays(points) -> tuple:
    """Numerators and (positive) denominators of a list of mpq as object arrays."""
    return _intarrays.ints([q.numerator for q in points]), _intarrays.ints([q.denominator for q in points])


def numerators_at(A, C, piece_idx, points) -> tuple:
    """Exact values of every column at ``points``: returns ``(N, d)`` with value
    ``N[j, i] / (D * d[j])``, reading piece ``piece_idx[j]``."""
    n, d = point_arrays(points)
    return A[piece_idx] * n[:, None] + C[piece_idx] * d[:, None], d


def signs_at_ends(bps, A, C, D, domain, lev_n, lev_d, valid) -> np.ndarray:
    """Signs of ``column - level`` at the extended points (domain lo, breakpoints, hi).

    ``lev_n, lev_d``: object arrays (m, k) of level numerators / positive denominators;
    ``valid``: bool (m, k).  Returns int8 (m, len(bps) + 2, k); invalid levels give 0.
    """
    m, k = lev_n.shape
    n_pts = len(bps) + 2
    out = np.zeros((m, n_pts, k), dtype=np.int8)
    finite, rows, idx = [], [], []
    if domain._lo is not None:
        finite.append(domain._lo), rows.append(0), idx.append(0)
    for j, t in enumerate(bps):
        finite.append(t), rows.append(j + 1), idx.append(j)
    if domain._hi is not None:
        finite.append(domain._hi), rows.append(n_pts - 1), idx.append(len(bps))
    if finite:
        N, d = numerators_at(A, C, np.array(idx), finite)
        for r in range(m):
            diff = N * lev_d[r][None, :] - (lev_n[r] * D)[None, :] * d[:, None]
            out[r, rows] = _intarrays.sign(diff)
    for r in range(m):
        if domain._lo is None:
            out[r, 0] = _tail_sign(A[0], C[0], D, lev_n[r], lev_d[r], -1)
        if domain._hi is None:
            out[r, -1] = _tail_sign(A[-1], C[-1], D, lev_n[r], lev_d[r], +1)
    out[~np.broadcast_to(valid[:, None, :], out.shape)] = 0
    return out


def _tail_sign(a, c, D, ln, ld, direction) -> np.ndarray:
    slope_sign = _intarrays.sign(a) * direction
    flat_sign = _intarrays.sign(c * ld - ln * D)
    return np.where(slope_sign != 0, slope_sign, flat_sign).astype(np.int8)


def crossings(bps, A, C, D, domain, lev_n, lev_d, valid) -> list:
    """Exact points strictly inside a piece where some column crosses one of its levels."""
    signs = signs_at_ends(bps, A, C, D, domain, lev_n, lev_d, valid)
    hits = np.nonzero(signs[:, :-1, :] * signs[:, 1:, :] < 0)
    found = set()
    for r, p, i in zip(*hits):
        a, c = A[p, i], C[p, i]
        found.add(mpq(int(lev_n[r, i] * D - lev_d[r, i] * c), int(lev_d[r, i] * a)))
    return list(found)


def refine(bps, A, C, domain, new_points, D: int) -> tuple:
    """Insert ``new_points``; returns ``(bps, A, C, samples)`` for the refined pieces, where
    ``samples`` holds one exact point strictly inside each new piece.  The working arrays of
    the activation that follows (about six of pieces x width integers of the size of ``D``)
    are checked against the memory budget first."""
    check_breakpoints(len(bps) + len(new_points))
    pieces = len(bps) + len(new_points) + 1
    check_memory(
        _intarrays.object_bytes(6 * pieces * A.shape[1], D.bit_length() + 64),
        f"refining {pieces} pieces of width {A.shape[1]}",
    )
    merged = _pieces.merge_breakpoints(domain, bps, new_points)
    samples = _pieces.sample_points(merged, domain)
    if len(merged) == len(bps):
        return list(bps), A, C, samples
    parents = np.array([bisect_right(bps, m) for m in samples])
    return merged, A[parents], C[parents], samples


def level_index(N, d, D, lev_n, lev_d, valid) -> np.ndarray:
    """For values ``N / (D d)`` (a sample point per row), how many valid levels lie strictly
    below each value: the index of the active piece of a multi-level activation."""
    count = np.zeros(N.shape, dtype=np.int64)
    for r in range(lev_n.shape[0]):
        above = (N * lev_d[r][None, :] - (lev_n[r] * D)[None, :] * d[:, None]) > 0
        count += (above & valid[r][None, :]).astype(np.int64)
    return count
