"""Monotonicity certificates for trained models: structural (every input, from the stored
weights) and exact along a segment.

* :func:`monotonicity_certificate` bounds every partial derivative ``∂f_j/∂x_i`` of the exact
  exported network over all inputs (:mod:`cpwl.derivatives`: exact interval propagation of
  the directions ``e_i`` through every layer).  ``lower >= 0`` proves ``f_j`` non-decreasing in
  ``x_i`` everywhere.  For monotonicnetworks' construction ``g(x) = f(x) + λ Σ x_i`` (``f``
  constrained λ-Lipschitz from l1 to l-infinity) the lower bound is ``λ`` minus the proven
  bound on ``|∂f/∂x_i|``, so the certificate holds exactly when the stored weights keep their
  promise.
* :func:`monotone_along` takes the exact restriction of the model to a segment and reads
  every piece's slope: the exact answer for that segment.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 0.0]]))
    ...     _ = model[2].weight.copy_(torch.tensor([[1.0, 2.0]]))
    >>> cert = monotonicity_certificate(model)
    >>> cert.increasing(0), cert.increasing(1), cert.decreasing(1)
    (True, False, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from torch import nn

from cpwl.derivatives import DerivativeBounds
from nets.semantics import translate

__all__ = ["LineSlopes", "monotone_along", "monotonicity_certificate"]


def monotonicity_certificate(
    module: nn.Module, input_shape=None, inputs: Optional[Sequence[int]] = None
) -> DerivativeBounds:
    """Proven bounds on every partial derivative of the model's exact function, over all
    inputs, for the flat input indices ``inputs`` (default: all); see
    :class:`cpwl.DerivativeBounds` (``increasing``, ``decreasing``,
    ``lipschitz_l1_to_inf``)."""
    translation = translate(module, input_shape)
    return translation.network().derivative_bounds(inputs, math.prod(translation.in_shape))


@dataclass(frozen=True)
class LineSlopes:
    """The exact smallest and largest slope of each output along a segment (per unit of the
    segment parameter ``t``).

    Examples:
        >>> from fractions import Fraction
        >>> LineSlopes((Fraction(0),), (Fraction(2),)).increasing
        True
    """

    lower: tuple
    upper: tuple

    @property
    def increasing(self) -> bool:
        """Every output is non-decreasing along the segment (exactly)."""
        return all(s >= 0 for s in self.lower)

    @property
    def decreasing(self) -> bool:
        """Every output is non-increasing along the segment (exactly)."""
        return all(s <= 0 for s in self.upper)


def monotone_along(module: nn.Module, start, end, input_shape=None) -> LineSlopes:
    """The exact slopes of every output of the model along ``start + t (end - start)``,
    ``t`` in ``[0, 1]`` (points as :func:`nets.export.restrict_to_line` takes them).

    Examples:
        >>> import torch
        >>> model = nn.Sequential(nn.Linear(1, 1), nn.ReLU())
        >>> with torch.no_grad():
        ...     _ = model[0].weight.fill_(-0.5), model[0].bias.fill_(1.0)
        >>> slopes = monotone_along(model, [-10], [10])     # relu(1 - x/2): slope -10 per unit t, then 0
        >>> slopes.lower, slopes.decreasing, slopes.increasing
        ((Fraction(-10, 1),), True, False)
    """
    from nets.export import restrict_to_line

    F = restrict_to_line(module, start, end, input_shape=input_shape)
    return LineSlopes(*F.slope_bounds())
