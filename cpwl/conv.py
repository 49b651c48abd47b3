"""The exact 2-D convolution layer: a convolution acts on patches, never as a dense matrix."""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from fractions import Fraction
from typing import Optional, Union

import numpy as np

from cpwl import _conv_bound, _intarrays
from cpwl._floats import subnormals_kept
from cpwl.affine import Affine, FloatForm, is_float_array
from cpwl.enclosure import sqrt_upper
from cpwl.errors import InvalidArgument, ShapeError
from cpwl.layer import Layer, LipschitzBound, norm_name
from cpwl.limits import check_memory
from cpwl.rationals import RationalLike, as_rational

__all__ = ["Conv2d", "PADDING_MODES"]

#: Padding modes, with torch's meaning: ``zeros``; ``circular`` (wrap around); ``reflect``
#: (mirror without repeating the edge, pad < size); ``replicate`` (repeat the edge).
PADDING_MODES = ("zeros", "circular", "reflect", "replicate")

#: Proven l2 bounds of recently seen convolutions, by content (:meth:`Conv2d._bound_key`): a
#: model translated again (a new certifier, a new shard) does not prove them again.
_L2_BOUNDS: OrderedDict = OrderedDict()
_KEPT_BOUNDS = 256


def _pair(value, name: str) -> tuple:
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise InvalidArgument(f"{name} must be an int or a pair of ints, got {value!r}")
    return tuple(int(v) for v in pair)


def _padding(value) -> tuple:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    values = tuple(value)
    if len(values) == 2:
        values = (values[0], values[0], values[1], values[1])
    if len(values) != 4 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in values
    ):
        raise InvalidArgument(
            f"padding must be an int, (height, width) or (top, bottom, left, right) of ints >= 0, got {value!r}"
        )
    return tuple(int(v) for v in values)


