"""Resource guards: exact computations stop with a typed error instead of exhausting the machine.

Two knobs, both context variables, so they apply to every path that refines a map (networks,
line restrictions, graph importers) without threading an argument through each of them:

* :func:`breakpoint_limit` caps the breakpoints of one exact map;
* :func:`memory_limit` caps the bytes one step may allocate.  Every engine step estimates its
  working arrays *before* allocating them and raises :class:`MemoryLimitError` when the
  estimate exceeds the budget.

Examples:
    >>> from cpwl import Affine, Network, activations
    >>> net = Network([Affine([[1], [1]], [0, "-1/2"]), activations.relu(), Affine([[1, 1]])])
    >>> with breakpoint_limit(1):
    ...     net.to_cpwl()
    Traceback (most recent call last):
    ...
    cpwl.errors.BreakpointLimitError: layer 1 (...): the export reached 2 breakpoints, more than max_breakpoints=1; ...
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Optional

from cpwl.errors import BreakpointLimitError, InvalidArgument, MemoryLimitError

__all__ = [
    "DEFAULT_MAX_BREAKPOINTS",
    "DEFAULT_MAX_BYTES",
    "breakpoint_limit",
    "check_breakpoints",
    "check_memory",
    "current_breakpoint_limit",
    "memory_limit",
]

#: Default cap on the breakpoints of one exact map.
DEFAULT_MAX_BREAKPOINTS = 200_000
#: Default cap on the working memory of one exact step (4 GiB).
DEFAULT_MAX_BYTES = 4 * 2**30

_LIMIT: contextvars.ContextVar = contextvars.ContextVar("max_breakpoints", default=DEFAULT_MAX_BREAKPOINTS)
_BYTES: contextvars.ContextVar = contextvars.ContextVar("max_bytes", default=DEFAULT_MAX_BYTES)


def _checked(value, name: str) -> Optional[int]:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise InvalidArgument(f"{name} must be a non-negative int or None, got {value!r}")
    return value


@contextlib.contextmanager
def breakpoint_limit(max_breakpoints: Optional[int]):
    """Within the block, exact maps may have at most ``max_breakpoints`` breakpoints
    (``None``: no limit).

    Examples:
        >>> with breakpoint_limit(10):
        ...     pass
    """
    token = _LIMIT.set(_checked(max_breakpoints, "max_breakpoints"))
    try:
        yield
    finally:
        _LIMIT.reset(token)


@contextlib.contextmanager
def memory_limit(max_bytes: Optional[int]):
    """Within the block, one exact step may allocate at most ``max_bytes`` bytes of working
    arrays (``None``: no limit; the default is :data:`DEFAULT_MAX_BYTES`).

    Examples:
        >>> from cpwl import Affine, Network, activations
        >>> net = Network([Affine([[1], [1]], [0, "-1/2"]), activations.relu(), Affine([[1, 1]])])
        >>> with memory_limit(100):
        ...     net.to_cpwl()
        Traceback (most recent call last):
        ...
        cpwl.errors.MemoryLimitError: ...needs about ... bytes, more than max_bytes=100; ...
    """
    token = _BYTES.set(_checked(max_bytes, "max_bytes"))
    try:
        yield
    finally:
        _BYTES.reset(token)


def current_breakpoint_limit() -> Optional[int]:
    """The breakpoint limit in force here (``None``: no limit).

    Examples:
        >>> with breakpoint_limit(7):
        ...     current_breakpoint_limit()
        7
    """
    return _LIMIT.get()


def check_breakpoints(count: int) -> None:
    """Raise :class:`BreakpointLimitError` if ``count`` exceeds the current limit."""
    limit = current_breakpoint_limit()
    if limit is not None and count > limit:
        raise BreakpointLimitError(
            f"the export reached {count} breakpoints, more than max_breakpoints={limit}; "
            "raise the limit (cpwl.breakpoint_limit) or restrict the domain"
        )


def check_memory(nbytes: float, what: str, pieces: Optional[int] = None) -> None:
    """Raise :class:`MemoryLimitError` if a step that allocates about ``nbytes`` bytes (for
    ``what``) would exceed the current budget.  Call it *before* allocating.  ``pieces``: the
    pieces of the map the step works on, when known (the error keeps it; a line restriction
    splits its segment when a step over several pieces does not fit)."""
    limit = _BYTES.get()
    if limit is not None and nbytes > limit:
        raise _memory_error(
            f"{what} needs about {int(nbytes)} bytes, more than max_bytes={limit}; raise the budget "
            "(cpwl.memory_limit), restrict the domain or shorten the segment",
            pieces,
        )


def _memory_error(message: str, pieces: Optional[int]) -> MemoryLimitError:
    # built here, not in a local of the raising frame: a raised exception held by that frame
    # is a reference cycle, which would keep the failed step's arrays alive until the next
    # garbage collection (a halved segment would then hold its failed attempt)
    err = MemoryLimitError(message)
    err.pieces = pieces
    return err
