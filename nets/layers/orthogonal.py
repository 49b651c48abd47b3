"""Orthogonal dense layers: through torch.nn.utils.parametrize, and by Björck iterations."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrizations

from cpwl.errors import InvalidArgument
from nets.layers.base import LipschitzLinear, dense_meaning
from nets.semantics.registry import register

__all__ = ["OrthogonalLinear", "BjorckLinear"]


class OrthogonalLinear(LipschitzLinear):
    """A (semi-)orthogonal weight through :func:`torch.nn.utils.parametrizations.orthogonal`
    (``method`` ``"cayley"`` or ``"matrix_exp"``): all singular values 1, in closed form.

    Examples:
        >>> W = OrthogonalLinear(3, 3).weight_matrix()
        >>> bool(torch.allclose(W @ W.T, torch.eye(3), atol=1e-5))
        True
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, method: str = "cayley"):
        super().__init__(in_features, out_features, bias)
        if method not in ("cayley", "matrix_exp"):
            raise InvalidArgument(f"method must be 'cayley' or 'matrix_exp', got {method!r}")
        self.linear = parametrizations.orthogonal(
            nn.Linear(in_features, out_features, bias=False), orthogonal_map=method
        )

    def weight_matrix(self) -> torch.Tensor:
        return self.linear.weight


class BjorckLinear(LipschitzLinear):
    """Björck orthonormalisation: ``W <- (1 + beta) W - beta W W^T W`` for ``iterations``
    steps from ``P / ||P||_F``.  With ``beta = 1/2`` each step maps singular values in
    ``[0, 1]`` into ``[0, 1]`` (``s -> 1.5 s - 0.5 s^3``), so the bound holds in exact
    arithmetic whatever the number of steps; iterations push them toward 1.

    Examples:
        >>> W = BjorckLinear(4, 4, iterations=30).weight_matrix()
        >>> bool(torch.linalg.matrix_norm(W, 2) <= 1 + 1e-5)
        True
    """

    guarantee = "iterative"

    def __init__(self, in_features: int, out_features: int, bias: bool = True, iterations: int = 20, beta: float = 0.5):
        super().__init__(in_features, out_features, bias)
        if iterations < 0 or not 0 < beta <= 0.5:
            raise InvalidArgument(f"BjorckLinear needs iterations >= 0 and 0 < beta <= 1/2, got {iterations}, {beta}")
        self.iterations, self.beta = iterations, beta
        self.P = nn.Parameter(nn.init.orthogonal_(torch.empty(out_features, in_features)))

    def weight_matrix(self) -> torch.Tensor:
        W = self.P / torch.linalg.matrix_norm(self.P).clamp_min(torch.finfo(self.P.dtype).tiny)
        for _ in range(self.iterations):
            W = (1 + self.beta) * W - self.beta * W @ W.T @ W
        return W


register(OrthogonalLinear, exact=dense_meaning)
register(BjorckLinear, exact=dense_meaning)
