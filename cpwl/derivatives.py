"""Proven bounds on the partial derivatives of an exact network, everywhere.

A network's Jacobian on each of its linear pieces is a product of its layers' Jacobians, so
propagating a *box* of directions through every layer (:meth:`cpwl.Layer.jacobian_hull`,
exact rational interval arithmetic) bounds ``∂f_j/∂x_i`` over all inputs at once.  This is
what a monotonicity certificate needs: a continuous piecewise-linear ``f`` is non-decreasing
in ``x_i`` if every piece has ``∂f/∂x_i >= 0``.  The largest ``|∂f_j/∂x_i|`` bounds the
Lipschitz constant from l1 inputs to l-infinity outputs (the norm pair monotonic networks
constrain).

Examples:
    >>> from cpwl import Affine, Network, activations
    >>> net = Network([Affine([[1, -1], [1, 0]]), activations.GroupSort(2), Affine([[1, 1]])])
    >>> bounds = net.derivative_bounds()
    >>> bounds.increasing(0), bounds.increasing(1)
    (True, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import numpy as np
from gmpy2 import mpq

from cpwl.errors import CPWLError, InvalidArgument, ShapeError

__all__ = ["DerivativeBounds", "derivative_bounds", "jacobian_hull"]


def jacobian_hull(layers: Sequence, lo, hi) -> tuple:
    """Push a box of directions ``(width, n)`` through ``layers`` (see
    :meth:`cpwl.Layer.jacobian_hull`); errors name the layer."""
    for i, layer in enumerate(layers):
        try:
            lo, hi = layer.jacobian_hull(lo, hi)
        except CPWLError as err:
            raise type(err)(f"layer {i} ({layer!r}): {err}") from err
    return lo, hi


@dataclass(frozen=True)
class DerivativeBounds:
    """``lower[j][k] <= ∂f_j/∂x_i <= upper[j][k]`` on every linear piece of ``f``, for ``i =
    inputs[k]``: exact rationals, proven for the exact network (every input, not a sample).

    Examples:
        >>> from cpwl import Affine, Network
        >>> Network([Affine([[2, "-1/2"]])]).derivative_bounds().lipschitz_l1_to_inf
        Fraction(2, 1)
    """

    inputs: tuple
    lower: tuple
    upper: tuple

    def _column(self, i: int) -> int:
        if i not in self.inputs:
            raise InvalidArgument(f"input {i} was not among the inputs bounded ({list(self.inputs)})")
        return self.inputs.index(i)

    def increasing(self, i: int, output: Optional[int] = None) -> bool:
        """Proven: every output (or ``output``) is non-decreasing in input ``i``."""
        k = self._column(i)
        rows = range(len(self.lower)) if output is None else [output]
        return all(self.lower[j][k] >= 0 for j in rows)

    def decreasing(self, i: int, output: Optional[int] = None) -> bool:
        """Proven: every output (or ``output``) is non-increasing in input ``i``."""
        k = self._column(i)
        rows = range(len(self.upper)) if output is None else [output]
        return all(self.upper[j][k] <= 0 for j in rows)

    @property
    def lipschitz_l1_to_inf(self) -> Fraction:
        """The largest ``|∂f_j/∂x_i|`` over the inputs bounded: a proven bound on
        ``||f(x) - f(y)||_inf / ||x - y||_1`` when every input was bounded."""
        return max(
            (max(abs(a), abs(b)) for lo, hi in zip(self.lower, self.upper) for a, b in zip(lo, hi)), default=Fraction(0)
        )


def derivative_bounds(
    network, inputs: Optional[Sequence[int]] = None, in_features: Optional[int] = None
) -> DerivativeBounds:
    """Bounds on every output's partial derivatives in ``inputs`` (default: all) of a
    :class:`cpwl.Network`, by one exact box propagation per input direction ``e_i``
    (``in_features``: the input width, needed only when no layer fixes it).

    Examples:
        >>> from cpwl import Affine, Network, activations
        >>> derivative_bounds(Network([Affine([[1], [-1]]), activations.relu()])).upper
        ((Fraction(1, 1),), (Fraction(0, 1),))
    """
    layers = network.layers
    in_features = network.input_dim if in_features is None else in_features
    if in_features is None:
        raise ShapeError(
            "the network's input width is not fixed by its layers; start it with an Affine or Conv2d layer"
        )
    chosen = tuple(range(in_features)) if inputs is None else tuple(inputs)
    if not chosen or any(
        isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < in_features for i in chosen
    ):
        raise InvalidArgument(f"inputs must be indices in [0, {in_features}), got {inputs!r}")
    width = in_features
    for layer in layers:
        width = layer.check_width(width)  # a wrong width is a ShapeError here, not deep inside
    start = np.full((in_features, len(chosen)), mpq(0), dtype=object)
    for k, i in enumerate(chosen):
        start[i, k] = mpq(1)
    lo, hi = jacobian_hull(layers, start, start.copy())
    as_rows = lambda a: tuple(
        tuple(Fraction(int(v.numerator), int(v.denominator)) for v in row) for row in np.asarray(a).tolist()
    )  # noqa: E731
    return DerivativeBounds(tuple(int(i) for i in chosen), as_rows(lo), as_rows(hi))
