"""The exact affine layer ``x -> W x + b``."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import flint
import numpy as np
from gmpy2 import mpq

from cpwl import _intarrays, _modular
from cpwl._dyadic import DyadicArray
from cpwl._floats import ratio_to_float
from cpwl.cpwl_map import CPWLMap, exact_matrix, exact_vector
from cpwl.errors import InvalidArgument, NumberError, ShapeError
from cpwl.layer import Layer, LipschitzBound, linear_hull, norm_name
from cpwl.linalg import operator_norm_at_most, spectral_norm_enclosure
from cpwl.rationals import RationalLike, _to_fraction, as_rational

__all__ = ["Affine", "FloatForm"]


@dataclass(frozen=True)
class FloatForm:
    """Float64 copies of a layer's exact weights: each entry within a relative ``2**-53``
    of the exact rational (or ``2**-1074`` absolutely in the subnormal range), equal to it
    when ``exact`` (always the case for weights that arrived as float16/32/64 arrays)."""

    weight: np.ndarray
    bias: np.ndarray
    exact: bool


def is_float_array(x) -> bool:
    """Whether ``x`` is a numpy array of binary floats of at most 64 bits (kept in exact
    binary form; a long double array is converted entry by entry instead)."""
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating) and x.dtype.itemsize <= 8


class Affine(Layer):
    """The affine layer ``x -> W x + b`` with exact rational ``W`` (``m x n``) and ``b``.

    ``W`` and ``b`` may be nested sequences of anything :func:`cpwl.as_rational` accepts, or
    float numpy arrays (trained weights), which are kept in an exact binary form instead of
    one rational object per entry.

    Examples:
        >>> from cpwl import Affine
        >>> Affine([[1, 2]], [3])([1, 1])
        (Fraction(6, 1),)
    """

    def __init__(self, W, b=None):
        if is_float_array(W) and (b is None or is_float_array(b)):
            self._dyadic = _dyadic_parts(W, b)
            self._shape = self._dyadic[0].values.shape
        else:
            self._dyadic = None
            self._W = exact_matrix(W, "W")
            self._b = exact_vector(b, len(self._W), "b")
            self._shape = (len(self._W), len(self._W[0]))

    @functools.cached_property
    def _W(self) -> list:
        return [[mpq(v) for v in row] for row in self._dyadic[0].values.tolist()]

    @functools.cached_property
    def _b(self) -> list:
        return [mpq(v) for v in self._dyadic[1].values.tolist()]

    @functools.cached_property
    def _int_form(self) -> tuple:
        """``(W_int, b_int, den)``: integer object arrays over the least common denominator."""
        if self._dyadic is None:
            W_int, b_int, den = _intarrays.over_common_denominator(self._W, [self._b])
            return W_int, b_int[0], den
        shift = self._den_exponent()
        return self._dyadic[0].scaled_ints(shift), self._dyadic[1].scaled_ints(shift), 1 << shift

    def _den_exponent(self) -> int:
        return max(0, -min(self._dyadic[0].min_exponent(), self._dyadic[1].min_exponent()))

    @property
    def _den(self) -> int:
        return self._int_form[2] if self._dyadic is None else 1 << self._den_exponent()

    @functools.cached_property
    def float_form(self) -> FloatForm:
        """Float64 copies of ``W`` and ``b`` (see :class:`FloatForm`).

        Examples:
            >>> Affine([["1/3"]]).float_form.exact
            False
        """
        if self._dyadic is not None:
            return FloatForm(self._dyadic[0].values, self._dyadic[1].values, True)
        W_int, b_int, den = self._int_form
        Wf, exact_w = ratio_to_float(W_int, den)
        bf, exact_b = ratio_to_float(b_int, den)
        return FloatForm(Wf, bf, exact_w and exact_b)

    def _residues(self, moduli) -> tuple:
        """Residues of ``W_int`` *transposed* and of ``b_int`` modulo each prime of a
        :class:`cpwl._modular.Moduli` (float64, leading prime axis, contiguous) and the common
        denominator.  The residues for the most primes asked for so far are kept, and fewer
        primes take their first rows (the primes are always the first ones of one list): a
        network restricted to many lines or stretches reads its weights once."""
        cached = self.__dict__.get("_residue_cache")
        count = moduli.count
        if cached is None or len(cached[0]) < count or cached[0][:count] != moduli.primes_list:
            cached = (moduli.primes_list, self._compute_residues(moduli))
            self.__dict__["_residue_cache"] = cached
        WTR, bR, den = cached[1]
        return WTR[:count], bR[:count], den

    def _compute_residues(self, moduli) -> tuple:
        if self._dyadic is not None:
            shift = self._den_exponent()
            return (
                self._dyadic[0].T.scaled_residues(shift, moduli),
                self._dyadic[1].scaled_residues(shift, moduli),
                1 << shift,
            )
        W_int, b_int, den = self._int_form
        return _modular.residues(W_int.T, moduli.primes), _modular.residues(b_int, moduli.primes), den

    @property
    def weight(self) -> tuple:
        """``W`` as a tuple of rows of Fractions."""
        return tuple(tuple(_to_fraction(v) for v in row) for row in self._W)

    @property
    def bias(self) -> tuple:
        """``b`` as a tuple of Fractions."""
        return tuple(_to_fraction(v) for v in self._b)

    @property
    def in_features(self) -> int:
        """Number of inputs ``n``."""
        return self._shape[1]

    @property
    def out_features(self) -> int:
        """Number of outputs ``m``."""
        return self._shape[0]

    def check_width(self, k: int) -> int:
        super().check_width(k)
        return self.out_features

    def _forward(self, x: list) -> list:
        return [sum((w * v for w, v in zip(row, x)), b) for row, b in zip(self._W, self._b)]

    def apply_map(self, F: CPWLMap) -> CPWLMap:
        """The exact image ``W F + b`` of a map."""
        if F.dim != self.in_features:
            raise ShapeError(f"Affine expects {self.in_features} inputs, the map has {F.dim}")
        W_int, b_int, den = self._int_form
        return F._affine_int(W_int, b_int, den)

    def jacobian_hull(self, lo, hi) -> tuple:
        """``W`` applied to the box, exactly (see :meth:`cpwl.Layer.jacobian_hull`)."""
        return linear_hull(np.array(self._W, dtype=object), lo, hi)

    def lipschitz_bound(self, norm=2, weights: Optional[Sequence[RationalLike]] = None) -> LipschitzBound:
        """A proven bound on ``||W||`` in ``norm``.

        For ``norm=1`` and ``"inf"`` it is the exact operator norm (largest column or row sum
        of ``|W|``).  For ``norm=2``: 1 if the exact weighted Schur row-sum test
        ``sum_k |W^T W|_jk q_k <= q_j`` holds (``weights`` are the positive ``q``, all ones by
        default; AOL layers pass their column scales' inverses, for which the test is their
        closed-form guarantee), else 1 if the exact PSD test of ``I - W^T W`` passes, else the
        upper end of an exact bracket of ``||W||_2``.

        Examples:
            >>> Affine([[1, 1]]).lipschitz_bound().value > Fraction(141, 100)
            True
            >>> Affine([[1, "-1/2"], [0, 1]]).lipschitz_bound(1).value
            Fraction(3, 2)
        """
        norm = norm_name(norm)
        if norm != 2:
            if weights is not None:
                raise InvalidArgument("Schur weights only apply to the l2 bound")
            W_int, _, den = self._int_form
            sums = np.abs(W_int).sum(axis=1 if norm == "inf" else 0)
            return LipschitzBound(
                Fraction(int(max(sums)), int(den)), f"exact {'row' if norm == 'inf' else 'column'} sums of |W|"
            )
        W_int, _, den = self._int_form
        m, n = W_int.shape
        if weights is None:
            q = [1] * n
        else:
            exact = [as_rational(w) for w in weights]
            if len(exact) != n or any(w <= 0 for w in exact):
                raise InvalidArgument(f"weights must be {n} positive numbers, one per input of {self!r}")
            scale = math.lcm(*(int(w.denominator) for w in exact))
            q = [int(w * scale) for w in exact]
        W = flint.fmpz_mat(m, n, W_int.ravel().tolist())
        gram = np.array((W.transpose() * W).entries(), dtype=object).reshape(n, n)
        q_arr = np.array(q, dtype=object)
        rows = np.abs(gram).dot(q_arr)
        if all(r <= qj * den * den for r, qj in zip(rows, q)):
            return LipschitzBound(Fraction(1), "exact Schur row-sum test of W^T W")
        if operator_norm_at_most(self._W):
            return LipschitzBound(Fraction(1), "exact PSD test of I - W^T W")
        return LipschitzBound(spectral_norm_enclosure(self._W).hi, "exact PSD tests bracket ||W||_2 (upper end)")

    def __repr__(self) -> str:
        return f"Affine({self.out_features}x{self.in_features})"


def _dyadic_parts(W: np.ndarray, b: Optional[np.ndarray]) -> tuple:
    if W.ndim != 2 or 0 in W.shape:
        raise ShapeError(f"W must be a non-empty 2-D matrix, got an array of shape {W.shape}")
    bias = np.zeros(W.shape[0]) if b is None else b
    if bias.shape != (W.shape[0],):
        raise ShapeError(f"b must be a vector of length {W.shape[0]}, got an array of shape {bias.shape}")
    for name, arr in (("W", W), ("b", bias)):
        if not np.isfinite(arr).all():
            raise NumberError(f"{name}: NaN and infinite floats have no rational value")
    return DyadicArray(W), DyadicArray(bias)
