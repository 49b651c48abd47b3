"""Export trained torch models to exact :mod:`cpwl` objects.

Every module goes through the one translation table (:mod:`nets.semantics`): its deployed
weights are read through their parametrizations in evaluation mode (AOL rescaling,
orthogonal parametrizations, Björck iterations...) and converted exactly (a float is a dyadic
rational); the export reads no hidden state that a forward pass would change, restores the
module's train/eval mode, and mutates nothing.  Anything the table does not know, or whose
behaviour was changed (an overridden ``forward``, a hook), is refused with
:class:`cpwl.UnsupportedModuleError`.  Convolutions stay convolutions
(:class:`cpwl.Conv2d`); the result of every call is computed by :class:`cpwl.Network`.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> net = to_network(model)
    >>> len(net.layers)
    3
"""

from __future__ import annotations

import contextlib
from typing import Optional

import numpy as np
import torch
from torch import nn

import cpwl
from cpwl import Network
from cpwl.errors import InvalidArgument, ShapeError, UnsupportedModuleError
from cpwl.rationals import as_rational
from nets.semantics import evaluation_mode, translate

__all__ = [
    "UnsupportedModuleError",
    "evaluation_mode",
    "exact_point",
    "line_points",
    "model_device",
    "restrict_to_line",
    "to_cpwl",
    "to_network",
]


def to_network(module: nn.Module, input_dim: Optional[int] = None, input_shape=None) -> Network:
    """The exact :class:`cpwl.Network` of a torch model, for per-sample inputs of
    ``input_shape`` (``input_dim`` is the flat special case; both default to what the model
    records or its first dense layer takes).

    Examples:
        >>> import nets
        >>> net = to_network(nets.LipschitzMLP([2, 4, 1], activation="maxmin"))
        >>> [type(layer).__name__ for layer in net.layers]
        ['Affine', 'MaxMin', 'Affine']
    """
    return translate(module, input_shape if input_shape is not None else input_dim).network()


def to_cpwl(module: nn.Module, domain=None, canonical: bool = True):
    """The exact function of a scalar-input model on ``domain`` (a CPWL, or a CPWLMap for
    several outputs).

    Examples:
        >>> model = nn.Sequential(nn.Linear(1, 1), nn.ReLU())
        >>> with torch.no_grad():
        ...     _ = model[0].weight.fill_(1.0), model[0].bias.fill_(-0.5)
        >>> to_cpwl(model).breakpoints
        (Fraction(1, 2),)
    """
    network = translate(module, 1).network()
    with model_device(module):
        return network.to_cpwl(domain, canonical=canonical)


def model_device(module: nn.Module):
    """A context in which the exact residue products run on the model's GPU
    (:func:`cpwl.residue_device`) when its parameters live on one and no residue device is
    set already; elsewhere, nothing changes.

    Examples:
        >>> with model_device(nn.Linear(2, 2)):    # a CPU model: numpy products, as before
        ...     cpwl.device.current() is None
        True
    """
    devices = {tensor.device for tensor in (*module.parameters(), *module.buffers())}
    cuda = [device for device in devices if device.type == "cuda"]
    if cpwl.device.current() is not None or len(cuda) != 1:
        return contextlib.nullcontext()
    return cpwl.residue_device(cuda[0])


def exact_point(value, name: str = "point") -> tuple:
    """``(values, shape)``: the exact rationals (``gmpy2.mpq``, row-major) and the shape of one
    input given as a tensor, a numpy array (of any float width, long double included), a
    nested list, or a sequence of ``Fraction``/``int``/strings like ``"1/3"``; never rounded.
    NaN and infinity raise :class:`cpwl.NumberError`.

    Examples:
        >>> vals, shape = exact_point([["1/3", 0.5]])
        >>> [str(v) for v in vals], shape
        (['1/3', '1/2'], (1, 2))
    """
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise InvalidArgument(f"{name} must be real, got dtype {value.dtype}")
        tensor = value.detach().cpu()
        array = tensor.double().numpy() if tensor.dtype.is_floating_point else tensor.numpy()
    elif isinstance(value, np.ndarray):
        array = value
    else:
        array = np.asarray(value, dtype=object)
    return [as_rational(v) for v in array.reshape(-1)], tuple(array.shape) or (1,)


def restrict_to_line(
    module: nn.Module,
    start,
    end,
    canonical: bool = False,
    input_shape=None,
    segments: Optional[int] = None,
    workers: int = 1,
) -> cpwl.CPWLMap:
    """The exact outputs of a model along ``start + t (end - start)``, ``t`` in ``[0, 1]``.

    ``start`` and ``end`` are one input each (no batch dimension), given exactly: tensors,
    numpy arrays (long doubles included), nested lists or sequences of Fractions, ints or
    strings such as ``"1/3"``; nothing is rounded.  Their shape is the model's per-sample
    input shape (a flat point is reshaped to ``input_shape`` or to the shape the model
    records).  By default every breakpoint where some neuron changes piece is kept
    (``canonical=True`` keeps only the outputs' kinks).  ``segments`` and ``workers`` cut
    ``[0, 1]`` into equal parts run by that many processes; a part whose working memory
    would exceed :func:`cpwl.memory_limit` is cut in half (see :mod:`cpwl.segments`).

    Examples:
        >>> model = nn.Sequential(nn.Linear(2, 1), nn.ReLU())
        >>> with torch.no_grad():
        ...     _ = model[0].weight.fill_(1.0), model[0].bias.zero_()
        >>> restrict_to_line(model, [-1, -1], [1, 1]).breakpoints
        (Fraction(1, 2),)
    """
    a, b, shape = line_points(module, start, end, input_shape)
    network = translate(module, shape).network()
    with model_device(module):
        return network.restrict_to_line(a, b, canonical=canonical, segments=segments, workers=workers)


def line_points(module: nn.Module, start, end, input_shape=None) -> tuple:
    """``(start, end, shape)``: both points taken exactly (flat) and the per-sample input
    shape the segment is read in: the points' own shape, or ``input_shape`` (else the shape the model
    records) for flat points of that size.  :class:`ShapeError` if ``start`` and ``end``
    differ in shape.

    Examples:
        >>> line_points(nn.Linear(4, 1), [[0, 1], [2, 3]], [[1, 1], [1, 1]])[2]
        (2, 2)
        >>> line_points(nn.Linear(4, 1), [0, 1, 2, 3], [1, 1, 1, 1], input_shape=(2, 2))[2]
        (2, 2)
    """
    a, shape_a = exact_point(start, "start")
    b, shape_b = exact_point(end, "end")
    if shape_a != shape_b:
        raise ShapeError(f"start and end must have the same shape, got {shape_a} and {shape_b}")
    recorded = input_shape if input_shape is not None else getattr(module, "input_shape", None)
    flat_for_a_map = recorded is not None and len(shape_a) == 1 and int(np.prod(recorded)) == len(a)
    return a, b, tuple(recorded) if flat_for_a_map else shape_a
