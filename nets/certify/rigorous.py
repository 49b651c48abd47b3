"""Rigorous float64 evaluation of exact layers: values and proven error bounds.

:func:`bounded_forward` runs a model's exact translation (:mod:`nets.semantics`) in float64
on the inputs' device and returns ``y`` and ``err`` with ``|y - f(x)| <= err`` elementwise,
``f`` the exact function of the stored weights and ``x`` the inputs taken exactly.  One step
per *exact layer type* (affine, convolution, gather, elementwise, sorting, Householder,
residual), so every module the table accepts has a rigorous forward pass, derived from its
one meaning.

Every bound has two parts: the propagated input error (through the layer's Lipschitz
property, or its absolute matrix) and the layer's own rounding, with the standard model
``fl(a op b) = (a op b)(1 + d) + h``, ``|d| <= u = 2**-53``, ``|h| <= 2**-1075`` for
products (underflow) — the absolute term matters: without it a product that underflows to
zero would claim zero error.  A sum of ``n`` products is within
``gamma_n = n u / (1 - n u)`` of the exact sum of the computed products, whatever the order
(BLAS, FMA, GPU).  The bounds themselves are computed in floats and inflated to cover their
own rounding.  Matrix products run in float64, never TF32.

Examples:
    >>> import torch
    >>> import nets
    >>> y, err = bounded_forward(nets.LipschitzMLP([2, 4, 1], activation="n"), torch.ones(1, 2))
    >>> bool((err >= 0).all() and (err < 1e-12).all())
    True
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cpwl import Affine, Conv2d, Gather, Residual
from cpwl import activations as exact
from cpwl._floats import UNDERFLOW
from cpwl.errors import InvalidArgument, NumberError, ShapeError, UnsupportedModuleError
from nets.certify._fusion import composed_gathers, fused_sort
from nets.certify.precision import ieee_arithmetic
from nets.semantics import translate

__all__ = ["bounded_forward", "bounded_layers"]

_U = 2.0**-53
_ETA = UNDERFLOW  # 2**-1074, at least the underflow error of one product
_REL = 2.0**-52  # relative error of a float image of an exact rational (cpwl.FloatForm)
_SLACK = 1 + 2.0**-40  # covers the rounding of the bound computations themselves


def _gamma(n: int) -> float:
    return n * _U / (1 - n * _U) * _SLACK


def _tensor(array: np.ndarray, device) -> torch.Tensor:
    array = np.ascontiguousarray(array)
    return torch.as_tensor(array if array.flags.writeable else array.copy(), dtype=torch.float64, device=device)


def _affine(layer: Affine, y, e, cache):
    W, b, exact_form = cache
    n = W.shape[1]
    out = F.linear(y, W, b)
    rel = 0.0 if exact_form else _REL
    c = _gamma(n + 1) + rel
    # (1 + rel) |W| e + c (|W| |y| + |b|) as one product of non-negative terms; its own
    # roundings (a relative gamma_(n + 5) at most) are covered by the final factor
    err = F.linear(e * (1 + rel) + c * y.abs(), W.abs()) + c * b.abs()
    if not exact_form:  # entries within 2**-1074 absolutely as well
        err = err + _ETA * (e.sum(dim=1, keepdim=True) + y.abs().sum(dim=1, keepdim=True) + 1)
    return out, err * (1 + _gamma(n + 8)) + 2 * (n + 2) * _ETA


def _affine_cache(layer: Affine, device):
    form = layer.float_form
    return _tensor(form.weight, device), _tensor(form.bias, device), form.exact


def convolve(layer: Conv2d, t: torch.Tensor, kernel: torch.Tensor, bias=None) -> torch.Tensor:
    """The layer's convolution of a flat batch ``t`` with ``kernel`` (its own or ``|K|``),
    flat: symmetric zero padding inside ``conv2d``, any other padding by ``F.pad`` first (a
    copy, exact)."""
    top, bottom, left, right = layer.padding
    x = t.reshape(-1, *layer.in_shape)
    if layer.padding_mode == "zeros" and top == bottom and left == right:
        padding = (top, left)
    else:
        mode = "constant" if layer.padding_mode == "zeros" else layer.padding_mode
        x, padding = (F.pad(x, (left, right, top, bottom), mode=mode) if any(layer.padding) else x), 0
    return F.conv2d(x, kernel, bias, layer.stride, padding, layer.dilation, layer.groups).flatten(1)


def _conv(layer: Conv2d, y, e, cache):
    K, b, exact_form = cache
    conv = lambda t, k, bias=None: convolve(layer, t, k, bias)  # noqa: E731
    n = K.shape[1] * K.shape[2] * K.shape[3]
    out = conv(y, K, b)
    rel = 0.0 if exact_form else _REL
    c = _gamma(n + 1) + rel
    # as for dense layers: one convolution with |K| of non-negative terms
    err = conv(e * (1 + rel) + c * y.abs(), K.abs()) + c * b.abs().repeat_interleave(out.shape[1] // len(b))[None, :]
    if not exact_form:  # a window's n entries sum to at most n times the sample's largest
        err = err + _ETA * (n * (e + y.abs()).amax(dim=1, keepdim=True) + 1)
    return out, err * (1 + _gamma(n + 8)) + 2 * (n + 2) * _ETA


def _conv_cache(layer: Conv2d, device):
    form = layer.float_form
    return _tensor(form.weight, device), _tensor(form.bias, device), form.exact


def _gather(layer: Gather, y, e, index):
    pad = lambda t: torch.cat([t, t.new_zeros(len(t), 1)], dim=1)[:, index]  # noqa: E731
    return pad(y), pad(e)


def _gather_cache(layer: Gather, device):
    return torch.tensor([layer.in_features if i is None else i for i in layer.index], device=device)


def _elementwise(layer: exact.Elementwise, y, e, cache):
    levels, slopes, intercepts, lipschitz, mis_piece, slope_err, intercept_err, products_exact, sums_exact = cache
    piece = (y[:, None, :] > levels[None]).sum(dim=1)  # float levels; +inf where a channel has fewer
    s = torch.take_along_dim(slopes[None], piece[:, None, :], dim=1)[:, 0]
    c = torch.take_along_dim(intercepts[None], piece[:, None, :], dim=1)[:, 0]
    product = s * y
    out = product + c
    rounding = slope_err * y.abs() + intercept_err
    if not products_exact:
        rounding = rounding + _U * product.abs() + _ETA
    if not sums_exact:
        rounding = rounding + _U * out.abs()
    return out, (lipschitz * e + mis_piece + rounding) * _SLACK


def _elementwise_cache(layer: exact.Elementwise, width: int, device):
    t = layer.float_tables(width)
    valid = np.isfinite(t.levels)
    rel = 0.0 if t.exact else _REL
    level_err = np.where(valid, rel * np.abs(np.where(valid, t.levels, 0)) + (0 if t.exact else _ETA), 0).sum(axis=0)
    mis_piece = (
        2 * t.lipschitz * level_err
    )  # a float level on the wrong side: the two pieces differ by at most 2 L |t - t~|
    slope_err = rel * np.abs(t.slopes).max(axis=0) + (0 if t.exact else _ETA)
    intercept_err = rel * np.abs(t.intercepts).max(axis=0) + (0 if t.exact else _ETA)
    products_exact = t.exact and bool(np.isin(np.abs(t.slopes), (0.0, 1.0)).all())
    sums_exact = t.exact and not t.intercepts.any()
    as_t = lambda a: _tensor(np.asarray(a, dtype=np.float64), device)  # noqa: E731
    return (
        as_t(t.levels),
        as_t(t.slopes),
        as_t(t.intercepts),
        as_t(t.lipschitz),
        as_t(mis_piece),
        as_t(slope_err),
        as_t(intercept_err),
        products_exact,
        sums_exact,
    )


def _sort(layer: exact.SortingLayer, y, e, groups):
    grouped = y[:, groups]
    values = torch.sort(grouped, dim=2, descending=layer.descending).values
    out = torch.empty_like(y)
    out[:, groups] = values
    worst = e[:, groups].amax(dim=2, keepdim=True).expand_as(grouped)  # sorting is 1-Lipschitz in the max norm
    err = torch.empty_like(e)
    err[:, groups] = worst
    return out, err


def _sort_cache(layer: exact.SortingLayer, width: int, device):
    return torch.as_tensor(layer.groups(width), device=device)


def _householder(layer: exact.Householder, y, e, cache):
    v, c, rel, lipschitz = cache
    G, g = v.shape
    z = y.reshape(len(y), G, g)
    p = (z * v[None]).sum(dim=2, keepdim=True)
    out = (z - (c[None, :, None] * torch.clamp(p, max=0)) * v[None]).reshape(len(y), -1)
    P = (z.abs() * v.abs()[None]).sum(dim=2, keepdim=True)
    kappa = 2 * _gamma(g + 2) + 4 * rel + 3 * _U
    own = kappa * c[None, :, None] * P * v.abs()[None] + 4 * _ETA
    prop = lipschitz * e.reshape(len(y), G, g).pow(2).sum(dim=2, keepdim=True).sqrt() * (1 + _gamma(g + 2))
    err = (prop + own).reshape(len(y), -1) + _U * out.abs()
    return out, err * _SLACK


def _householder_cache(layer: exact.Householder, width: int, device):
    v, c, exact_form = layer.float_normals(width)
    lipschitz = float(layer.lipschitz_bound().value) * (1 + 2.0**-50)
    return _tensor(v, device), _tensor(c, device), 0.0 if exact_form else _REL, lipschitz


def _residual(layer: Residual, y, e, cache):
    inner, skip = cache
    z, ez = _run(inner, y, e)
    s, es = (y, e) if skip is None else _run(skip, y, e)
    out = z + s
    return out, (ez + es + _U * out.abs()) * _SLACK


def _residual_cache(layer: Residual, width: int, device):
    inner = _prepare(layer.inner.layers, width, device)
    skip = None if layer.skip is None else _prepare([layer.skip], width, device)
    return inner, skip


#: One rigorous step per exact layer type: ``(prepare(layer, width, device), step(layer, y, e, prepared))``.
_STEPS = {
    Affine: (lambda layer, width, device: _affine_cache(layer, device), _affine),
    Conv2d: (lambda layer, width, device: _conv_cache(layer, device), _conv),
    Gather: (lambda layer, width, device: _gather_cache(layer, device), _gather),
    exact.Elementwise: (_elementwise_cache, _elementwise),
    exact.SortingLayer: (_sort_cache, _sort),
    exact.Householder: (_householder_cache, _householder),
    Residual: (_residual_cache, _residual),
}


def _step_of(layer):
    for cls in type(layer).__mro__:
        if cls in _STEPS:
            return _STEPS[cls]
    raise UnsupportedModuleError(f"{layer!r} has no rigorous float evaluation")


def _prepare(layers, width: int, device) -> list:
    """Every layer's rigorous step and constants, runs of gathers composed and a permutation,
    a sort and its inverse run as one sort in place (:mod:`nets.certify._fusion`)."""
    layers, prepared, k = composed_gathers(layers), [], 0
    while k < len(layers):
        fused = fused_sort(layers, k, width)
        if fused is not None:
            prepared.append((fused[0], _sort, torch.as_tensor(fused[1], device=device)))
            k += 3
            continue
        prepare, step = _step_of(layers[k])
        prepared.append((layers[k], step, prepare(layers[k], width, device)))
        width = layers[k].check_width(width)
        k += 1
    return prepared


def _run(prepared: list, y, e):
    for layer, step, cache in prepared:
        y, e = step(layer, y, e, cache)
    return y, e


def _checked_inputs(x: torch.Tensor) -> torch.Tensor:
    """``x`` detached, refused unless every entry has an exact float64 image."""
    x = x.detach()
    if x.dtype.is_floating_point:
        if not torch.isfinite(x).all():
            raise NumberError("the inputs hold NaN or infinity")
    elif x.dtype != torch.bool and x.numel() and int(x.abs().max()) > 2**53:
        raise NumberError("integer inputs beyond 2**53 have no exact float64 image")
    return x


def _exact_inputs(x: torch.Tensor) -> torch.Tensor:
    return _checked_inputs(x).to(torch.float64)


def bounded_layers(layers, x: torch.Tensor, err: Optional[torch.Tensor] = None) -> tuple:
    """``(y, err)`` for exact layers on a batch of flat float inputs ``x`` (taken exactly, or
    within ``err``), in float64 on ``x``'s device."""
    if x.dim() != 2:
        raise ShapeError(f"bounded_layers takes a batch of flat inputs [batch, features], got shape {tuple(x.shape)}")
    y = _exact_inputs(x)
    prepared = _prepare(layers, y.shape[1], y.device)
    with ieee_arithmetic():
        return _run(prepared, y, torch.zeros_like(y) if err is None else err)


def fingerprint(module: nn.Module) -> tuple:
    """Every parameter and buffer of ``module`` as (name, storage, shape, dtype, device, version
    counter): it changes with any in-place update (an optimizer step), a reassignment or a
    move, so a translation made earlier can tell that it no longer describes the module."""
    tensors = list(module.named_parameters()) + list(module.named_buffers())
    return tuple((name, t.data_ptr(), tuple(t.shape), t.dtype, str(t.device), t._version) for name, t in tensors)


class BoundedModel:
    """A model translated and prepared once for rigorous float64 evaluation on ``device``;
    calling it on batches gives what :func:`bounded_forward` gives, without translating again.
    It describes the weights as they were when it was built and refuses to run once any
    parameter or buffer has changed (:func:`fingerprint`).

    Examples:
        >>> import nets
        >>> model = nets.LipschitzMLP([2, 4, 1], activation="n")
        >>> prepared = BoundedModel(model, (2,))
        >>> y, err = prepared(torch.ones(3, 2))
        >>> torch.equal(y, bounded_forward(model, torch.ones(3, 2))[0])
        True
    """

    def __init__(self, module: nn.Module, input_shape=None, device=None):
        self.module = module
        self.translation = translate(module, input_shape, exact=False)
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self._fingerprint = fingerprint(module)
        self._prepared = None  # the float64 constants, made at the first evaluation

    def _steps(self) -> list:
        steps = self.translation.steps
        if self._prepared is None and not any(step.float_step is not None for step in steps):
            # one chain of exact layers: prepared as one, so rewrites reach across modules
            self._prepared = [(None, _prepare(self.translation.layers, math.prod(self.input_shape), self.device))]
        if self._prepared is None:
            self._prepared = [
                (
                    step,
                    None
                    if step.float_step is not None
                    else _prepare(step.layers, math.prod(step.in_shape), self.device),
                )
                for step in self.translation.steps
                if step.float_step is not None or step.layers
            ]
        return self._prepared

    @property
    def input_shape(self) -> tuple:
        """The per-sample input shape."""
        return self.translation.in_shape

    def check_unchanged(self) -> None:
        """:class:`cpwl.InvalidArgument` if the module's weights changed since preparation."""
        if fingerprint(self.module) != self._fingerprint:
            raise InvalidArgument("the model's parameters or buffers changed since it was prepared; prepare it again")

    def __call__(self, x: torch.Tensor) -> tuple:
        return self.evaluate(self.checked_inputs(x))

    def checked_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The batch ``x`` on the model's device, checked: its shape, finite real entries with
        exact float64 images, and the weights unchanged since preparation."""
        if not isinstance(x, torch.Tensor) or x.dim() < 2:
            raise ShapeError(
                "a bounded model takes a batch tensor [batch, *input_shape], got "
                f"{getattr(x, 'shape', type(x).__name__)}"
            )
        if x.is_complex():
            raise NumberError("the inputs must be real")
        if tuple(x.shape[1:]) != self.input_shape:
            raise ShapeError(
                f"the model was prepared for samples of shape {self.input_shape}, got {tuple(x.shape[1:])}"
            )
        self.check_unchanged()
        return _checked_inputs(x.to(self.device))

    def evaluate(self, x: torch.Tensor) -> tuple:
        """``(y, err)`` for inputs that passed :meth:`checked_inputs` (taken exactly)."""
        n = len(x)
        y = x.to(torch.float64)
        err = torch.zeros_like(y)
        with ieee_arithmetic():
            for step, prepared in self._steps():
                if prepared is None:
                    y, err = step.float_step(y.reshape(n, *step.in_shape), err.reshape(n, *step.in_shape))
                else:
                    y, err = _run(prepared, y.reshape(n, -1), err.reshape(n, -1))
        out = self.translation.out_shape
        return y.reshape(n, *out), err.reshape(n, *out)


def bounded_forward(module: nn.Module, x: torch.Tensor) -> tuple:
    """Float64 outputs ``y`` and bounds ``err`` with ``|y - f(x)| <= err`` elementwise, where
    ``f`` is the exact function of the stored weights (the model's translation) and the
    batch ``x`` (``[batch, *input_shape]``) is taken exactly.  Runs on ``x``'s device.

    Examples:
        >>> import nets
        >>> y, err = bounded_forward(nets.LipschitzMLP([2, 4, 1], activation="maxmin"), torch.ones(3, 2))
        >>> tuple(y.shape), bool((err < 1e-12).all())
        ((3, 1), True)
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ShapeError(
            f"bounded_forward takes a batch tensor [batch, *input_shape], got {getattr(x, 'shape', type(x).__name__)}"
        )
    return BoundedModel(module, tuple(x.shape[1:]), x.device)(x)
