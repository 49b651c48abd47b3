"""Parts 1 and 2: exact line restriction against regioncam (Rust, float32) and the float64
vertex reference on ReLU MLPs, and against the float64 vertex reference alone on the
activations regioncam lacks."""

from __future__ import annotations

import numpy as np

from bench import float_reference, networks
from bench._timing import median_time, ratio

LO, HI = -4.0, 4.0


def _regioncam(model) -> np.ndarray:
    """regioncam's breakpoints on ``[LO, HI]`` (it spans the middle 75% of its two points)."""
    import regioncam

    points = np.array([[LO], [HI]], dtype=np.float32) / np.float32(0.75)
    cam = regioncam.Regioncam1D.through_points(points)
    cam.add(regioncam.nn.convert(model))
    return np.asarray(cam.inputs, dtype=np.float64)[1:-1]


def _agreement(exact: tuple, other: np.ndarray) -> dict:
    ours = np.array([float(t) for t in exact])
    same = len(ours) == len(other)
    gap = float(np.max(np.abs(np.sort(other) - ours), initial=0.0)) if same else None
    return {"breakpoints": int(len(other)), "same_count": same, "max_position_gap": gap}


def relu_row(width: int, depth: int, init: str, repeats: int) -> dict:
    """Exact vs regioncam vs float64 on one ReLU MLP (the exact time includes reading the
    float32 weights into the exact network)."""
    weights = networks.mlp_weights(width, depth, init)
    exact_s, f = median_time(lambda: networks.exact_network(weights).to_cpwl(domain=(LO, HI), canonical=False), repeats)
    model = networks.torch_relu_mlp(weights)
    cam_s, cam = median_time(lambda: _regioncam(model), repeats)
    ref_s, ref = median_time(lambda: float_reference.relu_breakpoints(weights, LO, HI), repeats)
    return {
        "network": f"{width}x{depth}",
        "init": init,
        "breakpoints": len(f.breakpoints),
        "exact_s": exact_s,
        "regioncam_s": cam_s,
        "float64_s": ref_s,
        "exact_over_regioncam": ratio(exact_s, cam_s),
        "exact_over_float64": ratio(exact_s, ref_s),
        "regioncam": _agreement(f.breakpoints, cam),
        "float64": _agreement(f.breakpoints, ref),
    }


def activation_row(width: int, depth: int, activation: str, repeats: int) -> dict:
    """The exact engine against the float64 vertex reference of the same network (no peer
    restricts these activations; the exact network is built once, as a user restricting
    many lines would)."""
    weights = networks.mlp_weights(width, depth, "spectral")
    net = networks.exact_network(weights, activation)
    exact_s, f = median_time(lambda: net.to_cpwl(domain=(LO, HI), canonical=False), repeats)
    ref_s, ref = median_time(lambda: float_reference.line_breakpoints(net, [0.0], [1.0], LO, HI), repeats)
    return {
        "network": f"{width}x{depth}",
        "activation": activation,
        "breakpoints": len(f.breakpoints),
        "exact_s": exact_s,
        "float64_s": ref_s,
        "exact_over_float64": ratio(exact_s, ref_s),
        "float64": _agreement(f.breakpoints, ref),
    }
