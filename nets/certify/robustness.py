"""Certified robust accuracy with every rounding of the margin bounded.

Example:
    >>> import torch
    >>> import nets
    >>> model = nets.LipschitzMLP([2, 4, 3], activation="maxmin", layer="aol")
    >>> report = certified_robust_accuracy(model, torch.randn(8, 2), torch.zeros(8, dtype=torch.long), 0.1)
    >>> 0 <= report.certified <= 1
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import torch
from torch import nn

from cpwl.errors import InvalidArgument, ShapeError
from cpwl.numbers import as_fraction
from nets.certify.lipschitz import lipschitz_certificate
from nets.certify.rigorous import bounded_forward
from nets.semantics import evaluation_mode

__all__ = ["RobustnessReport", "certified_robust_accuracy"]


@dataclass(frozen=True)
class RobustnessReport:
    """Certified robust accuracy, proven (``certified``) and by the naive float rule
    (``naive``), the Lipschitz bound used, and the samples where the two rules disagree."""

    eps: Fraction
    lipschitz: Fraction
    certified: float
    naive: float
    certified_mask: tuple
    naive_mask: tuple

    @property
    def disagreements(self) -> list:
        """Indices where the naive rule certifies and the proof does not (or the reverse)."""
        return [i for i, (a, b) in enumerate(zip(self.certified_mask, self.naive_mask)) if a != b]


def proven_margin(scores: list, bounds: list, label: int) -> Fraction:
    """A lower bound of the exact margin ``f_label - max_{i != label} f_i`` from float scores
    and their error bounds, exactly (0 for a single output).

    Example:
        >>> proven_margin([3.0, 1.0], [0.5, 0.25], 0)
        Fraction(5, 4)
    """
    low = Fraction(scores[label]) - Fraction(bounds[label])
    others = [Fraction(s) + Fraction(b) for i, (s, b) in enumerate(zip(scores, bounds)) if i != label]
    return low - max(others) if others else Fraction(0)


def certified_robust_accuracy(module: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, eps, lipschitz: Optional[Fraction] = None) -> RobustnessReport:
    """A sample is certified iff the exact function's margin ``M`` provably satisfies
    ``M > sqrt(2) L eps`` (strictly; ``L`` = the proven bound of :func:`lipschitz_certificate`
    unless given): the lower bound of ``M`` from :func:`nets.certify.bounded_forward` is
    compared exactly (``M_lo > 0`` and ``M_lo^2 > 2 L^2 eps^2``), so exact ties are never
    certified.  The naive rule evaluates the model in its own precision and compares floats.
    ``eps`` is a non-negative radius, taken exactly (``"1/10"`` or ``0.1``, which is the float).
    """
    eps_q = as_fraction(eps)
    if eps_q < 0:
        raise InvalidArgument(f"eps must be a non-negative radius, got {eps}")
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or len(labels) != len(inputs) or labels.dtype.is_floating_point:
        raise ShapeError(f"labels must be a 1-D integer tensor with one label per input ({len(inputs)}), got {getattr(labels, 'shape', labels)}")
    y, err = bounded_forward(module, inputs)
    if y.dim() != 2:
        raise ShapeError(f"the model's outputs must be class scores [batch, classes], got per-sample shape {tuple(y.shape[1:])}")
    classes = y.shape[1]
    if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < classes):
        raise InvalidArgument(f"labels must lie in [0, {classes}), got values from {int(labels.min())} to {int(labels.max())}")
    L_bound = lipschitz_certificate(module, tuple(inputs.shape[1:])).bound if lipschitz is None else as_fraction(lipschitz)
    threshold = 2 * L_bound * L_bound * eps_q * eps_q
    certified = []
    for scores, bounds, label in zip(y.tolist(), err.tolist(), labels.tolist()):
        margin = proven_margin(scores, bounds, label)
        certified.append(margin > 0 and margin * margin > threshold)
    parameter = next(module.parameters(), None)
    with evaluation_mode(module):
        native = module(inputs if parameter is None else inputs.to(parameter.dtype))
    true = native.gather(1, labels[:, None].to(native.device))[:, 0]
    others = native.clone()
    others.scatter_(1, labels[:, None].to(native.device), float("-inf"))
    naive = (true - others.max(dim=1).values > math.sqrt(2) * float(L_bound) * float(eps_q)).tolist()
    n = max(1, len(certified))
    return RobustnessReport(eps_q, L_bound, sum(certified) / n, sum(naive) / n, tuple(certified), tuple(naive))
