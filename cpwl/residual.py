"""The exact residual block: an inner network plus a linear skip connection."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Optional

from cpwl.errors import InvalidArgument, ShapeError
from cpwl.layer import Layer, LipschitzBound, composed_bound

__all__ = ["Residual"]


class Residual(Layer):
    """``x -> inner(x) + skip(x)``: ``inner`` is a sequence of layers (an exact network) and
    ``skip`` a layer (``None``: the identity).  SLL layers, monotonic wrappers and ResNet
    blocks are residual blocks.

    Examples:
        >>> from cpwl import Affine, activations
        >>> block = Residual([Affine([[-2]]), activations.relu()])      # x + relu(-2x)
        >>> block([-1]), block([1])
        ((Fraction(1, 1),), (Fraction(1, 1),))
        >>> 3 <= block.lipschitz_bound().value < 3 + Fraction(1, 10**8)      # 1 + ||-2||, bracketed
        True
    """

    def __init__(self, layers: Sequence[Layer], skip: Optional[Layer] = None):
        from cpwl.network import Network

        self.inner = Network(layers)
        if skip is not None and not isinstance(skip, Layer):
            raise InvalidArgument(f"skip must be a cpwl layer or None, got {type(skip).__name__}")
        self.skip = skip
        widths = [w for w in (self.inner.input_dim, None if skip is None else skip.in_features) if w is not None]
        if len(set(widths)) > 1:
            raise ShapeError(f"the inner layers take {widths[0]} inputs but the skip takes {widths[1]}")
        self.in_features = widths[0] if widths else None

    @property
    def layers(self) -> tuple:
        """The inner layers."""
        return self.inner.layers

    def check_width(self, k: int) -> int:
        super().check_width(k)
        from cpwl.network import _check_layer

        out = k
        for layer in self.inner.layers:
            out = _check_layer(layer, out)
        skip_out = k if self.skip is None else self.skip.check_width(k)
        if out != skip_out:
            raise ShapeError(f"the inner layers give {out} outputs but the skip gives {skip_out}")
        return out

    def _forward(self, vals: list) -> list:
        inner = vals
        for layer in self.inner.layers:
            inner = layer._forward(inner)
        skip = vals if self.skip is None else self.skip._forward(vals)
        return [a + b for a, b in zip(inner, skip)]

    def apply_map(self, F):
        from cpwl.network import propagate

        return propagate(self.inner.layers, F) + (F if self.skip is None else self.skip.apply_map(F))

    def jacobian_hull(self, lo, hi) -> tuple:
        """The inner layers' bounds plus the skip's (``J = J_inner + J_skip`` at every point)."""
        from cpwl.derivatives import jacobian_hull

        a_lo, a_hi = jacobian_hull(self.inner.layers, lo, hi)
        b_lo, b_hi = (lo, hi) if self.skip is None else self.skip.jacobian_hull(lo, hi)
        return a_lo + b_lo, a_hi + b_hi

    def lipschitz_bound(self, norm=2) -> LipschitzBound:
        """``L(inner) + L(skip)`` in ``norm`` (the triangle inequality; ``L(identity) = 1``)."""
        skip = Fraction(1) if self.skip is None else self.skip.lipschitz_bound(norm).value
        return LipschitzBound(
            composed_bound(self.inner.layers, norm).value + skip,
            "triangle inequality: product of the inner bounds plus the skip's bound",
        )

    def __repr__(self) -> str:
        return f"Residual({len(self.inner.layers)} layers{'' if self.skip is None else ', skip=' + repr(self.skip)})"
