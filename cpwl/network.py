"""Exact feed-forward networks: affine layers and activation layers over the rationals."""

from __future__ import annotations

import functools
from typing import Optional, Sequence, Union

import numpy as np
from gmpy2 import mpq

from cpwl import _filtered, _intarrays, _modular
from cpwl._dyadic import DyadicArray
from cpwl.activations.base import ActivationLayer
from cpwl.activations.elementwise import Elementwise
from cpwl.cpwl_map import CPWLMap, exact_matrix, exact_vector
from cpwl.errors import CPWLError, NumberError, ShapeError
from cpwl.function import CPWL
from cpwl.interval import Interval
from cpwl.linalg import check_norm
from cpwl.numbers import RationalLike, _to_fraction, as_rational

__all__ = ["Affine", "Network"]


class Affine:
    """The affine layer ``x -> W x + b`` with exact rational ``W`` (``m x n``) and ``b``.

    ``W`` and ``b`` may be nested sequences of anything :func:`cpwl.as_rational` accepts, or
    float numpy arrays (trained weights), which are kept in an exact binary form instead of
    one rational object per entry.

    Example:
        >>> from cpwl import Affine
        >>> Affine([[1, 2]], [3])([1, 1])
        (Fraction(6, 1),)
    """

    def __init__(self, W, b=None):
        if _is_float_array(W) and (b is None or _is_float_array(b)):
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
    def _float_form(self) -> tuple:
        """``(W, b, exact)``: float64 copies and whether they equal the exact ``W`` and ``b``."""
        if self._dyadic is not None:
            return self._dyadic[0].values, self._dyadic[1].values, True
        Wf = np.array([[float(v) for v in row] for row in self._W], dtype=np.float64)
        bf = np.array([float(v) for v in self._b], dtype=np.float64)
        exact = all(mpq(f) == q for row_f, row in zip(Wf.tolist(), self._W) for f, q in zip(row_f, row)) and all(
            mpq(f) == q for f, q in zip(bf.tolist(), self._b)
        )
        return Wf, bf, exact

    def _residues(self, moduli) -> tuple:
        """Residues of ``W_int`` *transposed* and of ``b_int`` modulo each prime of a
        :class:`cpwl._modular.Moduli` (float64, leading prime axis, contiguous) and the common
        denominator."""
        if self._dyadic is not None:
            shift = self._den_exponent()
            return self._dyadic[0].T.scaled_residues(shift, moduli), self._dyadic[1].scaled_residues(shift, moduli), 1 << shift
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

    def __call__(self, vector: Sequence[RationalLike]) -> tuple:
        """Exact ``W x + b``."""
        x = [as_rational(v) for v in vector]
        if len(x) != self.in_features:
            raise ShapeError(f"Affine expects {self.in_features} inputs, got {len(x)}")
        return tuple(_to_fraction(sum((w * v for w, v in zip(row, x)), b)) for row, b in zip(self._W, self._b))

    def _forward(self, x: list) -> list:
        return [sum((w * v for w, v in zip(row, x)), b) for row, b in zip(self._W, self._b)]

    def apply_map(self, F: CPWLMap) -> CPWLMap:
        """The exact image ``W F + b`` of a map."""
        if F.dim != self.in_features:
            raise ShapeError(f"Affine expects {self.in_features} inputs, the map has {F.dim}")
        W_int, b_int, den = self._int_form
        return F._affine_int(W_int, b_int, den)

    def __repr__(self) -> str:
        return f"Affine({self.out_features}x{self.in_features})"


Layer = Union[Affine, ActivationLayer, CPWL]


