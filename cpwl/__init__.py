"""cpwl: exact algebra of continuous piecewise-linear functions of one variable, and exact
networks built from them.

Examples:
    >>> import cpwl
    >>> f = cpwl.CPWL.from_points([(-1, 0), (0, 1), (1, 0)], left_slope=1, right_slope=-1)
    >>> f.lipschitz_constant(), f.is_lipschitz(1)
    (Fraction(1, 1), True)
"""

from cpwl import activations
from cpwl.affine import Affine, FloatForm
from cpwl.conv import Conv2d
from cpwl.cpwl_map import CPWLMap
from cpwl.derivatives import DerivativeBounds, derivative_bounds
from cpwl.device import residue_device
from cpwl.distances import l2_distance_squared, sup_distance
from cpwl.enclosure import Enclosure, sqrt_upper
from cpwl.errors import (
    BreakpointError,
    BreakpointLimitError,
    CPWLError,
    DomainError,
    InvalidArgument,
    LimitError,
    MemoryLimitError,
    ModelFileError,
    NumberError,
    SerializationError,
    ShapeError,
    UnsupportedError,
    UnsupportedModuleError,
    UnsupportedOperatorError,
)
from cpwl.function import CPWL
from cpwl.gather import Gather
from cpwl.interval import Interval
from cpwl.lattice import maximum, minimum
from cpwl.layer import Layer, LipschitzBound
from cpwl.limits import breakpoint_limit, memory_limit
from cpwl.linalg import NormCheck, is_psd, operator_norm_at_most, spectral_norm_enclosure
from cpwl.network import Network
from cpwl.rationals import as_fraction
from cpwl.residual import Residual

__all__ = [
    "Affine",
    "BreakpointError",
    "BreakpointLimitError",
    "CPWL",
    "CPWLError",
    "CPWLMap",
    "Conv2d",
    "DerivativeBounds",
    "DomainError",
    "Enclosure",
    "FloatForm",
    "Gather",
    "Interval",
    "InvalidArgument",
    "Layer",
    "LimitError",
    "LipschitzBound",
    "MemoryLimitError",
    "ModelFileError",
    "Network",
    "NormCheck",
    "NumberError",
    "Residual",
    "SerializationError",
    "ShapeError",
    "UnsupportedError",
    "UnsupportedModuleError",
    "UnsupportedOperatorError",
    "activations",
    "as_fraction",
    "breakpoint_limit",
    "derivative_bounds",
    "memory_limit",
    "residue_device",
    "is_psd",
    "l2_distance_squared",
    "maximum",
    "minimum",
    "operator_norm_at_most",
    "spectral_norm_enclosure",
    "sqrt_upper",
    "sup_distance",
]


def __getattr__(name: str):
    if name == "strategies":  # imported lazily: it needs hypothesis
        import importlib

        return importlib.import_module("cpwl.strategies")
    raise AttributeError(f"module 'cpwl' has no attribute {name!r}")
