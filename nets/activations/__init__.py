"""1-Lipschitz activations as torch modules; each knows its exact :mod:`cpwl` counterpart
(``exact_layer()``)."""

from nets.activations.elementwise import Abs, AbsIdentity, LeakyReLU, PReLU
from nets.activations.householder import Householder
from nets.activations.linear_spline import LinearSpline
from nets.activations.n_activation import NActivation, initial_theta
from nets.activations.sorting import GroupSort, MaxMin

__all__ = [
    "Abs",
    "AbsIdentity",
    "GroupSort",
    "Householder",
    "LeakyReLU",
    "LinearSpline",
    "MaxMin",
    "NActivation",
    "PReLU",
    "initial_theta",
]
