"""Rough timing of the exact export (``Network.to_cpwl``) on spectral-normalised float32 ReLU
MLPs, median of repeats.  ``python -m bench.export_timing`` (``--quick`` for a smoke run).

Side-by-side comparisons with peers (regioncam, a float64 reference, sympy) belong to the
benchmark issue; this script only tracks our own export speed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from cpwl import Affine, Network, activations

SIZES = ((16, 2), (64, 3), (256, 4))


def relu_mlp(width: int, depth: int, seed: int) -> Network:
    """A scalar-input ReLU MLP with float32 weights scaled to spectral norm just below 1."""
    rng = np.random.default_rng(seed)
    dims = [1] + [width] * depth + [1]
    layers = []
    for k in range(len(dims) - 1):
        W = rng.standard_normal((dims[k + 1], dims[k])).astype(np.float32)
        W /= np.float32(np.linalg.norm(W, 2) * 1.0001)
        layers.append(Affine(W, (0.1 * rng.standard_normal(dims[k + 1])).astype(np.float32)))
        if k < len(dims) - 2:
            layers.append(activations.relu())
    return Network(layers)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smallest size, one repeat")
    args = parser.parse_args(argv)
    sizes, repeats = (SIZES[:1], 1) if args.quick else (SIZES, args.repeats)
    print("| ReLU MLP | breakpoints on [-4, 4] | median seconds |")
    print("|---|---|---|")
    for width, depth in sizes:
        net = relu_mlp(width, depth, seed=0)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            f = net.to_cpwl(domain=(-4, 4), canonical=False)
            times.append(time.perf_counter() - start)
        print(f"| {width}x{depth} | {len(f.breakpoints)} | {statistics.median(times):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
