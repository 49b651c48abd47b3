"""Certification jobs larger than one process: the test set (certified robust accuracy) or
the list of input pairs (exact line certificates) is cut into shards, the shards run in this
process, in a local pool of processes (``workers=N``) or as tasks on a Ray cluster
(``ray="auto"`` or an address), and the results are merged in shard order.

Every executor gives the same answer, bit for bit: the shards are the same whatever runs
them, each shard runs its float passes with one torch thread, the Lipschitz bound is proven
once (here) and sent with every shard, and line certificates are exact.  The model travels as
the bytes of its :mod:`nets.model_file` file (or of its ONNX or ``.pt2`` file), so no
shared file system is needed.  A shard
whose worker dies is run again (a local pool is restarted; Ray retries the task), so nothing
is lost or counted twice.

Examples:
    >>> import torch, nets
    >>> model = nets.LipschitzMLP([2, 4, 3], activation="maxmin", layer="aol")
    >>> x, y = torch.randn(10, 2), torch.zeros(10, dtype=torch.long)
    >>> reports = certified_accuracy(model, x, y, ["1/10", 0.5], shard_size=4)
    >>> [r.eps for r in reports]
    [Fraction(1, 10), Fraction(1, 2)]
    >>> certificates = line_certificates(model, [([0, 0], [1, 1]), ([0, 0], [-1, 2])])
    >>> len(certificates)
    2
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from fractions import Fraction
from typing import Optional, Union

import torch
from torch import nn

from cpwl.errors import InvalidArgument
from cpwl.layer import norm_name
from cpwl.rationals import as_fraction
from nets._graph import importer_for
from nets.certify.first_change import LineCertifier
from nets.certify.line import certificate_of, line_certificate
from nets.certify.lipschitz import lipschitz_certificate
from nets.certify.robustness import Certifier, RobustnessReport
from nets.export import line_points
from nets.progress import progress as show_progress

__all__ = ["certified_accuracy", "line_certificates"]

#: how often a shard is run again after its worker died
RETRIES = 3


def certified_accuracy(
    model,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    radii: Sequence,
    *,
    norm=2,
    lipschitz: Optional[Fraction] = None,
    shard_size: int = 512,
    workers: Optional[int] = None,
    ray: Optional[str] = None,
    progress: Union[bool, str] = False,
) -> list:
    """One :class:`RobustnessReport` per radius for ``inputs`` with ``labels``, computed in
    shards of ``shard_size`` samples (see the module text for ``workers`` and ``ray``).
    ``model`` is a :mod:`nets` model, the path of its model file, a
    :class:`nets.graph_model.GraphModel`, or the path of an ONNX or ``.pt2`` file."""
    data, module = _model_bytes(model)
    if lipschitz is None:
        lipschitz = lipschitz_certificate(module, tuple(inputs.shape[1:]), norm).bound
    radii = list(radii)
    shards = [
        (data, inputs[k : k + shard_size].cpu(), labels[k : k + shard_size].cpu(), radii, norm, lipschitz)
        for k in range(0, len(inputs), _positive(shard_size, "shard_size"))
    ]
    parts = _run(_accuracy_shard, shards, workers, ray, progress, f"certifying {len(inputs)} samples: shards")
    return [
        RobustnessReport.from_masks(
            as_fraction(eps),
            as_fraction(lipschitz),
            sum((part[k][0] for part in parts), ()),
            sum((part[k][1] for part in parts), ()),
            norm_name(norm),
        )
        for k, eps in enumerate(radii)
    ]


def line_certificates(
    model,
    pairs: Sequence,
    *,
    shard_size: int = 8,
    workers: Optional[int] = None,
    ray: Optional[str] = None,
    progress: Union[bool, str] = False,
    lipschitz: bool = True,
) -> list:
    """The exact :class:`nets.certify.LineCertificate` of every ``(start, end)`` pair, in
    order, computed in shards of ``shard_size`` pairs.  ``model`` is a :mod:`nets` model, the
    path of its model file, or the path of an ONNX (``.onnx``) or torch.export (``.pt2``)
    file.  ``lipschitz=False``: certificates without the Lipschitz constant along the
    segment, each shard preparing one :class:`nets.certify.LineCertifier` that restricts
    the model exactly only where the label may first change (as ``line_certificate(...,
    lipschitz=False)``)."""
    # a graph file's own bytes: lines need no chain of layers (_model_bytes would build one)
    data = _graph_bytes(model) if importer_for(model) is not None else _model_bytes(model)[0]
    pairs = [(start, end) for start, end in pairs]  # any exact form line_certificate takes
    size = _positive(shard_size, "shard_size")
    shards = [(data, pairs[k : k + size], bool(lipschitz)) for k in range(0, len(pairs), size)]
    parts = _run(_lines_shard, shards, workers, ray, progress, f"line certificates for {len(pairs)} pairs: shards")
    return [certificate for part in parts for certificate in part]


# ---------------------------------------------------------------------- the shards
def _accuracy_shard(data, x, y, radii, norm, lipschitz) -> list:
    with _one_thread():
        module = _module(data)
        reports = Certifier(module, tuple(x.shape[1:]), norm=norm, lipschitz=lipschitz).reports(x, y, radii)
    return [(r.certified_mask, r.naive_mask) for r in reports]


def _lines_shard(data, pairs: list, lipschitz: bool) -> list:
    with _one_thread():
        if not lipschitz:
            module = _module(data)
            certifier = LineCertifier(module, line_points(module, *pairs[0])[2])
            return [certifier.certificate(start, end) for start, end in pairs]
        if isinstance(data, tuple):  # a graph file: (its suffix, its bytes)
            suffix, raw = data
            importer = importer_for(f"model{suffix}")
            return [certificate_of(importer.restrict_to_line(raw, start, end), start, end) for start, end in pairs]
        module = _module(data)
        return [line_certificate(module, start, end) for start, end in pairs]


def _module(data) -> nn.Module:
    """The model a shard's bytes hold: a graph file's ``(suffix, bytes)`` or a model file's bytes."""
    if isinstance(data, tuple):
        from nets.graph_model import GraphModel

        return GraphModel(data[1], data[0])
    from nets.model_file import load

    return load(data)


