"""Private: the fast engine's step for :class:`cpwl.Conv2d`, as a convolution.

The kernel is never expanded to a dense matrix: rows (one flat ``(C, H, W)`` feature map
each: the float forms of every piece, the exact state's event directions) go through torch's
float64 ``conv2d`` on the CPU, for the floats (with the error bound of a dot product of
``taps`` terms) and for the residues modulo each prime (exact: integers below ``2**53``,
input channels sliced so that every sum stays below it).  Rows are processed in chunks, so
the padded copies take a bounded amount of working memory on top of the state itself.
"""

from __future__ import annotations

import numpy as np

from cpwl._filtered import _REL, _SLACK, _TINY, _U, Propagation, _row_max, grown, log2_bound
from cpwl._modular import _CHUNK, reduce_by
from cpwl.device import current as current_device
from cpwl.errors import ShapeError

#: Working memory for the gathered patches of one chunk of pieces.
CHUNK_BYTES = 2**28


def apply(state: Propagation, layer) -> None:
    """Push the state through a convolution."""
    if state.width != layer.in_features:
        raise ShapeError(f"{layer!r} takes {layer.in_features} inputs, the map has {state.width}")
    out = layer.out_features
    n, P = state._mod.count, state.pieces
    # one prime's work, per piece (two rows): the padded input, torch's im2col buffer (every
    # tap of every output position), the product, the offsets and the reduction's temporary
    _, cin_g, kh, kw = layer.kernel_shape
    columns = cin_g * layer.groups * kh * kw * (out // layer.kernel_shape[0])
    work = 2 * 8.0 * (_padded_size(layer) + columns + 3 * out)
    chunk = max(1, int(CHUNK_BYTES // work))
    state.check_memory(8.0 * out * (2 * n + 4) + work * min(chunk, P) / P, P, f"{layer!r} on {P} pieces")
    form = layer._matrix.float_form
    Wf, bf, exact = form.weight, form.bias, form.exact
    WTR, bR, den = layer._matrix._residues(state._mod)
    kernels = np.ascontiguousarray(WTR.transpose(0, 2, 1)).reshape((n,) + layer.kernel_shape)
    bias = np.repeat(state._mod.reduce(bR * state._mod.of_int(state._D)[:, None]), out // len(bf), axis=1)
    Af, Cf = np.empty((P, out)), np.empty((P, out))
    for lo in range(0, P, chunk):
        hi = min(P, lo + chunk)
        Af[lo:hi] = _conv(layer, state._Af[lo:hi], Wf.reshape(layer.kernel_shape))
        Cf[lo:hi] = _conv(layer, state._Cf[lo:hi], Wf.reshape(layer.kernel_shape)) + np.repeat(bf, out // len(bf))
    state._conv_residues(
        lambda rows, offsets, out=None: residue_conv(state, layer, kernels, rows, offsets, out), bias, chunk
    )
    rel = 0.0 if exact else _REL
    taps = Wf.shape[1]
    gamma = taps * _U / (1 - taps * _U) + rel
    w1 = float(np.abs(Wf).sum(axis=1).max()) * (1 + rel)
    with np.errstate(all="ignore"):
        eA = (state._eA * w1 + gamma * w1 * _row_max(state._Af)) * _SLACK + _TINY
        eC = (
            state._eC * w1 + gamma * w1 * _row_max(state._Cf) + rel * float(np.abs(bf).max()) + _U * _row_max(Cf)
        ) * _SLACK + _TINY
    state._Af, state._Cf, state._eA, state._eC = Af, Cf, eA, eC
    state._D *= den


def residue_conv(state: Propagation, layer, kernels: np.ndarray, rows: np.ndarray, offsets, out=None) -> np.ndarray:
    """Exact residues ``(primes, rows, out)`` of the convolution of residue rows ``(primes,
    rows, in)``, plus the residues ``offsets`` (same shape as the result, or ``None``),
    written to ``out`` if given (no copy of the result is made)."""
    n = state._mod.count
    result = np.empty((n, rows.shape[1], layer.out_features)) if out is None else out
    for i in range(n):
        extra = None if offsets is None else offsets[i]
        _residue_conv(layer, rows[i], kernels[i], state._mod.primes[i], extra, result[i])
    return result


def _padded_size(layer) -> int:
    c, h, w = layer.in_shape
    top, bottom, left, right = layer.padding
    return c * (h + top + bottom) * (w + left + right)


def _torch_conv(layer, rows: np.ndarray, kernel: np.ndarray, device=None):
    """The convolution of flat feature maps (one per row), in float64 on the CPU (or on
    ``device``, with cuDNN off): every output is a plain sum of ``taps`` products (im2col and
    a matrix product; there is no Winograd or FFT path then), so the float error bound of a
    dot product holds, and sums of integers below ``2**53`` are exact."""
    import torch
    from torch.nn import functional

    x = torch.from_numpy(np.ascontiguousarray(rows)).to(device or "cpu").reshape((len(rows),) + layer.in_shape)
    top, bottom, left, right = layer.padding
    padding = 0
    if layer.padding_mode == "zeros" and top == bottom and left == right:
        padding = (top, left)  # conv2d pads with zeros itself, without a padded copy
    elif any(layer.padding):
        mode = {"zeros": "constant"}.get(layer.padding_mode, layer.padding_mode)
        x = functional.pad(x, (left, right, top, bottom), mode=mode)
    with torch.backends.cudnn.flags(enabled=False):
        y = functional.conv2d(
            x,
            torch.from_numpy(np.ascontiguousarray(kernel)).to(x.device),
            stride=layer.stride,
            padding=padding,
            dilation=layer.dilation,
            groups=layer.groups,
        )
    return y.reshape(len(rows), -1).cpu().numpy()


def _conv(layer, rows: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Float64 convolution of the rows (no bias), row-major ``(out, H', W')`` outputs."""
    with np.errstate(all="ignore"):
        return _torch_conv(layer, rows, kernel)


def _residue_conv(layer, rows: np.ndarray, kernel: np.ndarray, p: float, offsets, out: np.ndarray) -> None:
    """Write to ``out`` the exact residues modulo ``p`` of the convolution of residue rows
    with a residue kernel, plus ``offsets`` (residues, or ``None``): the input channels are
    taken in slices small enough that every sum of products stays below ``2**53``, each
    slice's result reduced, the slices added."""
    out_g, cin_g, kh, kw = kernel.shape
    per_slice = max(1, (_CHUNK - 1) // (kh * kw))  # the offsets count as one more term
    device = current_device()
    if cin_g <= per_slice:
        product = _torch_conv(layer, rows, kernel, device)
        if offsets is not None:
            product += offsets
        reduce_by(product, p, out=out)
        return
    total = offsets
    c, h, w = layer.in_shape
    maps = rows.reshape(len(rows), layer.groups, cin_g, h * w)
    for lo in range(0, cin_g, per_slice):
        hi = min(cin_g, lo + per_slice)
        part_layer = _Slice(layer, hi - lo)
        part = reduce_by(_torch_conv(part_layer, maps[:, :, lo:hi].reshape(len(rows), -1), kernel[:, lo:hi], device), p)
        total = part if total is None else reduce_by(total + part, p)
    out[...] = total


class _Slice:
    """The geometry of a convolution restricted to ``channels`` input channels per group."""

    def __init__(self, layer, channels: int):
        _, h, w = layer.in_shape
        self.in_shape = (channels * layer.groups, h, w)
        self.padding, self.padding_mode = layer.padding, layer.padding_mode
        self.stride, self.dilation, self.groups = layer.stride, layer.dilation, layer.groups


def growth(layer, width, log_mag, D) -> tuple:
    """As an affine layer with the kernel's rows: ``|out| <= max row sum |K| * |in| + |b|``."""
    form = layer._matrix.float_form
    w = float(np.abs(form.weight).sum(axis=1).max())
    b = float(np.abs(form.bias).max()) if form.bias.size else 0.0
    return grown(layer.check_width(width), max(log_mag + log2_bound(w), log2_bound(b)) + 1, D * layer._matrix._den)
