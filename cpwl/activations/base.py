"""The interface every activation layer of :mod:`cpwl` follows."""

from __future__ import annotations

from typing import Optional

from cpwl.layer import Layer


class ActivationLayer(Layer):
    """Base class of activation layers usable in :class:`cpwl.Network` and
    :meth:`cpwl.CPWLMap.apply`: a :class:`cpwl.Layer` whose output width equals its input
    width.  ``width`` is a fixed channel count, or ``None`` when any width that
    ``check_width`` accepts works.

    Examples:
        >>> from cpwl.activations import MaxMin
        >>> MaxMin()([1, 3])
        (Fraction(3, 1), Fraction(1, 1))
    """

    #: Fixed number of channels, or ``None`` if any width (meeting ``check_width``) works.
    width: Optional[int] = None

    @property
    def in_features(self) -> Optional[int]:
        """The fixed channel count (``width``), or ``None``."""
        return self.width
