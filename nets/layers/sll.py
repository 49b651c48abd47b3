"""SLL: SDP-based Lipschitz residual layers (Araujo et al., ICLR 2023)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SLLLinear"]


class SLLLinear(nn.Module):
    """``x -> x - 2 W T^{-1} ReLU(W^T x + b)`` with ``T = diag(sum_j |W^T W|_ij q_j / q_i)``
    and ``q = exp(log_q)``: 1-Lipschitz in closed form (an SDP condition made diagonal).

    Example:
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
            raise ValueError(f"SLLLinear expects {self.features} features, got shape {tuple(x.shape)}")
        W = self.W.to(x.dtype)
        h = torch.relu(x @ W + self.bias.to(x.dtype))
        return x - 2 * (h / self.scales().to(x.dtype)) @ W.T

    def extra_repr(self) -> str:
        return f"features={self.features}, hidden={self.hidden}, guarantee='closed form'"
