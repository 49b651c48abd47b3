"""matplotlib plots of CPWL functions (imported lazily; headless-safe with the Agg backend)."""

from __future__ import annotations

import numpy as np


def _plot_range(f) -> tuple:
    ts = [float(t) for t in f._bps]
    lo = float(f.domain._lo) if f.domain._lo is not None else None
    hi = float(f.domain._hi) if f.domain._hi is not None else None
    span = (max(ts) - min(ts)) if len(ts) > 1 else 1.0
    if lo is None:
        lo = (min(ts) if ts else (hi - 2.0 if hi is not None else -1.0)) - 0.25 * span
    if hi is None:
        hi = (max(ts) if ts else lo + 2.0) + 0.25 * span
    return lo, hi


def plot_cpwl(f, ax=None, breakpoints: bool = True, **kwargs):
    """Draw ``f`` over its domain (unbounded ends: a quarter of the breakpoint span beyond
    the outermost breakpoint) with its breakpoints marked; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    lo, hi = _plot_range(f)
    xs = np.array(sorted({lo, hi, *(float(t) for t in f._bps)}))
    (line,) = ax.plot(xs, f.evaluate(xs), **kwargs)
    if breakpoints and f._bps:
        ts = np.array([float(t) for t in f._bps])
        ax.plot(ts, f.evaluate(ts), "o", color=line.get_color(), markersize=4)
    return ax
