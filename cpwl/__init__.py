"""cpwl: exact algebra of continuous piecewise-linear functions of one variable, and exact
networks built from them.

Example:
    >>> import cpwl
    >>> f = cpwl.CPWL.from_points([(-1, 0), (0, 1), (1, 0)], left_slope=1, right_slope=-1)
    >>> f.lipschitz_constant(), f.is_lipschitz(1)
    (Fraction(1, 1), True)
"""

from cpwl import activations
from cpwl.cpwl_map import CPWLMap
from cpwl.distances import l2_distance_squared, sup_distance
from cpwl.enclosure import Enclosure, sqrt_upper
from cpwl.errors import BreakpointError, CPWLError, DomainError, NumberError, SerializationError, ShapeError
from cpwl.function import CPWL
from cpwl.interval import Interval
from cpwl.lattice import maximum, minimum
from cpwl.limits import BreakpointLimitError, breakpoint_limit
from cpwl.linalg import NormCheck, is_psd, operator_norm_at_most, spectral_norm_enclosure
from cpwl.network import Affine, Network
from cpwl.numbers import as_fraction

__all__ = [
    "Affine",
    "BreakpointError",
    "BreakpointLimitError",
    "CPWL",
    "CPWLError",
    "CPWLMap",
    "DomainError",
    "Enclosure",
    "Interval",
    "Network",
    "NormCheck",
    "NumberError",
    "SerializationError",
    "ShapeError",
    "activations",
    "as_fraction",
    "breakpoint_limit",
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