@contextmanager
def _one_thread():
    """Float passes with one torch thread, so a shard computes the same floats anywhere."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------- executors
def _run(task, shards: list, workers, ray, progress, label) -> list:
    """Every shard's result, in shard order, from the chosen executor."""
    if workers is not None and ray is not None:
        raise InvalidArgument("give workers (a local pool) or ray (a cluster), not both")
    if ray is not None:
        completed = _on_ray(task, shards, ray)
    elif workers is not None and _positive(workers, "workers") > 1:
        completed = _on_processes(task, shards, workers)
    else:
        completed = ((k, task(*shard)) for k, shard in enumerate(shards))
    results = dict(show_progress(completed, label, enabled=bool(progress), total=len(shards)))
    return [results[k] for k in range(len(shards))]


def _on_processes(task, shards: list, workers: int) -> Iterator:
    """``(index, result)`` as shards finish in a local pool of spawned processes; a pool
    broken by a dead worker is replaced and the shards without a result are run again."""
    import multiprocessing

    finished: set = set()
    context = multiprocessing.get_context("spawn")
    for attempt in range(RETRIES + 1):
        pending = [k for k in range(len(shards)) if k not in finished]
        if not pending:
            return
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(task, *shards[k]): k for k in pending}
            try:
                for future in as_completed(futures):
                    result = future.result()
                    finished.add(futures[future])
                    yield futures[future], result
            except BrokenProcessPool:
                if attempt == RETRIES:
                    raise


def _on_ray(task, shards: list, address: str) -> Iterator:
    """``(index, result)`` as Ray tasks finish (one CPU each, one GPU each when the cluster
    has GPUs); Ray runs a task again when its worker dies."""
    try:
        import ray
    except ImportError as err:
        raise InvalidArgument("ray is not installed: pip install 'lipcpwl[ray]'") from err
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=RETRIES)(task)
    refs = [remote.remote(*shard) for shard in shards]
    index = {ref: k for k, ref in enumerate(refs)}
    waiting = list(refs)
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        yield index[done[0]], ray.get(done[0])


# ---------------------------------------------------------------------- helpers
def _model_bytes(model) -> tuple:
    """What the shards load (a model file's bytes, or a graph file's ``(suffix, bytes)``) and
    the model itself."""
    from nets.graph_model import GraphModel
    from nets.model_file import load, save

    if isinstance(model, GraphModel):
        return model.source, model
    if importer_for(model) is not None:
        graph = GraphModel(model)
        return graph.source, graph
    if isinstance(model, nn.Module):
        buffer = io.BytesIO()
        save(model, buffer)
        data = buffer.getvalue()
    else:
        with open(model, "rb") as handle:
            data = handle.read()
    return data, load(data)


def _graph_bytes(path) -> tuple:
    """``(suffix, bytes)`` of a graph file, checked readable by its importer."""
    import pathlib

    importer_for(path).load(path)  # a clear ModelFileError for a missing or unreadable file
    return pathlib.Path(path).suffix, pathlib.Path(path).read_bytes()


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"{name} must be a positive int, got {value!r}")
    return value
