"""nets: the PyTorch mirror of :mod:`cpwl` — 1-Lipschitz activations and layers (each
activation knows its exact ``cpwl`` counterpart), models, training and the paper's
experiments.  Device-agnostic: modules run on CUDA when tensors live there.

Examples:
    >>> import torch, nets
    >>> model = nets.LipschitzMLP([1, 4, 1], activation="n")
    >>> model(torch.zeros(3, 1)).shape
    torch.Size([3, 1])
"""

from nets.activations import (
    Abs,
    AbsIdentity,
    GroupSort,
    Householder,
    LeakyReLU,
    LinearSpline,
    MaxMin,
    NActivation,
    PReLU,
)
from nets.layers import (
    AOLConv2d,
    AOLLinear,
    BjorckLinear,
    ConcatenationPooling2D,
    FirstChannels,
    FrobeniusLinear,
    OrthogonalLinear,
    SLLLinear,
    SortNeurons,
    SpectralNormLinear,
    ZeroChannelConcatenation,
)
from nets.models import LipschitzMLP, SimplifiedConvNet

__all__ = [
    "AOLConv2d",
    "AOLLinear",
    "Abs",
    "AbsIdentity",
    "BjorckLinear",
    "ConcatenationPooling2D",
    "FirstChannels",
    "FrobeniusLinear",
    "GroupSort",
    "Householder",
    "LeakyReLU",
    "LinearSpline",
    "LipschitzMLP",
    "MaxMin",
    "NActivation",
    "OrthogonalLinear",
    "PReLU",
    "SLLLinear",
    "SortNeurons",
    "SimplifiedConvNet",
    "SpectralNormLinear",
    "ZeroChannelConcatenation",
]
