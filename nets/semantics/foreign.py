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
| deel-torchlip | ``LPReLU`` | per-channel leaky ReLU with the slopes clamped to ``[-k, k]`` |
| deel-torchlip | ``HouseHolder`` | reflection of channel pairs ``(j, j + C/2)`` across the angle ``theta/2`` |
| deel-torchlip | ``ScaledAvgPool2d``, ``ScaledAdaptiveAvgPool2d`` | scaled window sums: grouped convolutions |
| deel-torchlip | ``ScaledL2NormPool2d``, ``ScaledAdaptativeL2NormPool2d`` | l2 norms of windows: *not* piecewise linear (certified with a bound and a rigorous float step, refused by exact export) |
| deel-torchlip | ``PadConv2d`` (``SpectralConv2d``...), ``InvertibleDownSampling`` | ``nn.Conv2d`` (``symmetric`` padding refused), ``nn.PixelUnshuffle`` |
| orthogonium | ``MaxMin(axis)`` | ``cat(max(a, b), min(a, b))`` of the two halves along ``axis`` |
| orthogonium | ``Abs``, ``HouseHolder`` | ``|x|``; the pair reflection above, divided by (float) ``sqrt(2)`` |
| orthogonium | ``BatchCentering2D``, ``LayerCentering2D``, ``ChannelShuffle`` | a per-channel shift; ``x - mean_(H, W) x + b``; a permutation |
| monotonicnetworks | ``GroupSort(n_groups, axis)`` | sort ``n_groups`` *groups* along ``axis``, ascending |
| monotonicnetworks | ``MonotonicLayer``, ``MonotonicWrapper`` | ``(W x + b + lambda (x @ mc)) / 2``; ``nn(x) + lambda x @ mc`` (a residual block) |

deel-torchlip's ``k_coef_lip`` multiplies the output, exactly.  Orthogonium's strided and
orthogonal convolutions (AOC, RKO, BCOP) are ``nn.Conv2d`` subclasses with parametrized
weights, read by the stock entry.

Examples:
    >>> "orthogonium.layers.custom_activations.Abs" in __import__("nets").semantics.registered()
    True
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from cpwl import CPWL, Affine, Gather, LipschitzBound
from cpwl import activations as exact
from cpwl._floats import UNDERFLOW, subnormal
from cpwl.enclosure import sqrt_upper
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
        raise UnsupportedModuleError(
            f"{type(module).__name__} acts on axis {axis} of a {full}-d batch, which is the batch axis or out of range"
        )
    return axis - 1


def _scaled(module: nn.Module, layers: list) -> list:
    """deel-torchlip's ``k_coef_lip``: the module's output times the coefficient (exactly)."""
    k = Fraction(float(getattr(module, "_coefficient_lip", 1.0)))
    return layers if k == 1 else [*layers, exact.Elementwise(CPWL.linear(k))]


