"""Resource guards: exact exports stop with a clear error instead of exhausting memory.

The limit is a context variable, so it applies to every path that refines a map (networks,
line restrictions, graph importers) without threading an argument through each of them.

Example:
    >>> from cpwl import Affine, Network, activations
    >>> net = Network([Affine([[1], [1]], [0, "-1/2"]), activations.relu(), Affine([[1, 1]])])
    >>> with breakpoint_limit(1):
    ...     net.to_cpwl()
    Traceback (most recent call last):
    ...
    cpwl.limits.BreakpointLimitError: layer 1 (...): the export reached 2 breakpoints, more than max_breakpoints=1; ...
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Optional

from cpwl.errors import CPWLError

__all__ = ["BreakpointLimitError", "DEFAULT_MAX_BREAKPOINTS", "breakpoint_limit", "check_breakpoints"]

#: Default cap on the breakpoints of one exact map (about a few GB for width-256 layers).
DEFAULT_MAX_BREAKPOINTS = 200_000

_LIMIT: contextvars.ContextVar = contextvars.ContextVar("max_breakpoints", default=DEFAULT_MAX_BREAKPOINTS)


class BreakpointLimitError(CPWLError, RuntimeError):
    """An exact map would have more breakpoints than the configured limit."""


@contextlib.contextmanager
def breakpoint_limit(max_breakpoints: Optional[int]):
    """Within the block, exact maps may have at most ``max_breakpoints`` breakpoints
    (``None``: no limit)."""
    if max_breakpoints is not None and (not isinstance(max_breakpoints, int) or max_breakpoints < 0):
        raise ValueError(f"max_breakpoints must be a non-negative int or None, got {max_breakpoints!r}")
    token = _LIMIT.set(max_breakpoints)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def check_breakpoints(count: int) -> None:
    """Raise :class:`BreakpointLimitError` if ``count`` exceeds the current limit."""
    limit = _LIMIT.get()
    if limit is not None and count > limit:
        raise BreakpointLimitError(
            f"the export reached {count} breakpoints, more than max_breakpoints={limit}; "
            "raise the limit (cpwl.breakpoint_limit) or restrict the domain"
        )
