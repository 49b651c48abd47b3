"""Where the exact residue products run: numpy on the CPU (the default), or torch on a
device such as a CUDA GPU.

The heavy part of an exact restriction is a float64 matrix product (or convolution) of
residues per dense (or convolution) layer.  Every sum in it is an integer below ``2**53``
(see :mod:`cpwl._modular`), so it is exact in any order, with or without fused
multiply-adds: the same integers come back from numpy, from torch on the CPU and from
torch on a GPU (cuDNN is switched off around the convolutions: its FFT and Winograd
algorithms are not sums of products).  Everything else — the float filter, the
refinement, the reductions and the Chinese remainders — stays on the CPU.

Examples:
    >>> from cpwl import Affine, Network, activations
    >>> net = Network([Affine([[1], [1]], [0, "-1/2"]), activations.relu(), Affine([[1, 1]])])
    >>> with residue_device("cpu"):            # torch's CPU products: the same map
    ...     net.to_cpwl() == net.to_cpwl()
    True
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Optional

from cpwl.errors import InvalidArgument

__all__ = ["residue_device"]

_DEVICE: contextvars.ContextVar = contextvars.ContextVar("residue_device", default=None)


@contextlib.contextmanager
def residue_device(device):
    """Within the block, exact residue products run with torch on ``device`` (``"cpu"``,
    ``"cuda"``, ``"cuda:1"`` or such a ``torch.device``); ``None`` keeps numpy on the CPU.
    :class:`InvalidArgument` for a device torch does not know or cannot reach.

    Examples:
        >>> with residue_device(None):
        ...     pass
        >>> with residue_device("tpu:7"):
        ...     pass
        Traceback (most recent call last):
        ...
        cpwl.errors.InvalidArgument: residue_device: torch cannot run float64 products on 'tpu:7' (...)
    """
    token = _DEVICE.set(_checked(device))
    try:
        yield
    finally:
        _DEVICE.reset(token)


def _checked(device):
    if device is None:
        return None
    import torch

    try:
        checked = torch.device(device)
        if checked.type not in ("cpu", "cuda"):
            raise RuntimeError("only 'cpu' and 'cuda' devices compute float64 products here")
        torch.zeros(1, dtype=torch.float64, device=checked)  # reachable
    except (RuntimeError, TypeError, AssertionError) as err:
        raise InvalidArgument(f"residue_device: torch cannot run float64 products on {device!r} ({err})") from None
    return checked


def current() -> Optional[object]:
    """The torch device of the residue products, or ``None`` (numpy on the CPU)."""
    return _DEVICE.get()
