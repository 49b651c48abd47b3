"""Line restriction in segments: the parameter interval is cut into sub-segments, each one
restricted on its own, and the pieces joined exactly.

This bounds memory (a segment holds only its own pieces) and is the unit of parallel work.
Cuts come from two places.  ``segments=K`` cuts ``[lo, hi]`` into ``K`` equal parts up front
(run by ``workers`` processes); such a junction is kept as a breakpoint where the pieces on
its two sides differ (a neuron that changes piece exactly at a junction without changing the
output there is the one thing not listed).  And when a step of the exact engine would exceed
the memory budget (:func:`cpwl.memory_limit`), the engine's state is split where it
stands: the first half of its pieces goes on through the remaining layers while the second
half waits, then the second half; nothing is computed twice, and the map is the one the
whole segment gives, breakpoint for breakpoint.  (A state of a single piece is cut at its
middle instead; that junction is like an up-front one.)

Examples:
    >>> from cpwl import Affine, Network, activations, memory_limit
    >>> net = Network([Affine([[1], [1]], [0, "-1/2"]), activations.relu(), Affine([[1, 1]])])
    >>> net.to_cpwl(domain=(-1, 1), segments=3).breakpoints
    (Fraction(0, 1), Fraction(1, 2))
    >>> with memory_limit(800):            # too small for the whole line: cut in halves
    ...     net.to_cpwl(domain=(-1, 1)).breakpoints
    (Fraction(0, 1), Fraction(1, 2))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import numpy as np
from gmpy2 import mpq

from cpwl.device import current as current_device
from cpwl.device import residue_device
from cpwl.errors import InvalidArgument, MemoryLimitError
from cpwl.interval import Interval
from cpwl.limits import _BYTES, _LIMIT, breakpoint_limit, check_breakpoints, memory_limit

__all__ = ["join", "restrict"]

#: A segment is cut in half at most this many times in a row.
MAX_HALVINGS = 30


def restrict(layers: Sequence, F, segments: Optional[int] = None, workers: int = 1):
    """The exact image of ``F`` (a map without breakpoints on a bounded domain, such as a
    line) through ``layers``, computed segment by segment (see the module docstring); with
    ``workers > 1`` the first ``segments`` cuts run in that many processes."""
    count = _count(segments, "segments")
    workers = _count(workers, "workers")
    domain = F._domain
    if count == 1 and workers == 1:
        return _job(layers, F, domain._lo, domain._hi)
    if domain._lo is None or domain._hi is None:
        raise InvalidArgument(f"segments and workers need a bounded domain, got {domain}")
    if F._bps:
        raise InvalidArgument("segments cut a map without breakpoints (a line or the identity)")
    lo, hi = domain._lo, domain._hi
    cuts = [lo + (hi - lo) * mpq(k, count) for k in range(count + 1)]
    jobs = [(layers, F, a, b) for a, b in zip(cuts, cuts[1:])]
    if workers == 1:
        parts = [_job(*job) for job in jobs]
    else:
        parts = _in_processes(jobs, workers)
    joined = join(parts)
    check_breakpoints(len(joined._bps))
    return joined


def _count(value, name: str) -> int:
    if value is None:
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgument(f"{name} must be a positive int, got {value!r}")
    return value


def _on(F, a, b):
    """``F`` (no breakpoints) on ``[a, b]``."""
    return type(F)._raw([], F._A, F._C, F._D, Interval(a, b))


def _job(layers, F, a, b):
    from cpwl.network import propagate

    return propagate(layers, F if (a, b) == (F._domain._lo, F._domain._hi) else _on(F, a, b))


def _run(engine, layers: Sequence, first: int = 0, depth: int = 0):
    """Push the engine's state through ``layers[first:]``; when a step would exceed the memory
    budget on more than one piece, split the state and run each half on (see the module
    docstring).  Returns the exact map."""
    from cpwl.network import layer_errors

    for i in range(first, len(layers)):
        try:
            with layer_errors(i, layers[i]):
                engine.apply(layers[i])
        except MemoryLimitError as err:
            halves = _split(engine, err, depth)
            if halves is None:
                raise
            left, right, at_breakpoint = halves
            del engine
            left._held += right.own_bytes()
            first_part = _run(left, layers, i, depth + 1)
            del left
            return join([first_part, _run(right, layers, i, depth + 1)], keep_junctions=at_breakpoint)
    return engine.result()


def _split(engine, err: MemoryLimitError, depth: int):
    """``(left, right, at_breakpoint)``: the two halves of the engine's state, split at its
    middle breakpoint (or, for a single piece, at the middle of a bounded domain); ``None``
    when splitting cannot help: a step that does not fit on one piece, one piece that a
    step splits in two only, an unbounded single piece, or too many halvings."""
    if not err.pieces or err.pieces <= 1 or depth >= MAX_HALVINGS:
        return None
    if engine.pieces > 1:
        return (*engine.split(engine.pieces // 2), True)
    if engine._domain._lo is None or engine._domain._hi is None or err.pieces <= 2:
        return None
    return (*engine.split(0), False)


def join(parts: Sequence, keep_junctions: bool = False):
    """Maps on consecutive closed intervals (each ending where the next starts, equal there)
    joined into one map; a junction is a breakpoint where the pieces on its sides differ (or
    always, with ``keep_junctions``: a split of the engine's state happens at a breakpoint).

    Examples:
        >>> from cpwl import CPWLMap, Interval, Network, Affine, activations
        >>> f = Network([Affine([[1]]), activations.abs_()])
        >>> parts = [f.apply_map(CPWLMap.identity(Interval(a, b))) for a, b in ((-1, 1), (1, 2))]
        >>> join(parts).breakpoints       # the kink at 0 stays; nothing bends at 1
        (Fraction(0, 1),)
    """
    from cpwl.cpwl_map import CPWLMap

    D = math.lcm(*(p._D for p in parts))
    bps, A, C, last = [], [], [], None
    for part in parts:
        a, c = part._A * (D // part._D), part._C * (D // part._D)
        if last is not None and not keep_junctions and (last[0] == a[0]).all() and (last[1] == c[0]).all():
            a, c = a[1:], c[1:]  # the same piece goes on across the junction
        elif last is not None:
            bps.append(part._domain._lo)
        bps.extend(part._bps)
        A.append(a)
        C.append(c)
        last = (part._A[-1] * (D // part._D), part._C[-1] * (D // part._D))
    domain = Interval(parts[0]._domain._lo, parts[-1]._domain._hi)
    return CPWLMap._raw(bps, np.concatenate(A), np.concatenate(C), D, domain)


def _in_processes(jobs: list, workers: int) -> list:
    """Run the segment jobs in a pool of fresh processes, with this process's limits and
    residue device."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    limits = (_BYTES.get(), _LIMIT.get(), current_device())
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        return list(pool.map(_limited_job, [(limits, job) for job in jobs]))


def _limited_job(payload):
    (max_bytes, max_breakpoints, device), job = payload
    with memory_limit(max_bytes), breakpoint_limit(max_breakpoints), residue_device(device):
        return _job(*job)
