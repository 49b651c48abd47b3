"""Part 9: the first label change along a segment, exactly, against regioncam's float32
restriction of the same segment: a ReLU MLP 64 -> 1024^4 -> 10 (spectral init, float32
weights), on segments between two random points of the unit cube (the label rarely changes
there), between two random points of norm about 64, and between two such points the model
labels differently (so the label changes).

Contenders, interleaved round by round: regioncam (Rust, float32, the whole segment),
``LineCertifier.first_change`` (the float64 screen covers the segment and the exact engine
restricts the model only near the first change; prepared once), ``line_certificate(...,
lipschitz=False)`` (the same search, preparing its certifier in every call), and what
``line_certificate`` computes by default (the exact restriction of the whole segment, its
first change and the Lipschitz constant along it).  Every round checks that the lazy and the
whole exact answers agree exactly, and reports how much of the segment was restricted
exactly.
"""

from __future__ import annotations

import statistics
import time
from fractions import Fraction

import numpy as np

from bench import networks
from nets.certify.first_change import LineCertifier
from nets.certify.line import first_loss, line_certificate
from nets.semantics import translate


def _regioncam(model, a: np.ndarray, b: np.ndarray):
    """regioncam's restriction of ``[a, b]`` (it spans the middle 75% of its two points)."""
    import regioncam

    points = np.stack([a - (b - a) / 6, b + (b - a) / 6]).astype(np.float32)
    cam = regioncam.Regioncam1D.through_points(points)
    cam.add(regioncam.nn.convert(model))
    return cam


def _first_change_of(F):
    """``(label, t)`` from an exact restriction of the whole segment (``line_certificate``'s
    reading of it)."""
    scores = F(0)
    top = max(scores)
    if scores.count(top) > 1:
        return None, Fraction(0)
    label = scores.index(top)
    return label, first_loss(F, label)


KINDS = ("unit cube", "far points", "different labels")


def _segment(kind: str, model, rng) -> tuple:
    import torch

    while True:
        draw = (lambda: rng.random(64)) if kind == "unit cube" else (lambda: 8 * rng.standard_normal(64))  # noqa: E731
        a, b = draw().astype(np.float32), draw().astype(np.float32)
        if kind != "different labels":
            return a, b
        with torch.no_grad():
            labels = model(torch.from_numpy(np.stack([a, b]))).argmax(dim=1)
        if labels[0] != labels[1]:
            return a, b


def compare(width: int = 1024, depth: int = 4, per_kind: int = 2, rounds: int = 3) -> dict:
    """``per_kind`` segments of each of ``KINDS``, medians over ``rounds`` interleaved rounds."""
    weights = networks.mlp_weights(width, depth, "spectral", inputs=64, outputs=10)
    model = networks.torch_relu_mlp(weights)
    start = time.perf_counter()
    certifier = LineCertifier(model, (64,))
    prepare_s = time.perf_counter() - start
    network = translate(model, (64,)).network()
    rng = np.random.default_rng(0)
    rows = []
    for kind in [kind for kind in KINDS for _ in range(per_kind)]:
        a, b = _segment(kind, model, rng)
        times = {"regioncam": [], "first_change": [], "one_call": [], "whole_exact": []}
        for _ in range(rounds):
            t0 = time.perf_counter()
            cam = _regioncam(model, a, b)
            t1 = time.perf_counter()
            lazy = certifier.first_change(a, b)
            t2 = time.perf_counter()
            one_call = line_certificate(model, a, b, lipschitz=False)
            t3 = time.perf_counter()
            whole = network.restrict_to_line(a.astype(np.float64), b.astype(np.float64), canonical=False)
            label, t = _first_change_of(whole)
            t4 = time.perf_counter()
            times["regioncam"].append(t1 - t0)
            times["first_change"].append(t2 - t1)
            times["one_call"].append(t3 - t2)
            times["whole_exact"].append(t4 - t3)
        seconds = {k: statistics.median(v) for k, v in times.items()}
        rows.append(
            {
                "segment": kind,
                "label": label,
                "t": None if t is None else float(t),
                "same_answer": (lazy.label, lazy.t) == (one_call.label, one_call.t) == (label, t),
                "exact_fraction_of_segment": float(sum(hi - lo for lo, hi in lazy.exact_window)),
                "whole_breakpoints": len(whole.breakpoints),
                "regioncam_regions": int(cam.num_vertices) - 1 if hasattr(cam, "num_vertices") else None,
                **{f"{k}_s": v for k, v in seconds.items()},
                "first_change_over_regioncam": seconds["first_change"] / seconds["regioncam"],
                "one_call_over_regioncam": seconds["one_call"] / seconds["regioncam"],
                "whole_exact_over_regioncam": seconds["whole_exact"] / seconds["regioncam"],
            }
        )
    return {
        "network": f"ReLU 64-{width}x{depth}-10, spectral init, float32 weights",
        "lipschitz_bound": float(certifier.lipschitz),
        "prepare_s": prepare_s,
        "rows": rows,
    }
