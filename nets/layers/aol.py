"""AOL: almost-orthogonal layers by rescaling (Prach & Lampert, ECCV 2022; docs/theory.md §6.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cpwl.errors import InvalidArgument, ShapeError
from nets._checks import channels_of
from nets.layers.base import LipschitzLinear, dense_meaning, orthogonal_parameter
from nets.semantics.blocks import as_numpy
from nets.semantics.registry import register

__all__ = ["AOLLinear", "AOLConv2d", "aol_scales"]


def aol_scales(gram: torch.Tensor, eps: float) -> torch.Tensor:
    """``d_j = (sum_k |gram_jk| + eps)^(-1/2)``: the AOL column scales for ``gram = P^T P``."""
    return (gram.abs().sum(dim=1) + eps).rsqrt()


def _accept_parametrized_layout(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load-time hook: a weight stored the way ``torch.nn.utils.parametrize`` stores it (as the
    N-activation paper's AOL layers do, ``parametrizations.weight.original``) is this layer's
    unscaled kernel ``P``."""
    key = prefix + "parametrizations.weight.original"
    if key in state_dict and prefix + "P" not in state_dict:
        state_dict[prefix + "P"] = state_dict.pop(key)


class AOLLinear(LipschitzLinear):
    """``W = P diag(d)`` with ``d_j = (sum_k |(P^T P)_jk| + eps)^(-1/2)``: ``||W||_2 <= 1`` in
    closed form, since ``diag(r) - P^T P`` is diagonally dominant (Gershgorin).

    Examples:
        >>> layer = AOLLinear(3, 2)
        >>> bool(torch.linalg.matrix_norm(layer.weight_matrix(), 2) <= 1 + 1e-6)
        True
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, eps: float = 1e-6):
        super().__init__(in_features, out_features, bias)
        self.eps = eps
        self.P = orthogonal_parameter(out_features, in_features)
        self._register_load_state_dict_pre_hook(_accept_parametrized_layout, with_module=True)

    def scales(self) -> torch.Tensor:
        """The column scales ``d_j``."""
        return aol_scales(self.P.T @ self.P, self.eps)

    def weight_matrix(self) -> torch.Tensor:
        return self.P * self.scales()[None, :]


class AOLConv2d(nn.Module):
    """AOL convolution with circular "same" padding (odd ``kernel_size``): the kernel ``P`` is
    rescaled per input channel by ``d_j = (sum |P^T P conv|_j + eps)^(-1/2)``, where the
    self-correlation of the kernel stands in for ``P^T P``.  Closed-form bound
    ``||conv|| <= 1``.

    Examples:
        >>> conv = AOLConv2d(2, 3, 3)
        >>> conv(torch.zeros(1, 2, 5, 5)).shape
        torch.Size([1, 3, 5, 5])
    """

    guarantee = "closed form"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        eps: float = 1e-6,
        init: str = "dirac",
    ):
        super().__init__()
        if kernel_size % 2 == 0:
            raise InvalidArgument(f"AOLConv2d needs an odd kernel_size for 'same' padding, got {kernel_size}")
        self.in_channels, self.out_channels, self.kernel_size, self.eps = in_channels, out_channels, kernel_size, eps
        kernel = torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        if init == "dirac":
            nn.init.dirac_(kernel)
        elif init == "orthogonal":
            nn.init.zeros_(kernel)
            kernel[:, :, kernel_size // 2, kernel_size // 2] = nn.init.orthogonal_(
                torch.empty(out_channels, in_channels)
            )
        else:
            raise InvalidArgument(f"init must be 'dirac' or 'orthogonal', got {init!r}")
        self.P = nn.Parameter(kernel)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self._register_load_state_dict_pre_hook(_accept_parametrized_layout, with_module=True)

    def scales(self) -> torch.Tensor:
        """The per-input-channel AOL scales ``d_j`` (from the kernel's self-correlation)."""
        Pt = self.P.transpose(0, 1)
        self_correlation = F.conv2d(Pt, Pt, padding=self.kernel_size - 1)  # [in, in, 2k-1, 2k-1]
        return (self_correlation.abs().sum(dim=(1, 2, 3)) + self.eps).rsqrt()

    def kernel(self) -> torch.Tensor:
        """The deployed (rescaled) kernel ``[out, in, k, k]``."""
        return self.P * self.scales()[None, :, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_of(self, x, expected=self.in_channels)
        if x.dim() != 4:
            raise ShapeError(f"AOLConv2d expects [batch, channels, height, width], got shape {tuple(x.shape)}")
        pad = self.kernel_size // 2
        padded = F.pad(x, (pad, pad, pad, pad), mode="circular")
        return F.conv2d(padded, self.kernel().to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, kernel_size={self.kernel_size}, guarantee='closed form'"


def _aol_linear_bound(module: AOLLinear, shape: tuple, layers: tuple, norm):
    """Schur's test with the AOL weights ``q = 1 / d``: their closed-form guarantee, checked
    exactly on the deployed floats (any positive ``q`` gives a valid test); l2 only."""
    if norm != 2:
        return None
    (layer,) = layers
    return layer.lipschitz_bound(weights=(1 / as_numpy(module, "scales", module.scales())).tolist())


def _aol_conv(module: AOLConv2d, shape: tuple) -> tuple:
    from cpwl import Conv2d

    if len(shape) != 3:
        raise ShapeError(f"AOLConv2d takes (channels, height, width) samples, got per-sample shape {shape}")
    pad = module.kernel_size // 2
    kernel = as_numpy(module, "kernel", module.kernel())
    bias = None if module.bias is None else as_numpy(module, "bias", module.bias)
    layer = Conv2d(kernel, bias, in_shape=shape, padding=pad, padding_mode="circular")
    return [layer], layer.out_shape


def _aol_conv_bound(module: AOLConv2d, shape: tuple, layers: tuple, norm):
    if norm != 2:
        return None
    (layer,) = layers
    return layer.lipschitz_bound(weights=1 / as_numpy(module, "scales", module.scales()))


register(AOLLinear, exact=dense_meaning, bound=_aol_linear_bound)
register(AOLConv2d, exact=_aol_conv, bound=_aol_conv_bound)
