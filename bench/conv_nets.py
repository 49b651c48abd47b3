"""Part 8: exact line restriction of trained conv nets (the paper's ``SimplifiedConvNet``)
between two input images, against the float64 vertex reference, with peak memory.

The nets are trained briefly (Adam, a few hundred steps at most) on scikit-learn's digits
scaled up to the input size and copied to three channels: random-init AOL convs are identity
maps (Dirac init), under which every MaxMin after the first is already sorted, which is not
what a trained net does.  Each contender runs in a fresh process, so its peak resident memory
is its own; the exact run works under :func:`cpwl.memory_limit` (segments are halved when a
step would not fit).  Where CUDA is present the exact engine runs a second time with its
residue products on the GPU (:func:`cpwl.residue_device`), and its breakpoints must equal the
CPU run's, exactly."""

from __future__ import annotations

import io
import multiprocessing
import resource
import time
from typing import Optional

import numpy as np
import torch

#: The sizes of the part: (input size, base width, blocks, training images, epochs).
FULL = [(16, 16, 4, 1024, 3), (32, 32, 5, 512, 1)]
QUICK = [(8, 8, 3, 64, 1)]


def digits(size: int, count: int) -> tuple:
    """``count`` digits as ``(count, 3, size, size)`` float32 images in [0, 1] and labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = data.images[:count] / 16.0
    scale = size // 8
    up = np.kron(images, np.ones((scale, scale))) if scale > 1 else images
    x = torch.tensor(np.repeat(up[:, None], 3, axis=1), dtype=torch.float32)
    return x, torch.tensor(data.target[:count])


def trained_net(size: int, base: int, blocks: int, images: int, epochs: int, seed: int = 0):
    """A ``SimplifiedConvNet`` trained on digits, and two test images of different labels."""
    import nets
    from nets.train import fit

    torch.manual_seed(seed)
    model = nets.SimplifiedConvNet(3, 10, base_width=base, blocks=blocks, layers_per_block=2)
    x, y = digits(size, images + 50)
    fit(
        model,
        x[:images],
        y[:images],
        loss="ce",
        epochs=epochs,
        batch_size=32,
        optimizer="adam",
        lr=1e-3,
        progress=False,
    )
    model.eval()
    test_x, test_y = x[images:], y[images:]
    other = int(torch.nonzero(test_y != test_y[0])[0])
    return model, test_x[0], test_x[other]


def _exact(payload, device=None) -> dict:
    """The exact restriction, its residue products on ``device`` (``None``: numpy on the CPU)."""
    import pickle

    from cpwl import memory_limit, residue_device

    net, start, end, budget = pickle.loads(payload)
    t0 = time.perf_counter()
    with memory_limit(budget), residue_device(device):
        F = net.restrict_to_line(start, end, canonical=False)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "breakpoints": [float(t) for t in F.breakpoints],
        "exact_breakpoints": [str(t) for t in F.breakpoints],
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "device_peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
    }


def _float(payload) -> dict:
    import pickle

    from bench import float_reference

    net, start, end, _ = pickle.loads(payload)
    t0 = time.perf_counter()
    bps = float_reference.line_breakpoints(net, start, end)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "breakpoints": bps.tolist(),
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def _in_fresh_process(fn, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(fn, args)


def row(
    size: int,
    base: int,
    blocks: int,
    images: int,
    epochs: int,
    budget_gib: float = 4.0,
    with_float: bool = True,
    on_cpu: bool = True,
    on_gpu: Optional[bool] = None,
) -> dict:
    """Train, export, and restrict the net to the segment between two test digits, each
    contender in its own process: the exact engine on the CPU (``on_cpu``), the exact engine
    with its residue products on the GPU (``on_gpu``; default: when CUDA is present), and
    (``with_float``) the float64 vertex reference.  The GPU's breakpoints are compared with
    the CPU's exactly when both ran."""
    import pickle

    from nets.export import to_network

    on_gpu = torch.cuda.is_available() if on_gpu is None else on_gpu
    t0 = time.perf_counter()
    model, a, b = trained_net(size, base, blocks, images, epochs)
    train_s = time.perf_counter() - t0
    net = to_network(model, input_shape=(3, size, size))
    start, end = a.flatten().double().numpy(), b.flatten().double().numpy()
    buffer = io.BytesIO()
    pickle.dump((net, start.tolist(), end.tolist(), int(budget_gib * 2**30)), buffer)
    payload = buffer.getvalue()
    out = {
        "network": f"3x{size}x{size}, base {base}, {blocks} blocks",
        "activation_layers": 1 + 2 * blocks,
        "train_s": train_s,
        "budget_gib": budget_gib,
    }
    exact = _in_fresh_process(_exact, payload) if on_cpu else None
    gpu = _in_fresh_process(_exact, payload, "cuda") if on_gpu else None
    first = exact or gpu
    if first is None:
        return out
    out.update(breakpoints=len(first["breakpoints"]))
    if exact:
        out.update(exact_s=exact["seconds"], exact_peak_gib=exact["peak_gib"])
    if gpu:
        out.update(gpu_s=gpu["seconds"], gpu_peak_gib=gpu["peak_gib"], gpu_device_peak_gib=gpu["device_peak_gib"])
        if exact:
            out.update(gpu_same_breakpoints=gpu["exact_breakpoints"] == exact["exact_breakpoints"])
    if with_float:
        ref = _in_fresh_process(_float, payload)
        ours, theirs = np.array(first["breakpoints"]), np.sort(np.array(ref["breakpoints"]))
        same = len(ours) == len(theirs)
        out.update(
            float64_s=ref["seconds"],
            float64_peak_gib=ref["peak_gib"],
            exact_over_float64=exact["seconds"] / ref["seconds"] if exact else None,
            float64={
                "breakpoints": len(theirs),
                "same_count": same,
                "max_position_gap": float(np.max(np.abs(ours - theirs), initial=0.0)) if same else None,
            },
        )
    return out


def compare(quick: bool) -> list:
    """Every row of the part."""
    sizes = QUICK if quick else FULL
    return [row(*cfg, with_float=cfg[0] <= 16) for cfg in sizes]