class Network:
    """An exact feed-forward network: a sequence of :class:`Affine` layers and activation
    layers (a scalar :class:`CPWL` is applied elementwise).

    Example:
        >>> from cpwl import Affine, Network, activations
        >>> net = Network([Affine([[1], [-1]]), activations.relu(), Affine([[1, 1]])])  # |x|
        >>> net(-3)
        (Fraction(3, 1),)
        >>> net.to_cpwl(domain=(-1, 1)).slopes
        (Fraction(-1, 1), Fraction(1, 1))
    """

    def __init__(self, layers: Sequence[Layer]):
        self.layers = tuple(Elementwise(layer) if isinstance(layer, CPWL) else layer for layer in layers)
        if not self.layers:
            raise ShapeError("a Network needs at least one layer")
        width: Optional[int] = None
        for i, layer in enumerate(self.layers):
            try:
                width = _check_layer(layer, width)
            except ShapeError as err:
                raise ShapeError(f"layer {i} ({layer!r}): {err}") from err
        self._input_dim = next((l.in_features for l in self.layers if isinstance(l, Affine)), None)
        self._output_dim = width

    @property
    def input_dim(self) -> Optional[int]:
        """Input width (``None`` if no affine layer fixes it)."""
        return self._input_dim

    @property
    def output_dim(self) -> Optional[int]:
        """Output width (``None`` if no layer fixes it)."""
        return self._output_dim

    @property
    def affine_layers(self) -> tuple:
        """The :class:`Affine` layers, in order."""
        return tuple(layer for layer in self.layers if isinstance(layer, Affine))

    def __call__(self, x) -> tuple:
        """Exact forward pass: a rational vector (or one rational for width-1 input) in, a
        tuple of Fractions out."""
        vals = _as_vector(x)
        for i, layer in enumerate(self.layers):
            try:
                if isinstance(layer, Affine):
                    if len(vals) != layer.in_features:
                        raise ShapeError(f"expects {layer.in_features} inputs, got {len(vals)}")
                    vals = layer._forward(vals)
                else:
                    layer.check_width(len(vals))
                    vals = layer._forward(vals)
            except CPWLError as err:
                raise type(err)(f"layer {i} ({layer!r}): {err}") from err
        return tuple(_to_fraction(v) for v in vals)

    def _propagate(self, F: CPWLMap) -> CPWLMap:
        engine = _filtered.start(F, self.layers)
        for i, layer in enumerate(self.layers):
            try:
                if engine is None:
                    F = layer.apply_map(F)
                else:
                    engine.apply(layer)
            except CPWLError as err:
                raise type(err)(f"layer {i} ({layer!r}): {err}") from err
        return F if engine is None else engine.result()

    def to_cpwl(self, domain=None, canonical: bool = True) -> Union[CPWL, CPWLMap]:
        """The exact function of a scalar-input network on ``domain`` (the real line by
        default): a :class:`CPWL` for one output, a :class:`CPWLMap` for several.

        With ``canonical=False`` the breakpoints where some neuron changes piece but the
        output does not bend are kept.

        Example:
            >>> from cpwl import Affine, Network, activations
            >>> Network([Affine([[1]], ["-1/2"]), activations.relu()]).to_cpwl().breakpoints
            (Fraction(1, 2),)
        """
        if self._input_dim not in (None, 1):
            raise ShapeError(
                f"to_cpwl needs a scalar-input network, this one takes {self._input_dim} inputs; "
                "use restrict_to_line(start, end)"
            )
        dom = Interval.coerce(domain)
        F = self._propagate(CPWLMap.identity(dom))
        F = F.canonical() if canonical else F
        return F[0] if F.dim == 1 else F

    def restrict_to_line(self, start: Sequence[RationalLike], end: Sequence[RationalLike], canonical: bool = True) -> CPWLMap:
        """The exact outputs along ``start + t (end - start)``, ``t`` in ``[0, 1]``.

        Example:
            >>> from cpwl import Affine, Network, activations
            >>> net = Network([Affine([[1, 1]]), activations.relu()])
            >>> net.restrict_to_line([-1, -1], [1, 1]).breakpoints
            (Fraction(1, 2),)
        """
        line = CPWLMap.line(start, end)
        if self._input_dim is not None and line.dim != self._input_dim:
            raise ShapeError(f"the network takes {self._input_dim} inputs, the line has {line.dim}")
        F = self._propagate(line)
        return F.canonical() if canonical else F

    def layer_norm_report(self, norm: Union[int, str] = 2) -> list:
        """One :class:`cpwl.linalg.NormCheck` per affine layer: the exact verdict on
        ``||W|| <= 1`` (``norm`` 2, 1 or ``"inf"``) and the certified excess when not.

        Example:
            >>> from cpwl import Affine, Network
            >>> [c.ok for c in Network([Affine([["3/5", "4/5"]]), Affine([[2]])]).layer_norm_report()]
            [True, False]
        """
        return [check_norm(layer._W, norm, i) for i, layer in enumerate(self.layers) if isinstance(layer, Affine)]

    def __repr__(self) -> str:
        return f"Network([{', '.join(repr(layer) for layer in self.layers)}])"


def _is_float_array(x) -> bool:
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)


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


def _as_vector(x) -> list:
    if isinstance(x, (str, bytes)) or np.ndim(x) == 0:
        return [as_rational(x)]
    return [as_rational(v) for v in x]


def _check_layer(layer, width: Optional[int]) -> Optional[int]:
    if isinstance(layer, Affine):
        if width is not None and width != layer.in_features:
            raise ShapeError(f"expects {layer.in_features} inputs but the previous layer gives {width}")
        return layer.out_features
    if not isinstance(layer, ActivationLayer):
        raise ShapeError(f"{type(layer).__name__} is not a layer: use Affine, a CPWL or a cpwl.activations layer")
    if width is not None:
        layer.check_width(width)
        return width
    return layer.width


