"""Building blocks for the meanings in the table: the exact layers that recur across modules.

A per-sample shape is a tuple: ``(n,)`` for a feature vector, ``(C, H, W)`` for a feature map;
every exact layer acts on the row-major flattening.  The *channel* axis is axis 0 of the
per-sample shape (dimension 1 of the batched tensor).

Examples:
    >>> import torch
    >>> from torch import nn
    >>> layers, out_shape = dense(torch.eye(2), None, (2,), nn.Linear(2, 2))
    >>> out_shape
    (2,)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Optional

import numpy as np
import torch
from torch import nn

from cpwl import Affine, Gather
from cpwl import activations as exact
from cpwl.errors import NumberError, ShapeError, UnsupportedModuleError

__all__ = [
    "as_numpy",
    "channel_axis",
    "channelwise",
    "dense",
    "elementwise",
    "grouped",
    "index_map",
    "negative_part",
    "numel",
    "spread",
]


def numel(shape: tuple) -> int:
    """Entries of one sample."""
    return math.prod(shape)


def as_numpy(module: nn.Module, name: str, value: torch.Tensor) -> np.ndarray:
    """A parameter as a float64 numpy array (exact: every torch float of at most 64 bits is a
    float64), refusing NaN, infinity and non-float dtypes with the module named."""
    if not isinstance(value, torch.Tensor) or not value.dtype.is_floating_point:
        raise UnsupportedModuleError(
            f"{type(module).__name__}: {name} must be a real floating-point tensor, got "
            f"{getattr(value, 'dtype', type(value))}"
        )
    array = value.detach().cpu().double().numpy()
    if not np.isfinite(array).all():
        raise NumberError(f"{type(module).__name__}: {name} holds NaN or infinity")
    return array


def dense(W: torch.Tensor, b: Optional[torch.Tensor], shape: tuple, module: nn.Module) -> tuple:
    """``x -> W x + b`` on a flat input of ``W.shape[1]`` features."""
    if len(shape) != 1 or shape[0] != W.shape[1]:
        raise ShapeError(
            f"{type(module).__name__} takes flat inputs of {W.shape[1]} features, got per-sample shape {shape}"
        )
    bias = None if b is None else as_numpy(module, "bias", b)
    return [Affine(as_numpy(module, "weight", W), bias)], (W.shape[0],)


def channel_axis(shape: tuple, module: nn.Module) -> int:
    """The channel count, checking that ``shape`` has one."""
    if not shape:
        raise ShapeError(f"{type(module).__name__} needs a channel dimension, got per-sample shape {shape}")
    return shape[0]


def channelwise(functions: list, shape: tuple) -> exact.Elementwise:
    """One scalar CPWL per channel, applied at every position of a ``(C, ...)`` sample."""
    if len(functions) != shape[0]:
        raise ShapeError(f"{len(functions)} per-channel functions for {shape[0]} channels")
    return exact.Elementwise(functions, repeat=numel(shape[1:]))


def grouped(shape: tuple, axis: int, layer, order: Optional[list] = None) -> list:
    """A layer that acts on consecutive groups of entries (``MaxMin("adjacent")``,
    ``GroupSort``, ``Householder``), applied to the entries along ``axis`` at every other
    position, those entries taken in ``order`` (default: as stored).  Returns the gathers that
    bring the groups together and put the results back, around ``layer``."""
    size = numel(shape)
    moved = np.moveaxis(np.arange(size).reshape(shape), axis, -1)
    if order is not None:
        moved = moved[..., order]
    forward = moved.reshape(-1).tolist()
    if forward == list(range(size)):
        return [layer]
    inverse = [0] * size
    for position, source in enumerate(forward):
        inverse[source] = position
    return [Gather(forward, size), layer, Gather(inverse, size)]


def index_map(function: Callable, shape: tuple) -> tuple:
    """``(Gather, out_shape)`` for a function that only moves, copies or zero-pads entries (a
    reshape, a channel selection, space-to-depth...): it is applied to a probe of positions
    (:func:`nets._graph.probe`) and to the same probe reversed; anything it writes that is
    neither zero nor a position is refused, and so is a function whose moves depend on the
    values (a sort, a max), which the two probes tell apart."""
    from nets._graph import index_gather, probe

    size = numel(shape)
    values = probe(size)
    indices = []
    for order in (np.arange(size), np.arange(size)[::-1]):
        out = function(torch.from_numpy(values[order].copy()).reshape(1, *shape))
        if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[0] != 1:
            raise ShapeError(f"an index operation on per-sample shape {shape} changed the batch layout")
        found = index_gather(out.detach().to(torch.float64).numpy(), size, "an operation assumed to move entries")
        position = np.argsort(order)  # the input position that holds probe value number i
        indices.append([None if i is None else int(position[i]) for i in found])
    if indices[0] != indices[1]:
        raise UnsupportedModuleError("an operation assumed to move entries moves them depending on their values")
    return Gather(indices[0], size), tuple(out.shape[1:])


#: Activation whose value is ``max(-y, 0)`` (the second half of deel-torchlip's MaxMin).
negative_part = exact.two_piece(0, -1, 0)


def spread(layer: exact.Elementwise, shape: tuple) -> exact.Elementwise:
    """An elementwise layer over the channels of a ``(C, ...)`` sample: a broadcast layer as
    it is, a per-channel one repeated over the positions of each channel."""
    if layer.width is None:
        return layer
    return channelwise(list(layer.functions), shape)


def elementwise(module: nn.Module, shape: tuple) -> tuple:
    """The meaning of an elementwise activation module whose ``exact_layer()`` gives its exact
    layer along the channels."""
    return [spread(module.exact_layer(), shape)], shape
