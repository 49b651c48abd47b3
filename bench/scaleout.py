"""Part 7: exact line certificates for many input pairs, in one process against a local pool
of two processes and a local Ray instance with two workers (``nets.certify.scaleout``): the
same certificates (checked), and the wall-clock ratio."""

from __future__ import annotations

import time

import torch

from nets import LipschitzMLP
from nets.certify.scaleout import line_certificates
from nets.experiments.digits import load


def compare(pairs: int = 2000, shard_size: int = 50) -> dict:
    """Time ``pairs`` exact line certificates of a digits-sized MLP (64-64-64-10, MaxMin) between
    held-out digits and their neighbours, in-process, with ``workers=2`` and with Ray (when
    installed); every run must return the same certificates."""
    _, _, x_test, _ = (t.flatten(1) if t.dtype.is_floating_point else t for t in load())
    torch.manual_seed(0)
    model = LipschitzMLP([64, 64, 64, 10], activation="maxmin", layer="aol").eval()
    starts = x_test[torch.arange(pairs) % len(x_test)]
    ends = x_test[(torch.arange(pairs) * 7 + 3) % len(x_test)]
    jobs = list(zip(starts, ends))
    runs = {"in_process": {}, "workers_2": {"workers": 2}}
    try:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        runs["ray_2"] = {"ray": "local"}
    except ImportError:
        ray = None
    out, reference = {"pairs": pairs, "shard_size": shard_size}, None
    try:
        for name, executor in runs.items():
            start = time.perf_counter()
            certificates = line_certificates(model, jobs, shard_size=shard_size, **executor)
            out[f"{name}_s"] = time.perf_counter() - start
            reference = certificates if reference is None else reference
            out[f"{name}_identical"] = certificates == reference
        out["label_changes"] = sum(c.t is not None for c in reference)
    finally:
        if ray is not None:
            ray.shutdown()
    for name in runs:
        if name != "in_process":
            out[f"{name}_speedup"] = out["in_process_s"] / out[f"{name}_s"]
    return out
