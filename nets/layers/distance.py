"""l-infinity-distance and sort neurons (Zhang et al., ICML 2021 and NeurIPS 2022): layers that
are 1-Lipschitz in the l-infinity norm by construction.

Neuron ``j`` sorts the distances ``|x - w_j|`` in decreasing order and takes a fixed convex
combination of the ``K`` largest, plus a bias::

    y_j = sum_{k=1..K} c_k sort_desc(|x - w_j|)_k + b_j,   c_k = q (1 - q)^(k-1) / (1 - (1 - q)^K).

``q = 1`` is the l-infinity-distance neuron ``||x - w_j||_inf + b_j``; ``q < 1`` is SortNet's
geometric sort neuron.  The coefficients are a fixed function of the exact hyperparameter
``q`` and sum to 1 exactly, so each neuron is 1-Lipschitz in l-infinity; the exact meaning
(:mod:`nets.semantics`) uses their exact values, the float forward their rounding.

Examples:
    >>> layer = SortNeurons(3, 2, q=1)
    >>> with torch.no_grad():
    ...     _ = layer.weight.zero_(), layer.bias.zero_()
    >>> layer(torch.tensor([[1.0, -4.0, 2.0]]))
    tensor([[4., 4.]], grad_fn=<AddBackward0>)
"""

from __future__ import annotations

from fractions import Fraction
from typing import Optional

import numpy as np
import torch
from torch import nn

from cpwl import Affine
from cpwl import activations as exact
from cpwl.errors import InvalidArgument, ShapeError
from cpwl.rationals import as_fraction
from nets.semantics.blocks import as_numpy
from nets.semantics.registry import register

__all__ = ["SortNeurons"]


class SortNeurons(nn.Module):
    """``out_features`` sort neurons on ``in_features`` inputs (see the module docstring):
    ``q`` in ``(0, 1]`` (exact: ``"1/2"``, ``0.5``), ``truncate`` the number ``K`` of sorted
    distances used (default: all).

    Examples:
        >>> sum(SortNeurons(4, 3, q="1/2").exact_coefficients())
        Fraction(1, 1)
    """

    guarantee = "by construction (l-infinity)"

    def __init__(self, in_features: int, out_features: int, q=1, truncate: Optional[int] = None, bias: bool = True):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgument(f"{name} must be a positive int, got {value!r}")
        self.q = as_fraction(q)
        if not 0 < self.q <= 1:
            raise InvalidArgument(f"q must lie in (0, 1], got {q!r}")
        k = in_features if truncate is None else truncate
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= in_features:
            raise InvalidArgument(f"truncate must be an int in [1, {in_features}], got {truncate!r}")
        self.in_features, self.out_features, self.truncate = in_features, out_features, k
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def exact_coefficients(self) -> tuple:
        """The ``K`` coefficients as Fractions (they sum to 1 exactly)."""
        terms = [self.q * (1 - self.q) ** k for k in range(self.truncate)]
        total = sum(terms)
        return tuple(t / total for t in terms)

    def coefficients(self, dtype=torch.float32) -> torch.Tensor:
        """The coefficients rounded to ``dtype``."""
        return torch.tensor([float(c) for c in self.exact_coefficients()], dtype=dtype, device=self.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"SortNeurons expects {self.in_features} features, got shape {tuple(x.shape)}")
        distances = (x.unsqueeze(-2) - self.weight.to(x.dtype)).abs()  # [..., out, in]
        largest = (
            torch.topk(distances, self.truncate, dim=-1).values
            if self.truncate < self.in_features
            else distances.sort(dim=-1, descending=True).values
        )
        y = largest @ self.coefficients(x.dtype)
        return y if self.bias is None else y + self.bias.to(x.dtype)

    def extra_repr(self) -> str:
        sizes = f"{self.in_features} -> {self.out_features}"
        return f"{sizes}, q={self.q}, truncate={self.truncate}, guarantee='{self.guarantee}'"


def _sort_neurons(module: SortNeurons, shape: tuple) -> tuple:
    """``x -> |R x - w|`` (``R`` repeats ``x`` once per neuron), sorted per neuron in
    decreasing order, then the coefficients on the first ``K`` of each group, plus ``b``."""
    n, m, k = module.in_features, module.out_features, module.truncate
    if shape != (n,):
        raise ShapeError(f"SortNeurons takes flat inputs of {n} features, got per-sample shape {shape}")
    w = as_numpy(module, "weight", module.weight)
    repeat = Affine(np.tile(np.eye(n), (m, 1)), -w.reshape(-1))
    c = module.exact_coefficients()
    rows = [[Fraction(0)] * (m * n) for _ in range(m)]
    for j in range(m):
        rows[j][j * n : j * n + k] = c
    b = (
        [Fraction(0)] * m
        if module.bias is None
        else [Fraction(v) for v in as_numpy(module, "bias", module.bias).tolist()]
    )
    return [repeat, exact.Elementwise(exact.abs_()), exact.GroupSort(n, descending=True), Affine(rows, b)], (m,)


register(SortNeurons, exact=_sort_neurons)
