"""Progress of long loops: a bar on a terminal, plain lines elsewhere, nothing when off.

A log file or a CI console gets one line per tenth of the work (``training MaxMin: 60/600``)
instead of a bar redrawn with carriage returns into one unreadable line.

Examples:
    >>> total = 0
    >>> for k in progress(range(3), "adding", enabled=False):
    ...     total += k
    >>> total
    3
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Optional

__all__ = ["progress"]


def progress(items: Iterable, label: str, enabled: bool = True, total: Optional[int] = None, stream=None) -> Iterator:
    """Iterate over ``items`` showing ``label`` and how far the loop is, on ``stream``
    (standard error by default): a tqdm bar on a terminal, otherwise a line at every tenth.

    Examples:
        >>> import io
        >>> out = io.StringIO()
        >>> list(progress(range(4), "steps", stream=out))
        [0, 1, 2, 3]
        >>> out.getvalue().splitlines()[-1]
        'steps: 4/4'
    """
    stream = sys.stderr if stream is None else stream
    if not enabled:
        yield from items
        return
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    if getattr(stream, "isatty", lambda: False)():
        from tqdm.auto import tqdm

        yield from tqdm(items, desc=label, total=total, file=stream, leave=False)
        return
    step = max(1, (total or 10) // 10)
    done = 0
    for item in items:
        yield item
        done += 1
        if done % step == 0 or done == total:
            print(f"{label}: {done}/{total}" if total else f"{label}: {done}", file=stream, flush=True)