def _axis_map(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index along one axis for each padded position (``-1``: a zero)."""
    y = np.arange(-before, size + after)
    if mode == "zeros":
        return np.where((y >= 0) & (y < size), y, -1)
    if mode == "circular":
        return np.mod(y, size)
    if mode == "replicate":
        return np.clip(y, 0, size - 1)
    reflected = np.abs(y)
    return np.where(reflected >= size, 2 * (size - 1) - reflected, reflected)


class Conv2d(Layer):
    """Exact 2-D convolution (cross-correlation, as torch's ``conv2d``) of a ``(C, H, W)``
    feature map stored row-major in the components of a map.

    ``kernel`` is ``[out, C / groups, kh, kw]`` (a float numpy array, kept exactly, or nested
    rationals), ``bias`` has ``out`` entries; ``stride`` and ``dilation`` are ints or pairs;
    ``padding`` an int, ``(height, width)`` or ``(top, bottom, left, right)``; ``padding_mode``
    one of :data:`PADDING_MODES` (``reflect`` needs padding below the size, ``circular`` at
    most the size, as in torch).  The output is ``(out, H', W')`` row-major.

    Examples:
        >>> kernel = [[[[0, 0, 0], [1, 0, 1], [0, 0, 0]]]]
        >>> conv = Conv2d(kernel, [0], in_shape=(1, 1, 3), padding=1, padding_mode="circular")
        >>> conv([0, 1, 2])
        (Fraction(3, 1), Fraction(2, 1), Fraction(1, 1))
        >>> conv.out_shape
        (1, 1, 3)
    """

    def __init__(
        self,
        kernel,
        bias: Optional[Sequence[RationalLike]] = None,
        *,
        in_shape: tuple,
        stride: Union[int, tuple] = 1,
        padding: Union[int, tuple] = 0,
        dilation: Union[int, tuple] = 1,
        groups: int = 1,
        padding_mode: str = "zeros",
    ):
        in_shape = tuple(in_shape)
        if len(in_shape) != 3 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in in_shape):
            raise InvalidArgument(f"in_shape must be (channels, height, width) of positive ints, got {in_shape!r}")
        self.in_shape = tuple(int(v) for v in in_shape)
        self.stride, self.dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
        self.padding = _padding(padding)
        if min(self.stride + self.dilation) < 1:
            raise InvalidArgument(f"stride and dilation must be positive, got {stride!r} and {dilation!r}")
        if padding_mode not in PADDING_MODES:
            raise InvalidArgument(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
            raise InvalidArgument(f"groups must be a positive int, got {groups!r}")
        self.groups = int(groups)
        K = (
            kernel
            if is_float_array(kernel)
            else np.array(
                [[[[as_rational(v) for v in row] for row in plane] for plane in block] for block in kernel],
                dtype=object,
            )
        )
        if K.ndim != 4 or 0 in K.shape:
            raise ShapeError(f"kernel must be [out][in / groups][kh][kw], got shape {K.shape}")
        c = self.in_shape[0]
        out, cin_g, kh, kw = K.shape
        if c % self.groups or out % self.groups or cin_g * self.groups != c:
            raise ShapeError(f"a kernel of shape {K.shape} with groups={self.groups} does not fit {c} input channels")
        self.kernel_shape = (out, cin_g, kh, kw)
        _, h, w = self.in_shape
        top, bottom, left, right = self.padding
        limit = {"reflect": (h - 1, w - 1), "circular": (h, w)}.get(padding_mode)
        if limit and (max(top, bottom) > limit[0] or max(left, right) > limit[1]):
            raise InvalidArgument(f"{padding_mode} padding {self.padding} is too large for a {h}x{w} input")
        span_h, span_w = (kh - 1) * self.dilation[0] + 1, (kw - 1) * self.dilation[1] + 1
        out_h = (h + top + bottom - span_h) // self.stride[0] + 1
        out_w = (w + left + right - span_w) // self.stride[1] + 1
        if out_h < 1 or out_w < 1:
            raise ShapeError(f"the kernel (span {span_h}x{span_w}) does not fit the padded {h}x{w} input")
        self.out_shape = (out, out_h, out_w)
        self.in_features = c * h * w
        flat = K.reshape(out, cin_g * kh * kw)
        float_bias = bias is None or is_float_array(np.asarray(bias))
        if is_float_array(flat) and float_bias:
            self._matrix = Affine(flat, None if bias is None else np.asarray(bias))
        else:
            self._matrix = Affine(
                flat.tolist(), None if bias is None else list(np.ravel(np.asarray(bias, dtype=object)))
            )

    @property
    def float_form(self) -> FloatForm:
        """Float64 copies of the kernel (shaped ``[out, C / groups, kh, kw]``) and bias, as
        :attr:`cpwl.Affine.float_form` (exact for kernels that arrived as floats).

        Examples:
            >>> Conv2d([[[["1/2"]]]], in_shape=(1, 1, 1)).float_form.weight.tolist()
            [[[[0.5]]]]
        """
        form = self._matrix.float_form
        return FloatForm(form.weight.reshape(self.kernel_shape), form.bias, form.exact)

    @property
    def kernel(self) -> tuple:
        """The kernel ``[out][C / groups][kh][kw]`` as nested tuples of Fractions."""
        out, cin_g, kh, kw = self.kernel_shape
        rows = self._matrix.weight
        return tuple(
            tuple(
                tuple(tuple(rows[o][(c * kh + a) * kw : (c * kh + a + 1) * kw]) for a in range(kh))
                for c in range(cin_g)
            )
            for o in range(out)
        )

    @property
    def bias(self) -> tuple:
        """The bias, one Fraction per output channel."""
        return self._matrix.bias

    @property
    def out_features(self) -> int:
        """Number of outputs ``out * H' * W'``."""
        return int(np.prod(self.out_shape))

    def check_width(self, k: int) -> int:
        super().check_width(k)
        return self.out_features

    @functools.cached_property
    def _pad_index(self) -> np.ndarray:
        """Source index (``-1``: zero) of every position of the padded ``(C, Hp, Wp)`` input."""
        c, h, w = self.in_shape
        top, bottom, left, right = self.padding
        rows = _axis_map(h, top, bottom, self.padding_mode)
        cols = _axis_map(w, left, right, self.padding_mode)
        plane = np.where((rows[:, None] >= 0) & (cols[None, :] >= 0), rows[:, None] * w + cols[None, :], -1)
        return np.where(plane[None] >= 0, np.arange(c)[:, None, None] * h * w + plane[None], -1)

    @functools.cached_property
    def _patches(self) -> np.ndarray:
        """``[groups, H' W', C/groups kh kw]`` source indices of every tap (``in_features``: a zero)."""
        out, cin_g, kh, kw = self.kernel_shape
        _, out_h, out_w = self.out_shape
        (sh, sw), (dh, dw) = self.stride, self.dilation
        ys = (np.arange(out_h) * sh)[:, None] + np.arange(kh)[None, :] * dh  # [H', kh]
        xs = (np.arange(out_w) * sw)[:, None] + np.arange(kw)[None, :] * dw  # [W', kw]
        groups = []
        for g in range(self.groups):
            block = self._pad_index[g * cin_g : (g + 1) * cin_g]  # [cg, Hp, Wp]
            taps = block[:, ys[:, None, :, None], xs[None, :, None, :]]  # [cg, H', W', kh, kw]
            groups.append(taps.transpose(1, 2, 0, 3, 4).reshape(out_h * out_w, cin_g * kh * kw))
        index = np.stack(groups)
        return np.where(index < 0, self.in_features, index)

    def _forward(self, vals: list) -> list:
        x = np.empty(len(vals) + 1, dtype=object)
        x[: len(vals)] = vals
        x[-1] = as_rational(0)
        W, b = np.array(self._matrix._W, dtype=object), np.array(self._matrix._b, dtype=object)
        out_g = self.kernel_shape[0] // self.groups
        blocks = [
            x[self._patches[g]].dot(W[g * out_g : (g + 1) * out_g].T) + b[g * out_g : (g + 1) * out_g]
            for g in range(self.groups)
        ]
        return list(np.concatenate(blocks, axis=1).T.ravel())  # [out, H' W'] row-major

    def apply_map(self, F):
        from cpwl.cpwl_map import CPWLMap

        if F.dim != self.in_features:
            raise ShapeError(f"{self!r} takes {self.in_features} inputs, the map has {F.dim}")
        W_int, b_int, den = self._matrix._int_form
        P = F._A.shape[0]
        out, cin_g, kh, kw = self.kernel_shape
        positions = self._patches.shape[1]
        bits = F._D.bit_length() + int(den).bit_length() + 64
        check_memory(
            16.0 * P * positions * cin_g * kh * kw * self.groups
            + _intarrays.object_bytes(2 * P * positions * out, bits),
            f"{self!r} on {P} pieces",
        )
        maps = np.concatenate([F._A, F._C], axis=0)
        zero = _intarrays.ints([0] * (2 * P), (2 * P, 1))
        maps = np.concatenate([maps, zero], axis=1)
        out_g = out // self.groups
        blocks = []
        for g in range(self.groups):
            patches = maps[:, self._patches[g]].reshape(2 * P * positions, cin_g * kh * kw)
            prod = _intarrays.matmul(patches, W_int[g * out_g : (g + 1) * out_g].T)
            blocks.append(prod.reshape(2 * P, positions, out_g))
        result = np.concatenate(blocks, axis=2).transpose(0, 2, 1).reshape(2 * P, out * positions)
        offset = np.repeat(b_int, positions)[None, :] * F._D
        return CPWLMap._raw(F._bps, result[:P], result[P:] + offset, F._D * den, F._domain)

    def jacobian_hull(self, lo, hi) -> tuple:
        """The kernel's positive taps applied to one end of the box and its negative taps to
        the other, exactly (taps merged by reflect/replicate/circular padding are bounded
        separately, which only widens the result)."""
        out, cin_g, kh, kw = self.kernel_shape
        out_g = out // self.groups
        W = np.array(self._matrix._W, dtype=object)
        zero = np.zeros((1, lo.shape[1]), dtype=object)
        low, high = np.concatenate([lo, zero]), np.concatenate([hi, zero])
        parts_lo, parts_hi = [], []
        for g in range(self.groups):
            index = self._patches[g]  # [positions, taps]
            W_g = W[g * out_g : (g + 1) * out_g]
            positive, negative = np.where(W_g > 0, W_g, 0), np.where(W_g < 0, W_g, 0)
            a = np.tensordot(positive, low[index], axes=([1], [1])) + np.tensordot(
                negative, high[index], axes=([1], [1])
            )
            b = np.tensordot(positive, high[index], axes=([1], [1])) + np.tensordot(
                negative, low[index], axes=([1], [1])
            )
            parts_lo.append(a.reshape(out_g * index.shape[0], -1))  # [out_g, positions, n]: row-major outputs
            parts_hi.append(b.reshape(out_g * index.shape[0], -1))
        return np.concatenate(parts_lo), np.concatenate(parts_hi)

    def padding_copies(self) -> int:
        """How often the padded input holds one input pixel at most (1 for zero padding)."""
        index = self._pad_index.ravel()
        return int(np.bincount(index[index >= 0]).max())

    def torus_repeats(self) -> int:
        """For circular padding: how many output positions read the same position of the
        torus convolution at most (see :mod:`cpwl._conv_bound`)."""
        _, h, w = self.in_shape
        _, out_h, out_w = self.out_shape
        top, _, left, _ = self.padding
        rows = np.bincount((np.arange(out_h) * self.stride[0] - top) % h).max()
        cols = np.bincount((np.arange(out_w) * self.stride[1] - left) % w).max()
        return int(rows * cols)

    def lipschitz_bound(self, norm=2, weights: Optional[Sequence[float]] = None) -> LipschitzBound:
        """A proven bound on the operator norm in ``norm``.

        In l-infinity: the largest ``sum |K[o]|`` over output channels, exactly (a row of the
        layer's matrix sums some of the kernel's taps, merged ones included).  In l1: the
        largest sum of ``|K[:, i]|`` over an input channel's outputs and the taps of one
        stride residue class (only those can read the same padded position), exactly, times
        the padding's copy count (a tap reads one padded position per output, and the padded
        input holds an input pixel at most that often).

        In l2, the smaller of two bounds, each computed in float64 with every rounding bounded
        (see :mod:`cpwl._conv_bound`):

        * Schur's weighted row-sum test on the kernel's self-correlation (``weights`` are
          positive per-input-channel Schur weights; AOL convolutions pass their scales'
          inverses, for which the test is their closed-form guarantee);
        * when Schur's test does not already give 1, the spectral norm of the convolution on a
          torus (the largest singular value of the kernel's transfer matrices over the
          torus frequencies, proven by floating-point Cholesky factorisations): tight, e.g.
          for orthogonal convolutions.

        Either is multiplied by the square root of the padding's copy count (reflect,
        replicate) or of the torus repeats (circular padding with strides).

        Examples:
            >>> Conv2d([[[[0, 1, 0]]]], in_shape=(1, 3, 3), padding=(0, 1)).lipschitz_bound().value
            Fraction(1, 1)
            >>> Conv2d([[[[1]]]], in_shape=(1, 3, 3), padding=1, padding_mode="replicate").lipschitz_bound().value
            Fraction(2, 1)
            >>> halves = Conv2d([[[["1/2", "1/2"]]]], in_shape=(1, 1, 4), padding=(0, 1))
            >>> float(halves.lipschitz_bound().value)  # Schur: 1.0
            1.0
            >>> Conv2d([[[[1, -2]]], [[[3, 0]]]], in_shape=(1, 2, 2), padding=(0, 1)).lipschitz_bound("inf").value
            Fraction(3, 1)
        """
        norm = norm_name(norm)
        if norm != 2:
            if weights is not None:
                raise InvalidArgument("Schur weights only apply to the l2 bound")
            return self._sum_bound(norm)
        c = self.in_shape[0]
        q = None if weights is None else np.asarray(weights, dtype=np.float64)
        if q is not None and (q.shape != (c,) or not (np.isfinite(q).all() and (q > 0).all())):
            raise InvalidArgument(f"weights must be {c} positive finite numbers, one per input channel")
        key = self._bound_key(q)
        if key is not None and key in _L2_BOUNDS:
            _L2_BOUNDS.move_to_end(key)
            return _L2_BOUNDS[key]
        with subnormals_kept():
            bound = self._l2_bound(q)
        if key is not None:
            _L2_BOUNDS[key] = bound
            while len(_L2_BOUNDS) > _KEPT_BOUNDS:
                _L2_BOUNDS.popitem(last=False)
        return bound

    def _bound_key(self, q) -> Optional[tuple]:
        """Everything the l2 bound is a function of, the kernel by the bytes of its float64
        entries (``None`` for a kernel that did not arrive as floats: its float image does not
        determine it)."""
        form = self.float_form
        if not form.exact:
            return None
        kernel = np.ascontiguousarray(form.weight)
        return (
            hashlib.blake2b(kernel.view(np.uint8), digest_size=16).digest(),
            kernel.shape,
            self.in_shape,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.padding_mode,
            None if q is None else q.tobytes(),
        )

    def _l2_bound(self, q) -> LipschitzBound:
        form = self.float_form
        K = _conv_bound.dilate(form.weight, self.dilation)
        products_exact = form.exact and _fits_26_bits(form.weight)
        sums_exact = products_exact and self._sums_exact()
        row_max = _conv_bound.schur_row_max(K, self.groups, q, products_exact, form.exact, sums_exact)
        _, h, w = self.in_shape
        top, bottom, left, right = self.padding
        (sh, sw), stride = self.stride, self.stride
        if self.padding_mode == "circular":
            factor, how, torus = self.torus_repeats(), "torus repeats", (h, w)
            if h % sh or w % sw:
                stride = (1, 1)  # the strided outputs are then a selection of the unstrided ones
        else:
            factor, how = (1, "") if self.padding_mode == "zeros" else (self.padding_copies(), "padding copies")
            torus = (
                -(-(h + top + bottom) // sh) * sh,
                -(-(w + left + right) // sw) * sw,
            )  # holds the padded input, no wrap
        times = f", times sqrt({how} = {factor})" if factor > 1 else ""
        squared = Fraction(row_max) * factor
        if squared <= 1:
            return LipschitzBound(
                Fraction(1), "float64 Schur row-sum test of the kernel self-correlation, rounding bounded" + times
            )
        spectral = Fraction(
            _conv_bound.spectral_norm_upper(form.weight, self.groups, torus, self.dilation, form.exact, stride)
        )
        spectral_squared = spectral * spectral * factor
        if spectral_squared < squared:
            value = sqrt_upper(spectral_squared) if factor > 1 else spectral
            return LipschitzBound(
                value,
                f"spectral norm on a {torus[0]}x{torus[1]} torus (transfer matrices, Cholesky-verified, "
                "rounding bounded)" + times,
            )
        return LipschitzBound(
            sqrt_upper(squared), "float64 Schur row-sum test of the kernel self-correlation, rounding bounded" + times
        )

    def _sum_bound(self, norm) -> LipschitzBound:
        W_int, _, den = self._matrix._int_form
        out, cin_g, kh, kw = self.kernel_shape
        magnitudes = np.abs(W_int)
        if norm == "inf":
            return LipschitzBound(
                Fraction(int(max(magnitudes.sum(axis=1))), int(den)), "exact largest sum of |K| over an output channel"
            )
        taps = magnitudes.reshape(self.groups, out // self.groups, cin_g, kh, kw).sum(axis=1)  # [groups, cin_g, kh, kw]
        (sh, sw), (dh, dw) = self.stride, self.dilation
        rows, cols = (
            (np.arange(kh) * dh) % sh,
            (np.arange(kw) * dw) % sw,
        )  # a padded pixel meets only taps of one residue class
        per_input = max(
            taps[:, :, rows == ry][:, :, :, cols == rx].sum(axis=(2, 3)).max()
            for ry in set(rows.tolist())
            for rx in set(cols.tolist())
        )
        copies = self.padding_copies()
        how = f", times the padding's copy count {copies}" if copies > 1 else ""
        return LipschitzBound(
            Fraction(int(per_input) * copies, int(den)),
            "exact largest sum of |K| over the taps that can read one input pixel" + how,
        )

    def _sums_exact(self) -> bool:
        """Whether every sum of products of kernel entries that the Schur test forms is exact
        in float64: all products are multiples of ``2**(2 lo)`` below ``2**(2 hi)``, and their
        count times ``2**(2 hi)`` stays below ``2**(53 + 2 lo)``."""
        W_int, _, den = self._matrix._int_form
        values = [abs(int(v)) for v in W_int.ravel() if v]
        if not values:
            return True
        lo = min((v & -v).bit_length() - 1 for v in values)
        hi = max(values).bit_length()
        out, cin_g, kh, kw = self.kernel_shape
        count = (out // self.groups) * kh * kw * cin_g * (2 * kh - 1) * (2 * kw - 1)
        return count.bit_length() + 2 * hi < 53 + 2 * lo

    def __repr__(self) -> str:
        return f"Conv2d({self.in_shape} -> {self.out_shape})"


def _fits_26_bits(values: np.ndarray) -> bool:
    """Whether every float64 has at most 26 significant bits (so products of two are exact)."""
    mantissa, _ = np.frexp(values)
    scaled = np.ldexp(mantissa, 26)
    return bool(np.all(scaled == np.round(scaled)))
