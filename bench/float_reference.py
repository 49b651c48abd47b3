"""A vectorised float64 numpy line restriction of ReLU MLPs: what a float tool does, as a
speed and agreement baseline (values at vertices; sign changes between consecutive vertices
become new vertices by linear interpolation)."""

from __future__ import annotations

import numpy as np


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
