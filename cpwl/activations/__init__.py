"""Exact activations: scalar ones as :class:`cpwl.CPWL` factories, layers for networks.

Examples:
    >>> from cpwl import activations
    >>> activations.n_activation(0, 1)("1/2")
    Fraction(-1, 2)
"""

from cpwl.activations.base import ActivationLayer
from cpwl.activations.elementwise import Elementwise, NLayer
from cpwl.activations.scalar import (
    abs_,
    identity,
    leaky_relu,
    linear_spline,
    n_activation,
    n_function,
    relu,
    two_piece,
)
from cpwl.activations.vector import GroupSort, Householder, MaxMin, SortingLayer

__all__ = [
    "ActivationLayer",
    "Elementwise",
    "GroupSort",
    "Householder",
    "MaxMin",
    "NLayer",
    "SortingLayer",
    "abs_",
    "identity",
    "leaky_relu",
    "linear_spline",
    "n_activation",
    "n_function",
    "relu",
    "two_piece",
]
