"""SLL: SDP-based Lipschitz residual layers (Araujo et al., ICLR 2023)."""

from __future__ import annotations

import torch
from torch import nn

from cpwl.errors import ShapeError
from nets.semantics.blocks import as_numpy, dense
from nets.semantics.registry import register

__all__ = ["SLLLinear"]


class SLLLinear(nn.Module):
    """``x -> x - 2 W T^{-1} ReLU(W^T x + b)`` with ``T = diag(sum_j |W^T W|_ij q_j / q_i)``
    and ``q = exp(log_q)``: 1-Lipschitz in closed form (an SDP condition made diagonal).

    Examples:
        >>> layer = SLLLinear(4, hidden=6)
        >>> layer(torch.zeros(2, 4)).shape
        torch.Size([2, 4])
    """

    guarantee = "closed form"

    def __init__(self, features: int, hidden: int = None, eps: float = 1e-6):
        super().__init__()
        hidden = hidden or features
        self.features, self.hidden, self.eps = features, hidden, eps
        self.W = nn.Parameter(nn.init.xavier_normal_(torch.empty(features, hidden)))
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.log_q = nn.Parameter(torch.zeros(hidden))

    def scales(self) -> torch.Tensor:
        """The diagonal ``T`` (length ``hidden``)."""
        q = torch.exp(self.log_q)
        return (self.W.T @ self.W).abs() @ q / q + self.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.features:
            raise ShapeError(f"SLLLinear expects {self.features} features, got shape {tuple(x.shape)}")
        W = self.W.to(x.dtype)
        h = torch.relu(x @ W + self.bias.to(x.dtype))
        return x - 2 * (h / self.scales().to(x.dtype)) @ W.T

    def extra_repr(self) -> str:
        return f"features={self.features}, hidden={self.hidden}, guarantee='closed form'"


def _sll(module: SLLLinear, shape: tuple) -> tuple:
    """``x + (-2 W T^-1) ReLU(W^T x + b)``: a residual block, with ``T^-1`` taken exactly."""
    from fractions import Fraction

    from cpwl import Affine, Residual
    from cpwl.activations import Elementwise, relu

    (lift,), _ = dense(module.W.T, module.bias, shape, module)
    W = as_numpy(module, "W", module.W)
    t = [Fraction(v) for v in as_numpy(module, "scales", module.scales()).tolist()]
    down = Affine([[-2 * Fraction(w) / t[j] for j, w in enumerate(row)] for row in W.tolist()])
    return [Residual([lift, Elementwise(relu()), down])], shape


def _sll_bound(module: SLLLinear, shape: tuple, layers: tuple, norm):
    """In l2: 1 if the SLL condition ``T - W^T W`` is PSD (checked exactly on the deployed
    floats), else the triangle bound ``1 + 2 ||W T^-1|| ||W||`` with exact brackets."""
    if norm != 2:
        return None
    from fractions import Fraction

    from cpwl import LipschitzBound, is_psd, spectral_norm_enclosure

    W = [[Fraction(v) for v in row] for row in as_numpy(module, "W", module.W).tolist()]
    t = [Fraction(v) for v in as_numpy(module, "scales", module.scales()).tolist()]
    m = len(t)
    gram = [[sum(row[i] * row[j] for row in W) for j in range(m)] for i in range(m)]
    if is_psd([[(t[i] if i == j else 0) - gram[i][j] for j in range(m)] for i in range(m)]):
        return LipschitzBound(Fraction(1), "exact PSD test of T - W^T W (SLL condition)")
    scaled = [[w / t[j] for j, w in enumerate(row)] for row in W]
    bound = 1 + 2 * spectral_norm_enclosure(scaled).hi * spectral_norm_enclosure(W).hi
    return LipschitzBound(bound, "SLL condition fails exactly; triangle bound 1 + 2 ||W T^-1|| ||W|| (exact brackets)")


register(SLLLinear, exact=_sll, bound=_sll_bound)
