"""Typed exceptions of :mod:`cpwl`.

Every error the library raises on bad input derives from :class:`CPWLError`, so a caller can
catch the whole family at once.  Each subclass also derives from the built-in exception a
Python user would expect (``ValueError``, ``TypeError``), so ``except ValueError`` keeps working.

Example:
    >>> import cpwl
    >>> try:
    ...     cpwl.CPWL.from_points([(1, 0), (0, 1)])
    ... except cpwl.CPWLError as err:
    ...     print(type(err).__name__)
    BreakpointError
"""

from __future__ import annotations


class CPWLError(Exception):
    """Base class of every error raised by :mod:`cpwl` on bad input."""


class NumberError(CPWLError, ValueError):
    """A value could not be turned into an exact rational (NaN, infinity, malformed text).

    Example:
        >>> import cpwl
        >>> cpwl.as_fraction(float("nan"))
        Traceback (most recent call last):
        ...
        cpwl.errors.NumberError: NaN has no exact rational value; pass a finite number
    """


class BreakpointError(CPWLError, ValueError):
    """Breakpoints or pieces are malformed: empty, unsorted, repeated, of mismatched length,
    or not continuous where continuity is required."""


class DomainError(CPWLError, ValueError):
    """A domain is malformed (``a >= b``), a point lies outside it, or two domains do not fit
    (composition whose inner range leaves the outer domain, distances on unbounded domains)."""


class ShapeError(CPWLError, ValueError):
    """Matrices or vectors are not conformable, or a channel count does not suit an activation
    (an odd count for a pairing activation, a width that no group size divides)."""


class SerializationError(CPWLError, ValueError):
    """A JSON document or a sympy expression does not describe a continuous piecewise-linear
    function in the expected form."""
