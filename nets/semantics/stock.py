"""The exact meaning of the stock ``torch.nn`` modules the table accepts.

| module | meaning |
|---|---|
| ``nn.Sequential`` | its children, in order |
| ``nn.Linear`` | ``W x + b`` on flat inputs |
| ``nn.Conv2d`` | :class:`cpwl.Conv2d` with the module's stride, dilation, groups, padding (numbers, ``"same"``, ``"valid"``) and padding mode |
| ``nn.ReLU``, ``nn.LeakyReLU``, ``nn.PReLU`` | elementwise ``max(y, 0)``; ``y`` or ``slope * y`` (any slope, per channel for PReLU) |
| ``nn.AvgPool2d`` | a grouped :class:`cpwl.Conv2d` (zero padding counted; other border rules refused) |
| ``nn.PixelUnshuffle``, ``nn.PixelShuffle`` | the entries they move (their forward on a probe of positions) |
| ``nn.Identity``, ``nn.Dropout`` | the identity (the export reads the model in evaluation mode) |
| ``nn.Flatten``, ``nn.Unflatten`` | reshapes that keep the batch dimension (no layer: the row-major order is unchanged) |

Examples:
    >>> from torch import nn
    >>> from nets.semantics import translate
    >>> translate(nn.Sequential(nn.Flatten()), input_shape=(2, 3)).out_shape
    (6,)
"""

from __future__ import annotations

from fractions import Fraction

import torch
from torch import nn

from cpwl import Conv2d
from cpwl import activations as exact
from cpwl.errors import ShapeError, UnsupportedModuleError
from cpwl.rationals import as_rational
from nets.semantics.blocks import as_numpy, channelwise, dense, index_map, numel
from nets.semantics.registry import register


def _linear(m: nn.Linear, shape: tuple) -> tuple:
    return dense(m.weight, m.bias, shape, m)


def conv_meaning(m: nn.Conv2d, shape: tuple, padding=None) -> tuple:
    """The exact :class:`cpwl.Conv2d` of an ``nn.Conv2d`` (or of a subclass that computes the
    same), with ``padding`` as ``(top, bottom, left, right)`` when the caller knows better."""
    if len(shape) != 3:
        raise ShapeError(f"{type(m).__name__} takes (channels, height, width) samples, got per-sample shape {shape}")
    if padding is None:
        left, right, top, bottom = m._reversed_padding_repeated_twice  # what forward pads, "same" split included
        padding = (top, bottom, left, right)
    kernel = as_numpy(m, "weight", m.weight)
    bias = None if m.bias is None else as_numpy(m, "bias", m.bias)
    layer = Conv2d(
        kernel,
        bias,
        in_shape=shape,
        stride=m.stride,
        padding=padding,
        dilation=m.dilation,
        groups=m.groups,
        padding_mode=m.padding_mode,
    )
    return [layer], layer.out_shape


def depthwise_average(m: nn.Module, shape: tuple, kernel, stride, padding, scale: Fraction) -> tuple:
    """``scale`` times the sum of each window of every channel, as a grouped
    :class:`cpwl.Conv2d` with zero padding (an average pooling that counts padded zeros)."""
    if len(shape) != 3:
        raise ShapeError(f"{type(m).__name__} takes (channels, height, width) samples, got per-sample shape {shape}")
    c = shape[0]
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    weights = [[[[scale] * kw for _ in range(kh)]] for _ in range(c)]
    layer = Conv2d(weights, None, in_shape=shape, stride=stride, padding=padding, groups=c)
    return [layer], layer.out_shape


def _avg_pool(m: nn.AvgPool2d, shape: tuple) -> tuple:
    kh, kw = (m.kernel_size, m.kernel_size) if isinstance(m.kernel_size, int) else m.kernel_size
    padding = (m.padding, m.padding) if isinstance(m.padding, int) else tuple(m.padding)
    if any(padding) and not m.count_include_pad and m.divisor_override is None:
        raise UnsupportedModuleError(
            "AvgPool2d with count_include_pad=False divides border windows differently: not a convolution"
        )
    stride = m.stride if m.stride is not None else m.kernel_size
    layers, out_shape = depthwise_average(
        m, shape, (kh, kw), stride, padding, Fraction(1, m.divisor_override or kh * kw)
    )
    floor_shape = out_shape
    if m.ceil_mode:
        probe = torch.zeros(1, *shape)
        if tuple(m(probe).shape[1:]) != floor_shape:
            raise UnsupportedModuleError("AvgPool2d with ceil_mode=True adds partial windows here: not a convolution")
    return layers, out_shape


def _prelu(m: nn.PReLU, shape: tuple) -> tuple:
    slopes = [as_rational(v) for v in as_numpy(m, "weight", m.weight).tolist()]
    functions = [exact.identity() if a == 1 else exact.leaky_relu(a) for a in slopes]
    if len(functions) == 1:
        return [exact.Elementwise(functions[0])], shape
    return [channelwise(functions, shape)], shape


def _moves_entries(m: nn.Module, shape: tuple) -> tuple:
    gather, out_shape = index_map(m, shape)
    return [gather], out_shape


def _relu(m: nn.ReLU, shape: tuple) -> tuple:
    return [exact.Elementwise(exact.relu())], shape


def _leaky(m: nn.LeakyReLU, shape: tuple) -> tuple:
    slope = as_rational(float(m.negative_slope))
    return [exact.Elementwise(exact.identity() if slope == 1 else exact.leaky_relu(slope))], shape


def _identity(m: nn.Module, shape: tuple) -> tuple:
    return [], shape


def _unflatten(m: nn.Unflatten, shape: tuple) -> tuple:
    dim = m.dim + len(shape) + 1 if m.dim < 0 else m.dim
    sizes = tuple(m.unflattened_size)
    if not 1 <= dim <= len(shape) or numel(sizes) != shape[dim - 1] or any(v < 1 for v in sizes):
        raise UnsupportedModuleError(f"Unflatten(dim={m.dim}, {sizes}) does not fit per-sample shape {shape}")
    return [], (*shape[: dim - 1], *sizes, *shape[dim:])


def _flatten(m: nn.Flatten, shape: tuple) -> tuple:
    full = (1, *shape)
    start, end = (d + len(full) if d < 0 else d for d in (m.start_dim, m.end_dim))
    if not 1 <= start <= end < len(full):
        raise UnsupportedModuleError(
            f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}) on per-sample shape {shape} would merge "
            "the batch dimension"
        )
    return [], (*full[1:start], numel(full[start : end + 1]), *full[end + 1 :])


register(nn.Sequential, container=True)
register(nn.Linear, exact=_linear)
register(nn.Conv2d, exact=conv_meaning)
register(nn.ReLU, exact=_relu)
register(nn.LeakyReLU, exact=_leaky)
register(nn.Identity, exact=_identity)
register(nn.Dropout, exact=_identity)
register(nn.Flatten, exact=_flatten)
register(nn.Unflatten, exact=_unflatten)
register(nn.PReLU, exact=_prelu)
register(nn.AvgPool2d, exact=_avg_pool)
register(nn.PixelUnshuffle, exact=_moves_entries)
register(nn.PixelShuffle, exact=_moves_entries)
