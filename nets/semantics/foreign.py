"""The exact meaning of modules from other 1-Lipschitz libraries, each library's convention
written out (DESIGN.md principle 5).  Classes are registered by qualified name, so none of
these libraries needs to be installed.  Their linear layers subclass ``nn.Linear`` with
weights behind :mod:`torch.nn.utils.parametrize`, so the stock ``nn.Linear`` entry reads their
deployed weights; the entries below are their activations and the layers that compute
something else.

| library | module | meaning |
|---|---|---|
| deel-torchlip | ``MaxMin`` | ``cat(relu(x), relu(-x))`` along the channels: doubles them |
| deel-torchlip | ``GroupSort(group_size)``, ``GroupSort2``, ``FullSort`` | sort groups of a given *size* along the channels, ascending |
| deel-torchlip | ``PadConv2d`` (and ``SpectralConv2d``...) | ``nn.Conv2d`` (the ``symmetric`` padding mode is refused) |
| orthogonium | ``MaxMin(axis)`` | ``cat(max(a, b), min(a, b))`` of the two halves along ``axis`` |
| orthogonium | ``Abs`` | ``|x|`` |
| monotonicnetworks | ``GroupSort(n_groups, axis)`` | sort ``n_groups`` *groups* along ``axis``, ascending |
| monotonicnetworks | ``MonotonicLayer`` | ``(W x + b + lambda (x @ mc)) / 2``: affine, exactly |

deel-torchlip's ``k_coef_lip`` other than 1 is refused.

Example:
    >>> "orthogonium.layers.custom_activations.Abs" in __import__("nets").semantics.registered()
    True
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from torch import nn

from cpwl import Affine, Gather, LipschitzBound
from cpwl import activations as exact
from cpwl.errors import ShapeError, UnsupportedModuleError
from nets.semantics import blocks
from nets.semantics.registry import register
from nets.semantics.stock import conv_meaning

_TORCHLIP = "deel.torchlip.modules"


def _axis(module: nn.Module, axis, shape: tuple) -> int:
    """A batched-tensor axis (``None``: the channel axis) as an axis of the per-sample shape."""
    full = len(shape) + 1
    axis = 1 if axis is None else axis
    axis = axis + full if axis < 0 else axis
    if not 1 <= axis < full:
        raise UnsupportedModuleError(f"{type(module).__name__} acts on axis {axis} of a {full}-d batch, which is the batch axis or out of range")
    return axis - 1


def _plain_coefficient(module: nn.Module) -> None:
    coefficient = getattr(module, "_coefficient_lip", 1.0)
    if coefficient != 1.0:
        raise UnsupportedModuleError(f"{type(module).__name__} scales its output by k_coef_lip={coefficient}; only 1 is supported")


def _torchlip_maxmin(module: nn.Module, shape: tuple) -> tuple:
    _plain_coefficient(module)
    axis = _axis(module, module._dim, shape)
    size = blocks.numel(shape)
    doubled = np.concatenate([np.arange(size).reshape(shape)] * 2, axis=axis)
    out_shape = doubled.shape
    halves = np.concatenate([np.zeros(shape, dtype=bool), np.ones(shape, dtype=bool)], axis=axis).ravel()
    functions = [blocks.negative_part if h else exact.relu() for h in halves.tolist()]
    return [Gather(doubled.ravel().tolist(), size), exact.Elementwise(functions)], out_shape


def _torchlip_maxmin_bound(module: nn.Module, shape: tuple, layers: tuple) -> LipschitzBound:
    return LipschitzBound(Fraction(1), "||(relu(x), relu(-x))|| = ||x|| exactly")


def _torchlip_group_sort(module: nn.Module, shape: tuple) -> tuple:
    _plain_coefficient(module)
    c = blocks.channel_axis(shape, module)
    size = module.group_size if module.group_size is not None and module.group_size <= c else c
    if c % size:
        raise ShapeError(f"{type(module).__name__}({size}) needs a channel count divisible by {size}, got {c}")
    return blocks.grouped(shape, 0, exact.GroupSort(size)), shape


def _torchlip_conv(module: nn.Conv2d, shape: tuple) -> tuple:
    if str(getattr(module, "old_padding_mode", "zeros")).lower() == "symmetric":
        raise UnsupportedModuleError(f"{type(module).__name__}: the 'symmetric' padding mode of deel-torchlip is not supported")
    return conv_meaning(module, shape)


def _orthogonium_maxmin(module: nn.Module, shape: tuple) -> tuple:
    axis = _axis(module, module.axis, shape)
    c = shape[axis]
    if c % 2:
        raise ShapeError(f"MaxMin splits axis {axis + 1} in halves, so it needs an even size, got {c}")
    order = [j for i in range(c // 2) for j in (i, i + c // 2)]
    return blocks.grouped(shape, axis, exact.MaxMin("adjacent", "max_first"), order), shape


def _orthogonium_abs(module: nn.Module, shape: tuple) -> tuple:
    return [exact.Elementwise(exact.abs_())], shape


def _monotonic_group_sort(module: nn.Module, shape: tuple) -> tuple:
    axis = _axis(module, module.axis, shape)
    n = shape[axis]
    if n % module.n_groups:
        raise ShapeError(f"GroupSort(n_groups={module.n_groups}) needs a size divisible by it along axis {axis + 1}, got {n}")
    return blocks.grouped(shape, axis, exact.GroupSort(n // module.n_groups)), shape


def _monotonic_layer(module: nn.Module, shape: tuple) -> tuple:
    """``(W x + b + lambda (x @ mc)) / 2`` with ``mc`` of shape ``(in, 1)`` (broadcast over the
    outputs) or ``(in, out)``: every term is linear in ``x``, so the layer is affine exactly."""
    W = blocks.as_numpy(module, "weight", module.weight)
    out_features, in_features = W.shape
    if shape != (in_features,):
        raise ShapeError(f"MonotonicLayer takes flat inputs of {in_features} features, got per-sample shape {shape}")
    lam = Fraction(blocks.as_numpy(module, "lipschitz_const", module.lipschitz_const).item())
    mc = blocks.as_numpy(module, "monotonic_constraints", module.monotonic_constraints)
    if mc.shape not in ((in_features, 1), (in_features, out_features)):
        raise ShapeError(f"MonotonicLayer's monotonic_constraints has shape {mc.shape}")
    b = [Fraction(0)] * out_features if module.bias is None else [Fraction(v) for v in blocks.as_numpy(module, "bias", module.bias).tolist()]
    rows = [
        [(Fraction(W[j, i]) + lam * Fraction(mc[i, 0 if mc.shape[1] == 1 else j])) / 2 for i in range(in_features)]
        for j in range(out_features)
    ]
    return [Affine(rows, [v / 2 for v in b])], (out_features,)


register(f"{_TORCHLIP}.activation.MaxMin", exact=_torchlip_maxmin, bound=_torchlip_maxmin_bound)
register(f"{_TORCHLIP}.activation.GroupSort", exact=_torchlip_group_sort)
register(f"{_TORCHLIP}.unconstrained.PadConv2d", exact=_torchlip_conv)
register("orthogonium.layers.custom_activations.MaxMin", exact=_orthogonium_maxmin)
register("orthogonium.layers.custom_activations.Abs", exact=_orthogonium_abs)
register("monotonicnetworks.group.GroupSort", exact=_monotonic_group_sort)
register("monotonicnetworks.LipschitzMonotonicNetwork.MonotonicLayer", exact=_monotonic_layer)
