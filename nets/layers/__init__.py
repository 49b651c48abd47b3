"""1-Lipschitz layers; each documents how its bound is guaranteed (``guarantee``)."""

from nets.layers.aol import AOLConv2d, AOLLinear
from nets.layers.base import LipschitzLinear
from nets.layers.distance import SortNeurons
from nets.layers.norm_scaled import FrobeniusLinear, SpectralNormLinear
from nets.layers.orthogonal import BjorckLinear, OrthogonalLinear
from nets.layers.reshaping import ConcatenationPooling2D, FirstChannels, ZeroChannelConcatenation
from nets.layers.sll import SLLLinear

__all__ = [
    "AOLConv2d",
    "AOLLinear",
    "BjorckLinear",
    "ConcatenationPooling2D",
    "FirstChannels",
    "FrobeniusLinear",
    "LipschitzLinear",
    "OrthogonalLinear",
    "SLLLinear",
    "SortNeurons",
    "SpectralNormLinear",
    "ZeroChannelConcatenation",
]
