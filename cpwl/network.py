"""Exact feed-forward networks: a sequence of :class:`cpwl.Layer` over the rationals."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from cpwl import _filtered
from cpwl._floats import subnormals_kept
from cpwl.activations.elementwise import Elementwise
from cpwl.affine import Affine
from cpwl.cpwl_map import CPWLMap
from cpwl.errors import CPWLError, MemoryLimitError, ShapeError
from cpwl.function import CPWL
from cpwl.interval import Interval
from cpwl.layer import Layer, LipschitzBound, composed_bound
from cpwl.linalg import check_norm
from cpwl.rationals import RationalLike, _to_fraction, as_rational

if TYPE_CHECKING:
    from cpwl.derivatives import DerivativeBounds

__all__ = ["Network", "propagate"]


def propagate(layers: Sequence[Layer], F: CPWLMap) -> CPWLMap:
    """The exact image of the map ``F`` through ``layers`` (the one propagation loop: the fast
    engine for the library's layers, which splits its pieces in two when a step would exceed
    the memory budget (see :mod:`cpwl.segments`); each layer's ``apply_map`` for a layer
    defined elsewhere).  Errors name the layer; running out of memory is a
    :class:`cpwl.MemoryLimitError`.  CPU arithmetic keeps subnormals meanwhile (the float
    filter's underflow terms assume it, see :func:`cpwl._floats.subnormals_kept`)."""
    with subnormals_kept():
        engine = _filtered.start(F, layers)
        if engine is not None:
            from cpwl.segments import _run

            return _run(engine, layers)
        for i, layer in enumerate(layers):
            with layer_errors(i, layer):
                F = layer.apply_map(F)
        return F


@contextlib.contextmanager
def layer_errors(i: int, layer: Layer):
    """Name layer ``i`` in the library's errors raised inside the block, and turn the
    machine running out of memory into :class:`cpwl.MemoryLimitError`."""
    try:
        yield
    except CPWLError as err:
        raise _naming(err, i, layer) from err
    except MemoryError as err:
        raise MemoryLimitError(
            f"layer {i} ({layer!r}): the machine ran out of memory; set a budget with cpwl.memory_limit"
        ) from err


class Network:
    """An exact feed-forward network: a sequence of layers (:class:`Affine`,
    :class:`cpwl.Conv2d`, :class:`cpwl.Gather`, :class:`cpwl.Residual`, the activation layers of
    :mod:`cpwl.activations`; a scalar :class:`CPWL` is applied elementwise).

    Examples:
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
        self._input_dim = next((l.in_features for l in self.layers if l.in_features is not None), None)
        self._output_dim = width

    @property
    def input_dim(self) -> Optional[int]:
        """Input width (``None`` if no layer fixes it)."""
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
                layer.check_width(len(vals))
                vals = layer._forward(vals)
            except CPWLError as err:
                raise type(err)(f"layer {i} ({layer!r}): {err}") from err
        return tuple(_to_fraction(v) for v in vals)

    def apply_map(self, F: CPWLMap) -> CPWLMap:
        """The exact image of a map ``F`` (of the network's input width) through the network.

        Examples:
            >>> from cpwl import Affine, activations
            >>> Network([Affine([[1, 1]]), activations.relu()]).apply_map(CPWLMap.line([-1, -1], [1, 1])).breakpoints
            (Fraction(1, 2),)
        """
        if self._input_dim is not None and F.dim != self._input_dim:
            raise ShapeError(f"the network takes {self._input_dim} inputs, the map has {F.dim}")
        return propagate(self.layers, F)

    def to_cpwl(
        self, domain=None, canonical: bool = True, segments: Optional[int] = None, workers: int = 1
    ) -> Union[CPWL, CPWLMap]:
        """The exact function of a scalar-input network on ``domain`` (the real line by
        default): a :class:`CPWL` for one output, a :class:`CPWLMap` for several.

        With ``canonical=False`` the breakpoints where some neuron changes piece but the
        output does not bend are kept.  On a bounded domain the work is cut into
        ``segments`` equal parts (run by ``workers`` processes), and a part that would exceed
        the memory budget is cut in half (see :mod:`cpwl.segments`).

        Examples:
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
        F = self._restrict(CPWLMap.identity(dom), segments, workers)
        F = F.canonical() if canonical else F
        return F[0] if F.dim == 1 else F

    def restrict_to_line(
        self,
        start: Sequence[RationalLike],
        end: Sequence[RationalLike],
        canonical: bool = True,
        segments: Optional[int] = None,
        workers: int = 1,
    ) -> CPWLMap:
        """The exact outputs along ``start + t (end - start)``, ``t`` in ``[0, 1]``: ``[0, 1]``
        is cut into ``segments`` equal parts (run by ``workers`` processes), and a part that
        would exceed the memory budget is cut in half (see :mod:`cpwl.segments`).

        Examples:
            >>> from cpwl import Affine, Network, activations
            >>> net = Network([Affine([[1, 1]]), activations.relu()])
            >>> net.restrict_to_line([-1, -1], [1, 1]).breakpoints
            (Fraction(1, 2),)
        """
        F = self._restrict(CPWLMap.line(start, end), segments, workers)
        return F.canonical() if canonical else F

    def _restrict(self, F: CPWLMap, segments: Optional[int], workers: int) -> CPWLMap:
        from cpwl import segments as cut

        if self._input_dim is not None and F.dim != self._input_dim:
            raise ShapeError(f"the network takes {self._input_dim} inputs, the map has {F.dim}")
        return cut.restrict(self.layers, F, segments, workers)

    def lipschitz_bound(self, norm=2) -> LipschitzBound:
        """A proven Lipschitz bound of the network in ``norm`` (2, 1 or ``"inf"``): the
        product of its layers' bounds.

        Examples:
            >>> from cpwl import Affine, activations
            >>> Network([Affine([["3/5", "4/5"]]), activations.relu()]).lipschitz_bound().value
            Fraction(1, 1)
        """
        return composed_bound(self.layers, norm)

    def derivative_bounds(
        self, inputs: Optional[Sequence[int]] = None, in_features: Optional[int] = None
    ) -> DerivativeBounds:
        """Proven bounds on every partial derivative ``∂f_j/∂x_i`` over all inputs (see
        :mod:`cpwl.derivatives`), for the input indices ``inputs`` (default: all);
        ``in_features`` is needed only when no layer fixes the input width.

        Examples:
            >>> from cpwl import Affine, activations
            >>> Network([Affine([[1, 1]]), activations.relu()]).derivative_bounds().increasing(0)
            True
        """
        from cpwl.derivatives import derivative_bounds

        return derivative_bounds(self, inputs, in_features)

    def layer_norm_report(self, norm: Union[int, str] = 2) -> list:
        """One :class:`cpwl.linalg.NormCheck` per affine layer: the exact verdict on
        ``||W|| <= 1`` (``norm`` 2, 1 or ``"inf"``) and the certified excess when not.

        Examples:
            >>> from cpwl import Affine, Network
            >>> [c.ok for c in Network([Affine([["3/5", "4/5"]]), Affine([[2]])]).layer_norm_report()]
            [True, False]
        """
        return [check_norm(layer._W, norm, i) for i, layer in enumerate(self.layers) if isinstance(layer, Affine)]

    def __repr__(self) -> str:
        return f"Network([{', '.join(repr(layer) for layer in self.layers)}])"


def _naming(err: CPWLError, i: int, layer) -> CPWLError:
    """``err`` again, its message prefixed with the layer (built outside the raising frame, so
    that frame holds no reference cycle to the failed step's arrays)."""
    named = type(err)(f"layer {i} ({layer!r}): {err}")
    named.__dict__.update(err.__dict__)
    return named


def _as_vector(x) -> list:
    if isinstance(x, (str, bytes)) or np.ndim(x) == 0:
        return [as_rational(x)]
    return [as_rational(v) for v in x]


def _check_layer(layer, width: Optional[int]) -> Optional[int]:
    if not isinstance(layer, Layer):
        raise ShapeError(
            f"{type(layer).__name__} is not a layer: use Affine, Conv2d, Gather, Residual, a CPWL or a "
            "cpwl.activations layer"
        )
    if width is not None:
        return layer.check_width(width)
    if layer.in_features is None:
        return None
    return layer.check_width(layer.in_features)
