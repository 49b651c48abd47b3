"""Part 4: exact export time against the number of output breakpoints, over a width sweep
and a depth sweep, with the fitted exponent ``time ~ breakpoints^k``."""

from __future__ import annotations

import numpy as np

from bench import networks
from bench._timing import median_time

LO, HI = -4.0, 4.0


def sweep(shapes: list, repeats: int) -> dict:
    """Times and breakpoints for ``(width, depth)`` shapes; ``exponent`` is the least-squares
    slope of log time against log breakpoints."""
    rows = []
    for width, depth in shapes:
        weights = networks.mlp_weights(width, depth, "spectral")
        seconds, f = median_time(
            lambda: networks.exact_network(weights).to_cpwl(domain=(LO, HI), canonical=False), repeats
        )
        rows.append({"network": f"{width}x{depth}", "breakpoints": len(f.breakpoints), "exact_s": seconds})
    x = np.log([max(r["breakpoints"], 1) for r in rows])
    y = np.log([r["exact_s"] for r in rows])
    exponent = float(np.polyfit(x, y, 1)[0]) if len(rows) > 1 and np.ptp(x) > 0 else None
    return {"rows": rows, "exponent": exponent}
