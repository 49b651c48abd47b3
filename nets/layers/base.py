"""Common ground of the dense 1-Lipschitz layers: a deployed weight matrix and how its bound
is guaranteed."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cpwl.errors import InvalidArgument, ShapeError


class LipschitzLinear(nn.Module):
    """A dense layer ``x -> W x + b`` whose ``W`` is computed from parameters by
    :meth:`weight_matrix`.  ``guarantee`` says how ``||W||_2 <= 1`` holds: ``"closed form"``
    (provably, up to float rounding), ``"iterative"`` (approached by iterations), or
    ``"estimate"`` (not a bound at all).

    Examples:
        >>> from nets.layers import AOLLinear
        >>> AOLLinear(3, 2).weight_matrix().shape
        torch.Size([2, 3])
    """

    guarantee = "closed form"

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise InvalidArgument(f"{type(self).__name__} needs positive sizes, got {in_features} -> {out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def weight_matrix(self) -> torch.Tensor:
        """The deployed ``[out_features, in_features]`` weight."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ShapeError(
                f"{type(self).__name__} expects {self.in_features} input features, got shape {tuple(x.shape)}"
            )
        return F.linear(x, self.weight_matrix().to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, guarantee={self.guarantee!r}"


def dense_meaning(module: LipschitzLinear, shape: tuple) -> tuple:
    """The exact meaning of a :class:`LipschitzLinear`: ``W x + b`` with the deployed
    ``weight_matrix()``."""
    from nets.semantics.blocks import dense

    return dense(module.weight_matrix(), module.bias, shape, module)


def orthogonal_parameter(out_features: int, in_features: int) -> nn.Parameter:
    """A parameter initialised (semi-)orthogonally."""
    return nn.Parameter(nn.init.orthogonal_(torch.empty(out_features, in_features)))
