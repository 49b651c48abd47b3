"""Dense layers scaled by a norm: Frobenius (a bound) and spectral normalisation (an estimate)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrizations

from nets.layers.base import LipschitzLinear, dense_meaning, orthogonal_parameter
from nets.semantics.registry import register

__all__ = ["FrobeniusLinear", "SpectralNormLinear"]


class FrobeniusLinear(LipschitzLinear):
    """``W = P / ||P||_F``: ``||W||_2 <= ||W||_F = 1`` in closed form (loose for wide layers).

    Examples:
        >>> round(float(torch.linalg.matrix_norm(FrobeniusLinear(3, 3).weight_matrix().detach())), 6)
        1.0
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self.P = orthogonal_parameter(out_features, in_features)

    def weight_matrix(self) -> torch.Tensor:
        return self.P / torch.linalg.matrix_norm(self.P).clamp_min(torch.finfo(self.P.dtype).tiny)


class SpectralNormLinear(LipschitzLinear):
    """Spectral normalisation by power iteration (:func:`torch.nn.utils.parametrizations.spectral_norm`).

    **Not a certified bound**: power iteration under-estimates ``||W||_2``, so the layer may
    exceed 1; certify it with an exact check before trusting it.

    Examples:
        >>> SpectralNormLinear(3, 2).guarantee
        'estimate'
    """

    guarantee = "estimate"

    def __init__(self, in_features: int, out_features: int, bias: bool = True, power_iterations: int = 1):
        super().__init__(in_features, out_features, bias)
        self.linear = parametrizations.spectral_norm(
            nn.Linear(in_features, out_features, bias=False), n_power_iterations=power_iterations
        )

    def weight_matrix(self) -> torch.Tensor:
        return self.linear.weight


register(FrobeniusLinear, exact=dense_meaning)
register(SpectralNormLinear, exact=dense_meaning)
