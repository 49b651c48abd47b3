"""The interface every activation layer of :mod:`cpwl` follows."""

from __future__ import annotations

from typing import Optional, Sequence

from cpwl.errors import ShapeError


class ActivationLayer:
    """Base class of activation layers usable in :class:`cpwl.Network` and
    :meth:`cpwl.CPWLMap.apply`.

    A subclass implements ``_forward`` (exact values on a vector of rationals) and
    ``apply_map`` (the exact image of a :class:`cpwl.CPWLMap`), and may restrict the widths it
    accepts through ``check_width``.

    Example:
        >>> from cpwl.activations import MaxMin
        >>> MaxMin()([1, 3])
        (Fraction(3, 1), Fraction(1, 1))
    """

    #: Fixed number of channels, or ``None`` if any width (meeting ``check_width``) works.
    width: Optional[int] = None

    def check_width(self, k: int) -> None:
        """Raise :class:`cpwl.ShapeError` unless the layer accepts ``k`` channels."""
        if self.width is not None and k != self.width:
            raise ShapeError(f"{self!r} has {self.width} channels but receives {k}")

    def __call__(self, vector: Sequence) -> tuple:
        """Exact forward pass on a vector of rationals; returns a tuple of Fractions."""
        from cpwl.numbers import _to_fraction, as_rational

        vals = [as_rational(v) for v in vector]
        self.check_width(len(vals))
        return tuple(_to_fraction(v) for v in self._forward(vals))

    def _forward(self, vals: list) -> list:
        raise NotImplementedError

    def apply_map(self, F):
        """The exact image ``layer ∘ F`` of a :class:`cpwl.CPWLMap`."""
        raise NotImplementedError
