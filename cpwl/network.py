"""Exact feed-forward networks: affine layers and activation layers over the rationals."""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from cpwl import _intarrays
from cpwl.activations.base import ActivationLayer
from cpwl.activations.elementwise import Elementwise
from cpwl.cpwl_map import CPWLMap, exact_matrix, exact_vector
from cpwl.errors import CPWLError, ShapeError
from cpwl.function import CPWL
from cpwl.interval import Interval
from cpwl.linalg import check_norm
from cpwl.numbers import RationalLike, _to_fraction, as_rational

__all__ = ["Affine", "Network"]


class Affine:
    """The affine layer ``x -> W x + b`` with exact rational ``W`` (``m x n``) and ``b``.

    Example:
        >>> from cpwl import Affine
        >>> Affine([[1, 2]], [3])([1, 1])
        (Fraction(6, 1),)
    """

    def __init__(self, W, b=None):
        self._W = exact_matrix(W, "W")
        self._b = exact_vector(b, len(self._W), "b")
        W_int, b_int, self._den = _intarrays.over_common_denominator(self._W, [self._b])
        self._W_int, self._b_int = W_int, b_int[0]

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
        return len(self._W[0])

    @property
    def out_features(self) -> int:
        """Number of outputs ``m``."""
        return len(self._W)

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
        return F._affine_int(self._W_int, self._b_int, self._den)

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
        for i, layer in enumerate(self.layers):
            try:
                F = layer.apply_map(F)
            except CPWLError as err:
                raise type(err)(f"layer {i} ({layer!r}): {err}") from err
        return F

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


