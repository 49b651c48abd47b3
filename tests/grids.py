"""Weights on coarse binary grids: the test networks whose neurons cross at the same points."""

from __future__ import annotations

import numpy as np


def grid(rng, shape, bits: int, scale: float = 1.0) -> np.ndarray:
    """Float32 normal values times ``scale``, rounded to the grid ``2**-bits`` (coarse grids:
    many exact coincidences, so simultaneous crossings)."""
    return (np.round(rng.normal(size=shape) * scale * 2**bits) / 2**bits).astype(np.float32)
