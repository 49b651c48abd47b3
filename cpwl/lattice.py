"""Pointwise maximum and minimum of CPWL functions (the lattice operations)."""

from __future__ import annotations

from cpwl import _pieces
from cpwl.errors import InvalidArgument
from cpwl.function import CPWL

__all__ = ["maximum", "minimum"]


def _extremum(f: CPWL, g: CPWL, pick_first) -> CPWL:
    if not (isinstance(f, CPWL) and isinstance(g, CPWL)):
        raise InvalidArgument("maximum/minimum take two CPWL functions")
    diff = f - g
    ends = [diff._domain._lo, *diff._bps, diff._domain._hi]
    crossings = [
        x
        for j, (s, c) in enumerate(zip(diff._s, diff._c))
        if (x := _pieces.affine_crossing(s, c, ends[j], ends[j + 1])) is not None
    ]
    domain = diff._domain
    bps = _pieces.merge_breakpoints(domain, f._bps, g._bps, crossings)
    return _pieces.assemble(
        domain, bps, lambda m: f._piece_at(m) if pick_first(f._eval(m), g._eval(m)) else g._piece_at(m)
    )


def maximum(f: CPWL, g: CPWL) -> CPWL:
    """Pointwise maximum on the common domain, exactly (crossings become breakpoints).

    Examples:
        >>> from cpwl import CPWL, maximum
        >>> maximum(CPWL.identity(), CPWL.constant(0)).breakpoints   # ReLU
        (Fraction(0, 1),)
    """
    return _extremum(f, g, lambda a, b: a >= b)


def minimum(f: CPWL, g: CPWL) -> CPWL:
    """Pointwise minimum on the common domain, exactly.

    Examples:
        >>> from cpwl import CPWL, minimum
        >>> minimum(CPWL.identity(), CPWL.constant(0))(5)
        Fraction(0, 1)
    """
    return _extremum(f, g, lambda a, b: a <= b)
