"""A float64 numpy line restriction of ReLU MLPs: the straightforward layer-by-layer piece
splitting that float tools do, used as an independent reference for breakpoint positions."""

import numpy as np


def relu_mlp_breakpoints(weights, biases, start, end):
    """Breakpoint parameters ``t`` in (0, 1) of a ReLU MLP (ReLU after every layer but the
    last) along ``start + t (end - start)``, in float64."""
    bps = np.array([0.0, 1.0])
    slope = np.asarray(end, float) - np.asarray(start, float)  # per piece: z = slope * t + icpt
    A = slope[None, :]
    C = np.asarray(start, float)[None, :]
    for k, (W, b) in enumerate(zip(weights, biases)):
        A, C = A @ W.T, C @ W.T + b
        if k == len(weights) - 1:
            break
        new_bps, rows_A, rows_C = [bps[0]], [], []
        for p in range(len(bps) - 1):
            lo, hi = bps[p], bps[p + 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                roots = -C[p] / A[p]
            cuts = np.unique(roots[(roots > lo) & (roots < hi)])
            ends = [lo, *cuts, hi]
            for u, v in zip(ends[:-1], ends[1:]):
                mid = (u + v) / 2
                active = (A[p] * mid + C[p]) > 0
                rows_A.append(A[p] * active)
                rows_C.append(C[p] * active)
                new_bps.append(v)
        bps, A, C = np.array(new_bps), np.array(rows_A), np.array(rows_C)
    return bps[1:-1]
