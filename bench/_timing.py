"""Median wall-clock time of repeated calls, with a cap for slow peers."""

from __future__ import annotations

import signal
import statistics
import time
from collections.abc import Callable
from typing import Optional


class TimeCap(Exception):
    """A call ran past its cap."""


def median_time(fn: Callable, repeats: int = 3) -> tuple:
    """``(median seconds, last result)`` of ``repeats`` calls of ``fn()``."""
    times, result = [], None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def capped_time(fn: Callable, cap_s: int) -> tuple:
    """``(seconds, result)`` of one call of ``fn()``, or ``(None, None)`` if it ran past
    ``cap_s`` seconds (a SIGALRM interrupts it; main thread, Unix only)."""

    def _stop(signum, frame):
        raise TimeCap

    previous = signal.signal(signal.SIGALRM, _stop)
    signal.alarm(cap_s)
    try:
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result
    except TimeCap:
        return None, None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    """``numerator / denominator`` or ``None`` when either is missing."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator
