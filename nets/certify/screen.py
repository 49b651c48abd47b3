"""Private: the float screen in front of the proven certification rule (float32) and of exact
line certificates (float64, :mod:`nets.certify.first_change`).

One float pass over a model's exact layers gives the scores ``y`` and, per sample, a
proven bound ``E`` with ``|y_i - f_i(x)| <= E`` for every output ``i`` (``f`` the exact function
of the stored weights, ``x`` the input taken exactly).  ``E`` bounds the l2 norm of the error
vector, carried from layer to layer as one number per sample:

* a layer with a proven l2 bound ``L`` turns an input error ``E`` into at most ``L E``;
* its own rounding adds at most ``c1 ||y||_2 + c0``: ``c1`` from the dot-product model
  ``gamma_n`` times a bound ``A`` on the operator norm of ``|W|`` (and the weights' rounding to
  the format, :class:`Precision`), ``c0`` from the bias and from absolute terms that cover
  underflow *and* flushing of subnormals to zero (GPUs and CPUs may do either).

The constants are computed once per layer in float64, inflated to cover their own rounding.
So the whole pass costs one float forward and a norm per layer.  A sample whose margin
clears the threshold by ``2 E`` (or misses it by as much) is decided here, and the decision
is the exact rule's; the few others go through the float64 pass with elementwise bounds
(:mod:`nets.certify.rigorous`) and the exact rule.  A model with a layer this pass does not
cover (Householder layers, modules evaluated by a rigorous float step of their own) or with
weights beyond the format's range has no screen, and every sample takes the float64 path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cpwl import Affine, Conv2d, Gather, Residual
from cpwl import activations as exact
from cpwl._conv_bound import _sigma_squared_upper
from nets.certify._fusion import composed_gathers, fused_sort
from nets.certify.precision import ieee_arithmetic
from nets.certify.rigorous import _gamma, _tensor, convolve

__all__ = ["FLOAT32", "FLOAT64", "Precision", "Screen", "Unscreenable", "screened_layers"]

_SLACK = 1 + 2.0**-40  # covers the rounding of the float64 bound computations themselves


@dataclass(frozen=True)
class Precision:
    """The constants of a screen in one float format: ``u`` the unit roundoff; ``rho`` and
    ``alpha`` with ``|W~ - W| <= rho |W64| + alpha`` for a weight ``W`` whose float64 image
    ``W64`` is rounded to the format (``alpha`` also covers a subnormal weight flushed to
    zero); ``eta`` the absolute error of one operation near underflow, flushed or not;
    ``daz`` the largest number a flushing unit may read as zero; ``largest`` the largest
    finite number."""

    dtype: torch.dtype
    u: float
    rho: float
    alpha: float
    eta: float
    daz: float
    largest: float


FLOAT32 = Precision(torch.float32, 2.0**-24, 2.0**-23, 2.0**-125, 2.0**-125, 2.0**-126, float(np.finfo(np.float32).max))
FLOAT64 = Precision(
    torch.float64, 2.0**-53, 2.0**-51, 2.0**-1021, 2.0**-1021, 2.0**-1022, float(np.finfo(np.float64).max)
)
_PRECISIONS = {FLOAT32.dtype: FLOAT32, FLOAT64.dtype: FLOAT64}


class Unscreenable(Exception):
    """A model (or layer) this pass does not cover; the caller uses the float64 pass."""


def _gamma_in(p: Precision, n: int) -> float:
    if n * p.u >= 0.5:
        raise Unscreenable(f"a dot product of {n} terms is too long for a {p.dtype} bound")
    return n * p.u / (1 - n * p.u) * _SLACK


def _up(x: float, terms: int = 8) -> float:
    """``x`` (a float64 result of at most ``terms`` roundings) raised to cover them."""
    return x * (1 + _gamma(terms + 2))


def _in(p: Precision, array: np.ndarray, device) -> torch.Tensor:
    """A float64 array in the screen's format (``Unscreenable`` beyond its range)."""
    if np.abs(array).max(initial=0.0) > p.largest:
        raise Unscreenable(f"weights beyond {p.dtype}'s range")
    return _tensor(array, device).to(p.dtype)


def _rounded(p: Precision, array: np.ndarray) -> np.ndarray:
    """The float64 values of ``array`` rounded to the screen's format."""
    return array.astype(np.float32).astype(np.float64) if p.dtype == torch.float32 else array


def _norms(y: torch.Tensor) -> torch.Tensor:
    """Float64 upper bounds of every row's l2 norm, computed in ``y``'s format: the sum of
    ``n`` squares within ``gamma_n`` (any order) plus ``eta`` per square or sum near
    underflow, the square root within ``u``; an overflow gives ``inf``."""
    p = _PRECISIONS[y.dtype]
    n = y.shape[1]
    squares = (y * y).sum(dim=1).double()
    return ((squares + n * p.eta) * (1 + _gamma_in(p, n + 2))).sqrt() * (1 + 2 * p.u)


def _l2(vector: np.ndarray) -> float:
    v = np.abs(np.asarray(vector, dtype=np.float64)).ravel()
    return _up(math.sqrt(float((v * v).sum())), v.size + 2)


def _dense_norms(W: np.ndarray) -> tuple:
    """``(L, A)``: proven upper bounds on ``||W||_2`` for the exact weights that ``W`` (their
    float64 image, each entry within a relative ``2**-52`` or ``2**-1074``) stands for, and on
    ``|| |W| ||_2``.  ``L`` is the smallest of the Frobenius norm, the square root of the
    largest row sum of the smaller Gram matrix, ``|W^T W|`` or ``|W W^T|`` (computed with its
    rounding bounded by ``gamma`` times the products of the column or row norms), and the
    spectral norm proven by a Cholesky factorisation of ``s I`` minus that Gram matrix."""
    m, n = W.shape
    absW = np.abs(W)
    frobenius = _l2(W)
    rows, cols = _up(float(absW.sum(axis=1).max(initial=0.0)), n), _up(float(absW.sum(axis=0).max(initial=0.0)), m)
    A = min(frobenius, _up(math.sqrt(rows * cols)))
    V = W if m >= n else W.T  # ||W|| = ||V||, and V^T V is the smaller Gram matrix
    k = V.shape[0]
    columns = np.sqrt((V * V).sum(axis=0)) * (1 + _gamma(k + 2))
    gram = np.abs(V.T @ V).sum(axis=1) + _gamma(k) * columns * columns.sum()
    L = min(frobenius, _up(math.sqrt(float(gram.max(initial=0.0))), n + m + 8))
    if min(m, n) > 1:  # the spectral norm itself, proven by a Cholesky factorisation (cpwl._conv_bound)
        L = min(L, _up(math.sqrt(float(_sigma_squared_upper(V[None])[0]))))
    # the exact weights: within 2**-52 |W| + 2**-1074 of their float64 image
    L = _up(L + 2.0**-51 * A + 2.0**-1000 * math.sqrt(m * n))
    return L, A


def _rounding(p: Precision, n: int, width: int, m: int, A: float, S: float, bias64: float, bias_p: float) -> tuple:
    """``(c1, c0)`` of a layer ``W~ y + b~`` in the format ``p`` standing for exact ``W y + b``:
    ``n`` terms per output, ``width`` inputs, ``m`` outputs, ``A`` bounds ``|| |W64| ||_2``,
    ``S`` the operator norm of the layer's 0/1 pattern, ``bias64``/``bias_p`` the l2 norms of
    the bias and of its rounding to ``p``."""
    g = _gamma_in(p, n + 1)
    weight = (1 + p.rho) * A + p.alpha * S  # bounds || |W~| ||_2
    c1 = g * weight + p.rho * A + p.alpha * S  # dot-product rounding and W~ - W, times ||y||
    c0 = (
        g * bias_p
        + (n + 1) * p.eta * math.sqrt(m)  # each product and sum near underflow
        + p.rho * bias64
        + p.alpha * math.sqrt(m)  # b~ - b
        + weight * math.sqrt(width) * p.daz  # inputs read as zero
    )
    return _up(c1), _up(c0)


def _affine_prepare(layer: Affine, width: int, device, p: Precision):
    form = layer.float_form
    m, n = form.weight.shape
    L, A = _dense_norms(form.weight)
    c1, c0 = _rounding(p, n, n, m, A, math.sqrt(m * n), _l2(form.bias), _l2(_rounded(p, form.bias)))
    return _in(p, form.weight, device), _in(p, form.bias, device), L, c1, c0


def _affine(layer, y, E, N, cache):
    W, b, L, c1, c0 = cache
    return F.linear(y, W, b), (L * E + c1 * _known(N, y) + c0) * _SLACK, None


def _conv_prepare(layer: Conv2d, width: int, device, p: Precision):
    form = layer.float_form
    K = form.weight
    out_c, in_g, kh, kw = K.shape
    groups = layer.groups
    top, bottom, left, right = layer.padding
    copies = (1 + top + bottom) * (1 + left + right)  # how often the padded input can hold one pixel
    absK = np.abs(K)
    rows = _up(float(absK.sum(axis=(1, 2, 3)).max()), in_g * kh * kw)
    per_input = absK.reshape(groups, out_c // groups, in_g, kh, kw).sum(axis=(1, 3, 4))
    cols = _up(copies * float(per_input.max()), out_c * kh * kw)
    A = _up(math.sqrt(rows * cols))
    S = math.sqrt(in_g * kh * kw * copies * (out_c // groups) * kh * kw)
    positions = int(np.prod(layer.out_shape[1:]))
    bias = math.sqrt(positions)
    c1, c0 = _rounding(
        p,
        in_g * kh * kw,
        width,
        out_c * positions,
        A,
        S,
        _up(bias * _l2(form.bias)),
        _up(bias * _l2(_rounded(p, form.bias))),
    )
    L = _up(float(layer.lipschitz_bound(2).value))
    return _in(p, K, device), _in(p, form.bias, device), L, c1, c0


def _conv(layer, y, E, N, cache):
    K, b, L, c1, c0 = cache
    return convolve(layer, y, K, b), (L * E + c1 * _known(N, y) + c0) * _SLACK, None


def _elementwise_prepare(layer: exact.Elementwise, width: int, device, p: Precision):
    t = layer.float_tables(width)
    if np.abs(t.slopes).max() > p.largest or np.abs(t.intercepts).max() > p.largest:
        raise Unscreenable(f"activation tables beyond {p.dtype}'s range")
    finite = np.isfinite(t.levels) & (np.abs(t.levels) <= p.largest)  # a level beyond: compares alike
    levels = np.where(finite, t.levels, np.where(t.levels > 0, np.inf, -np.inf))
    level_err = np.where(finite, p.rho * np.abs(np.where(finite, t.levels, 0)) + p.alpha + p.daz, 0).sum(axis=0)
    mis_piece = 2 * t.lipschitz * level_err  # a level on the wrong side: pieces differ by 2 L |t - t~|
    steepest = np.abs(_rounded(p, t.slopes)).max(axis=0)
    slope_err = p.rho * np.abs(t.slopes).max(axis=0) + p.alpha
    intercept_err = p.rho * np.abs(t.intercepts).max(axis=0) + p.alpha
    constant = mis_piece + intercept_err + 2 * p.eta + steepest * p.daz + p.daz
    return (
        _tensor(levels, device).to(p.dtype),
        _in(p, t.slopes, device),
        _in(p, t.intercepts, device),
        _up(float(t.lipschitz.max(initial=0.0))),
        _up(float((slope_err + p.u * steepest).max(initial=0.0))),
        _l2(constant),
    )


def _elementwise(layer, y, E, N, cache):
    levels, slopes, intercepts, lipschitz, c1, c0 = cache
    out = torch.addcmul(intercepts[0], slopes[0], y)  # c + s y: two roundings, or one if fused
    for k in range(len(levels)):  # levels ascend: past level k, piece k + 1 (inf: never)
        out = torch.where(y > levels[k], torch.addcmul(intercepts[k + 1], slopes[k + 1], y), out)
    N_out = _norms(out)
    u = _PRECISIONS[y.dtype].u
    own = c1 * _known(N, y) + c0 + u * (1 + 2 * u) * N_out
    return out, (lipschitz * E + own) * _SLACK, N_out


def _as_view(groups: np.ndarray, width: int):
    """``(blocks, size, stride)`` when sorting ``groups`` is sorting axis 1 of the batch viewed
    as ``(batch, blocks, size, stride)`` (members ``stride`` apart, groups tiling the width),
    else ``None``."""
    count, size = groups.shape
    stride = int(groups[0, 1] - groups[0, 0]) if size > 1 else 1
    if stride < 1 or width % (size * stride) or count * size != width:
        return None
    if not np.array_equal(groups, groups[:, :1] + stride * np.arange(size)[None, :]):
        return None
    starts = np.sort(groups[:, 0])
    blocks = width // (size * stride)
    expected = (np.arange(blocks)[:, None] * size * stride + np.arange(stride)[None, :]).ravel()
    return (blocks, size, stride) if np.array_equal(starts, expected) else None


def _sort_prepare(layer: exact.SortingLayer, width: int, device, p: Precision, groups=None):
    groups = layer.groups(width) if groups is None else groups
    view = _as_view(groups, width)
    swapped = math.sqrt(width) * p.daz  # flushed subnormals compare as equal
    return view, (torch.as_tensor(groups, device=device) if view is None else None), swapped


def _sort(layer, y, E, N, cache):
    view, groups, swapped = cache
    if view is None:
        out = y.clone()
        out[:, groups] = torch.sort(y[:, groups], dim=2, descending=layer.descending).values
    elif view[1] == 2:  # a pair: its max and min
        v = y.view(len(y), view[0], 2, view[2])
        low, high = torch.minimum(v[:, :, 0], v[:, :, 1]), torch.maximum(v[:, :, 0], v[:, :, 1])
        out = torch.stack((high, low) if layer.descending else (low, high), dim=2).view(len(y), -1)
    else:
        out = torch.sort(y.view(len(y), *view), dim=2, descending=layer.descending).values.view(len(y), -1)
    return out, (E + swapped) * _SLACK, N  # sorting is 1-Lipschitz in l2 and keeps the norm


def _gather_prepare(layer: Gather, width: int, device, p: Precision):
    index = torch.tensor([layer.in_features if i is None else i for i in layer.index], device=device)
    zeros = None in layer.index
    # every input copied once (the rest zeros): the output's row norms are the input's
    keeps_norms = layer.copies == 1 and len({i for i in layer.index if i is not None}) == layer.in_features
    return index, math.sqrt(layer.copies) * _SLACK, zeros, keeps_norms


def _gather(layer, y, E, N, cache):
    index, factor, zeros, keeps_norms = cache
    source = torch.cat([y, y.new_zeros(len(y), 1)], dim=1) if zeros else y
    return source.index_select(1, index), E * factor, N if keeps_norms else None


def _residual_prepare(layer: Residual, width: int, device, p: Precision):
    inner = prepare(layer.inner.layers, width, device, p)
    skip = None if layer.skip is None else prepare([layer.skip], width, device, p)
    return inner, skip, math.sqrt(layer.check_width(width)) * 2 * p.daz


def _residual(layer, y, E, N, cache):
    inner, skip, flushed = cache
    z, Ez, _ = run(inner, y, E, N)
    s, Es, _ = (y, E, N) if skip is None else run(skip, y, E, N)
    out = z + s
    N_out = _norms(out)
    u = _PRECISIONS[out.dtype].u
    return out, (Ez + Es + u * (1 + 2 * u) * N_out + flushed) * _SLACK, N_out


def lipschitz_of(prepared: list) -> float:
    """A proven l2 Lipschitz bound of the exact layers behind ``prepared`` (the product of
    the bounds each step carries; float, rounded up).

    Examples:
        >>> lipschitz_of(prepare([Affine([[3, 0], [0, 4]])], 2, "cpu")) >= 4
        True
    """
    return math.prod(bound for _, _, _, bound in prepared) * _SLACK


#: One screen step per exact layer type: ``(prepare(layer, width, device), step(layer, y, E,
#: N, prepared), bound(prepared))`` with ``N`` the row norms of ``y`` when a step before
#: computed them (else ``None``); a step returns its output, its error bound and its output's
#: row norms (or ``None``); ``bound`` is the layer's proven l2 Lipschitz bound.
_STEPS = {
    Affine: (_affine_prepare, _affine, lambda cache: cache[2]),
    Conv2d: (_conv_prepare, _conv, lambda cache: cache[2]),
    Gather: (_gather_prepare, _gather, lambda cache: cache[1]),
    exact.Elementwise: (_elementwise_prepare, _elementwise, lambda cache: cache[3]),
    exact.SortingLayer: (_sort_prepare, _sort, lambda cache: 1.0),
    Residual: (
        _residual_prepare,
        _residual,
        lambda cache: (lipschitz_of(cache[0]) + (1.0 if cache[1] is None else lipschitz_of(cache[1]))) * _SLACK,
    ),
}


def prepare(layers, width: int, device, p: Precision = FLOAT32) -> list:
    """Every layer's screen step and constants; :class:`Unscreenable` if one has none.  A
    permutation, a sort and the inverse permutation become one sort in place."""
    layers, prepared, k = composed_gathers(layers), [], 0
    while k < len(layers):
        fused = fused_sort(layers, k, width)
        if fused is not None:
            prepared.append((fused[0], _sort, _sort_prepare(fused[0], width, device, p, fused[1]), 1.0))
            k += 3
            continue
        layer = layers[k]
        entry = next((_STEPS[cls] for cls in type(layer).__mro__ if cls in _STEPS), None)
        if entry is None:
            raise Unscreenable(f"{type(layer).__name__} has no screen")
        cache = entry[0](layer, width, device, p)
        prepared.append((layer, entry[1], cache, entry[2](cache)))
        width = layer.check_width(width)
        k += 1
    return prepared


def run(prepared: list, y: torch.Tensor, E: torch.Tensor, N=None) -> tuple:
    """``(y, E, N)`` after the prepared layers; ``N`` bounds ``y``'s row norms when known."""
    for layer, step, cache, _ in prepared:
        y, E, N = step(layer, y, E, N, cache)
    return y, E, N


def _known(N, y: torch.Tensor) -> torch.Tensor:
    return _norms(y) if N is None else N


#: Input formats each screen format holds exactly.
_EXACT_INPUTS = {
    torch.float32: (torch.float32, torch.float16, torch.bfloat16),
    torch.float64: (torch.float64, torch.float32, torch.float16, torch.bfloat16),
}


def _entry_error(flat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A bound on the l2 distance of each row of ``flat`` from its image ``y`` in the screen's
    format."""
    n = len(flat)
    if flat.dtype in _EXACT_INPUTS[y.dtype]:
        return torch.zeros(n, dtype=torch.float64, device=y.device)  # taken exactly
    gap = (flat.double() - y.double()).abs().amax(dim=1) if flat.shape[1] else y.new_zeros(n).double()
    E = gap * math.sqrt(flat.shape[1]) * _SLACK  # within sqrt(width) times the largest gap
    return torch.where(torch.isfinite(y).all(dim=1), E, math.inf)


def screened_layers(layers, x: torch.Tensor, precision: Precision = FLOAT32) -> tuple:
    """``(y, E)`` for exact layers on a batch of flat inputs ``x`` (finite, each entry taken
    exactly): outputs in ``precision`` (:data:`FLOAT32` or :data:`FLOAT64`) and per-sample
    bounds, ``|y_i - f_i(x)| <= E`` for every output.

    Examples:
        >>> from cpwl import Affine
        >>> y, E = screened_layers([Affine([[1, 2]], [0])], torch.tensor([[1.0, 1.0]]))
        >>> y.tolist(), bool(E[0] < 1e-5)
        ([[3.0]], True)
        >>> bool(screened_layers([Affine([[1, 2]], [0])], torch.tensor([[1.0, 1.0]]), FLOAT64)[1][0] < 1e-14)
        True
    """
    with ieee_arithmetic():
        prepared = prepare(layers, x.shape[1], x.device, precision)
        y = x.to(precision.dtype)
        y, E, _ = run(prepared, y, _entry_error(x, y))
    return y, E


class Screen:
    """A translated model (:class:`nets.certify.rigorous.BoundedModel`'s translation) prepared
    for the pass in ``precision`` (:data:`FLOAT32`, the default, or :data:`FLOAT64`); calling it
    on a batch gives ``(y, E)``: scores in that format and float64 per-sample bounds with
    ``|y_i - f_i(x)| <= E`` for every output (``E`` may be ``inf``)."""

    def __init__(self, translation, device, precision: Precision = FLOAT32):
        if any(step.float_step is not None for step in translation.steps):
            raise Unscreenable("a module is evaluated by a rigorous float step of its own")
        self.in_shape, self.out_shape = translation.in_shape, translation.out_shape
        self.precision = precision
        with ieee_arithmetic():
            self._prepared = prepare(translation.layers, int(np.prod(self.in_shape)), device, precision)

    def lipschitz_bound(self) -> float:
        """A proven l2 Lipschitz bound of the model's exact function (:func:`lipschitz_of`):
        cheap, and for dense layers looser than :func:`nets.certify.lipschitz_certificate`'s
        exact tests."""
        return lipschitz_of(self._prepared)

    def __call__(self, x: torch.Tensor) -> tuple:
        """The pass on a checked batch ``x`` (``[batch, *in_shape]``, finite, on the device)."""
        n = len(x)
        flat = x.reshape(n, -1)
        y = flat.to(self.precision.dtype)
        E = _entry_error(flat, y)
        with ieee_arithmetic():
            y, E, _ = run(self._prepared, y, E)
        return y.reshape(n, *self.out_shape), E