def _halves_householder(module: nn.Module, shape: tuple, theta, scale: Fraction) -> tuple:
    """The Householder activation of deel-torchlip and orthogonium: channel ``j`` paired with
    ``j + C/2``; a pair ``z`` is reflected across the line at angle ``theta/2`` where
    ``sin(theta/2) z_1 - cos(theta/2) z_2 > 0``, and the result is multiplied by ``scale``.
    The exact layer reflects through the float normal ``(-sin(theta/2), cos(theta/2))``; the
    libraries' float formula (with ``cos theta`` and ``sin theta`` computed separately) agrees
    with it up to rounding."""
    c = blocks.channel_axis(shape, module)
    half = torch.as_tensor(theta).detach().reshape(-1)
    if c % 2 or half.numel() != c // 2:
        raise ShapeError(f"{type(module).__name__} has {half.numel()} angles for per-sample shape {shape}")
    normals = torch.stack([-torch.sin(0.5 * half), torch.cos(0.5 * half)], dim=1)
    normals = blocks.as_numpy(module, "theta", normals).tolist()
    order = [j for i in range(c // 2) for j in (i, i + c // 2)]
    layer = exact.Householder(normals * blocks.numel(shape[1:]))
    layers = blocks.grouped(shape, 0, layer, order)
    return (layers if scale == 1 else [*layers, exact.Elementwise(CPWL.linear(scale))]), shape


def _torchlip_householder(module: nn.Module, shape: tuple) -> tuple:
    return _halves_householder(module, shape, module.theta, Fraction(float(module._coefficient_lip)))


def _orthogonium_householder(module: nn.Module, shape: tuple) -> tuple:
    if module.axis not in (1, -len(shape) - 1):
        raise UnsupportedModuleError(f"HouseHolder on axis {module.axis}: only the channel axis is supported")
    return _halves_householder(
        module, shape, module.theta, 1 / Fraction(float(np.sqrt(2)))
    )  # its forward divides by float sqrt(2)


def _torchlip_lprelu(module: nn.Module, shape: tuple) -> tuple:
    k = float(module._coefficient_lip)
    slopes = [Fraction(v) for v in blocks.as_numpy(module, "weight", torch.clamp(module.weight, -k, k)).tolist()]
    functions = [exact.identity() if a == 1 else exact.leaky_relu(a) for a in slopes]
    return [exact.Elementwise(functions[0]) if len(functions) == 1 else blocks.channelwise(functions, shape)], shape


def _torchlip_avg_pool(module: nn.Module, shape: tuple) -> tuple:
    from nets.semantics.stock import depthwise_average

    kh, kw = (module.kernel_size, module.kernel_size) if isinstance(module.kernel_size, int) else module.kernel_size
    coefficient = Fraction(float(module._coefficient_lip * module.scalingFactor))
    return depthwise_average(module, shape, (kh, kw), module.stride, 0, coefficient / (kh * kw))


def _torchlip_adaptive_avg_pool(module: nn.Module, shape: tuple) -> tuple:
    from nets.semantics.stock import depthwise_average

    if tuple(module.output_size) != (1, 1) or len(shape) != 3:
        raise UnsupportedModuleError(
            "ScaledAdaptiveAvgPool2d: only output_size (1, 1) on (C, H, W) samples is supported"
        )
    h, w = shape[1:]
    coefficient = Fraction(float(math.sqrt(h * w) * module._coefficient_lip))
    return depthwise_average(module, shape, (h, w), (h, w), 0, coefficient / (h * w))


def _l2_pool_step(module: nn.Module, shape: tuple) -> tuple:
    """A rigorous float step for l2-norm pooling over disjoint windows: ``|‖a‖ - ‖b‖| <=
    ‖a - b‖`` bounds the propagated error per window; the float evaluation (a sum of ``n``
    squares and a square root) adds ``gamma_(n+2)`` relatively and the underflow of the
    squares, ``sqrt(n 2**-1074)``, absolutely."""
    import torch.nn.functional as F

    if len(shape) != 3:
        raise ShapeError(f"{type(module).__name__} takes (C, H, W) samples, got per-sample shape {shape}")
    adaptive = not hasattr(module, "norm_type")
    kernel = (
        tuple(shape[1:])
        if adaptive
        else ((module.kernel_size,) * 2 if isinstance(module.kernel_size, int) else tuple(module.kernel_size))
    )
    stride = (
        kernel
        if adaptive or module.stride is None
        else ((module.stride,) * 2 if isinstance(module.stride, int) else tuple(module.stride))
    )
    if stride != kernel or shape[1] % kernel[0] or shape[2] % kernel[1] or getattr(module, "ceil_mode", False):
        raise UnsupportedModuleError(
            f"{type(module).__name__}: only disjoint windows that tile the input are supported"
        )
    k = float(module._coefficient_lip)
    n = kernel[0] * kernel[1]
    out_shape = (shape[0], shape[1] // kernel[0], shape[2] // kernel[1])
    slack = 1 + 2.0**-40

    def step(y, err):
        norms = torch.sqrt(F.avg_pool2d(y * y, kernel) * n)
        propagated = torch.sqrt(F.avg_pool2d(err * err, kernel) * n) * slack
        rounding = ((n + 4) * 2.0**-53 * norms + (n * subnormal(-1073)) ** 0.5) * slack
        out = norms * k
        return out, ((propagated + rounding) * abs(k) + 2.0**-53 * out.abs()) * slack + UNDERFLOW

    return step, out_shape


def _l2_pool_bound(module: nn.Module, shape: tuple, layers: tuple, norm):
    """``|k|`` in l2 and l1 (``|‖a‖ - ‖b‖| <= ‖a - b‖_2 <= ‖a - b‖_1`` per disjoint window),
    ``|k| sqrt(n)`` in l-infinity for windows of ``n`` pixels (``‖d‖_2 <= sqrt(n) ‖d‖_inf``)."""
    k = abs(Fraction(float(module._coefficient_lip)))
    if norm != "inf":
        return LipschitzBound(k, "l2 norms of disjoint windows are 1-Lipschitz in l2 and l1 (times k_coef_lip)")
    adaptive = not hasattr(module, "norm_type")
    kernel = (
        tuple(shape[1:])
        if adaptive
        else ((module.kernel_size,) * 2 if isinstance(module.kernel_size, int) else tuple(module.kernel_size))
    )
    return LipschitzBound(
        k * sqrt_upper(kernel[0] * kernel[1]),
        "l2 norm of an n-pixel window is sqrt(n)-Lipschitz in l-infinity (times k_coef_lip)",
    )


def _batch_centering(module: nn.Module, shape: tuple) -> tuple:
    c = blocks.channel_axis(shape, module)
    shift = blocks.as_numpy(module, "bias", module.bias.reshape(-1)) - blocks.as_numpy(
        module, "running_mean", module.running_mean.reshape(-1)
    )
    shift = np.broadcast_to(shift, (c,)) if shift.size in (1, c) else None
    if shift is None:
        raise ShapeError(f"BatchCentering2D's statistics do not fit {c} channels")
    return [blocks.channelwise([CPWL.linear(1, Fraction(v)) for v in shift.tolist()], shape)], shape


def _layer_centering(module: nn.Module, shape: tuple) -> tuple:
    """``x - mean_(H, W)(x) + bias`` per channel: a residual block whose inner part is a
    grouped convolution by ``-1/(H W)`` over the whole map, copied back to every pixel."""
    from cpwl import Conv2d, Residual

    if len(shape) != 3:
        raise ShapeError(f"LayerCentering2D takes (C, H, W) samples, got per-sample shape {shape}")
    c, h, w = shape
    mean = Conv2d([[[[Fraction(-1, h * w)] * w for _ in range(h)]] for _ in range(c)], None, in_shape=shape, groups=c)
    spread = Gather([ch for ch in range(c) for _ in range(h * w)], c)
    bias = blocks.as_numpy(module, "bias", module.bias.reshape(-1)).tolist()
    return [Residual([mean, spread]), blocks.channelwise([CPWL.linear(1, Fraction(b)) for b in bias], shape)], shape


def _centering_bound(module: nn.Module, shape: tuple, layers: tuple, norm):
    if norm != 2:
        return None
    return LipschitzBound(Fraction(1), "x - mean(x) is an orthogonal projection (norm 1) plus a constant")


def _monotonic_wrapper(module: nn.Module, shape: tuple) -> tuple:
    """``nn(x) + lambda x @ mc``: a residual block, the inner network translated as a model."""
    from cpwl import Residual
    from nets.semantics.translate import translate

    inner = translate(module.nn, shape)
    if len(shape) != 1 or len(inner.out_shape) != 1:
        raise ShapeError(f"MonotonicWrapper takes flat inputs and outputs, got {shape} -> {inner.out_shape}")
    n, out = shape[0], inner.out_shape[0]
    lam = Fraction(blocks.as_numpy(module, "lipschitz_const", module.lipschitz_const).item())
    mc = blocks.as_numpy(module, "monotonic_constraints", module.monotonic_constraints)
    mc = np.broadcast_to(mc, (n, mc.shape[-1]))  # forward expands one row to every input
    if mc.shape[1] not in (1, out):
        raise ShapeError(f"MonotonicWrapper's constraints have {mc.shape[1]} columns for {out} outputs")
    skip = Affine([[lam * Fraction(mc[i, 0 if mc.shape[1] == 1 else j]) for i in range(n)] for j in range(out)])
    return [Residual(inner.layers, skip=skip)], (out,)


def _monotonic_wrapper_bound(module: nn.Module, shape: tuple, layers: tuple, norm):
    from nets.semantics.translate import translate

    inner = translate(module.nn, shape, bounds=True, norm=norm)
    (block,) = layers
    return LipschitzBound(
        inner.bound + block.skip.lipschitz_bound(norm).value,
        "triangle inequality: the inner model's proven bound plus the skip's",
    )


def _torchlip_maxmin(module: nn.Module, shape: tuple) -> tuple:
    axis = _axis(module, module._dim, shape)
    size = blocks.numel(shape)
    doubled = np.concatenate([np.arange(size).reshape(shape)] * 2, axis=axis)
    out_shape = doubled.shape
    halves = np.concatenate([np.zeros(shape, dtype=bool), np.ones(shape, dtype=bool)], axis=axis).ravel()
    functions = [blocks.negative_part if h else exact.relu() for h in halves.tolist()]
    return _scaled(module, [Gather(doubled.ravel().tolist(), size), exact.Elementwise(functions)]), out_shape


def _torchlip_maxmin_bound(module: nn.Module, shape: tuple, layers: tuple, norm):
    """``|k|`` in every l_p norm: ``relu(a) - relu(b)`` and ``relu(-a) - relu(-b)`` have
    absolute values summing to ``|a - b|``, one of them 0 unless ``a`` and ``b`` differ in sign."""
    k = abs(Fraction(float(module._coefficient_lip)))
    return LipschitzBound(k, "||(relu(x), relu(-x))|| <= ||x|| in every l_p norm (times k_coef_lip)")


def _torchlip_group_sort(module: nn.Module, shape: tuple) -> tuple:
    c = blocks.channel_axis(shape, module)
    size = module.group_size if module.group_size is not None and module.group_size <= c else c
    if c % size:
        raise ShapeError(f"{type(module).__name__}({size}) needs a channel count divisible by {size}, got {c}")
    return _scaled(module, blocks.grouped(shape, 0, exact.GroupSort(size))), shape


def _torchlip_conv(module: nn.Conv2d, shape: tuple) -> tuple:
    if str(getattr(module, "old_padding_mode", "zeros")).lower() == "symmetric":
        raise UnsupportedModuleError(
            f"{type(module).__name__}: the 'symmetric' padding mode of deel-torchlip is not supported"
        )
    return conv_meaning(module, shape)


def _moves(module: nn.Module, shape: tuple) -> tuple:
    gather, out_shape = blocks.index_map(module, shape)
    return [gather], out_shape


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
        raise ShapeError(
            f"GroupSort(n_groups={module.n_groups}) needs a size divisible by it along axis {axis + 1}, got {n}"
        )
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
    b = (
        [Fraction(0)] * out_features
        if module.bias is None
        else [Fraction(v) for v in blocks.as_numpy(module, "bias", module.bias).tolist()]
    )
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
register(
    "monotonicnetworks.LipschitzMonotonicNetwork.MonotonicWrapper",
    exact=_monotonic_wrapper,
    bound=_monotonic_wrapper_bound,
)
register(f"{_TORCHLIP}.activation.LPReLU", exact=_torchlip_lprelu)
register(f"{_TORCHLIP}.activation.HouseHolder", exact=_torchlip_householder)
register(f"{_TORCHLIP}.pooling.ScaledAvgPool2d", exact=_torchlip_avg_pool)
register(f"{_TORCHLIP}.pooling.ScaledAdaptiveAvgPool2d", exact=_torchlip_adaptive_avg_pool)
register(f"{_TORCHLIP}.pooling.ScaledL2NormPool2d", float_step=_l2_pool_step, bound=_l2_pool_bound)
register(f"{_TORCHLIP}.pooling.ScaledAdaptativeL2NormPool2d", float_step=_l2_pool_step, bound=_l2_pool_bound)
register("orthogonium.layers.custom_activations.HouseHolder", exact=_orthogonium_householder)
register("orthogonium.layers.normalization.BatchCentering2D", exact=_batch_centering)
register("orthogonium.layers.normalization.LayerCentering2D", exact=_layer_centering, bound=_centering_bound)
register("orthogonium.layers.channel_shuffle.ChannelShuffle", exact=_moves)
