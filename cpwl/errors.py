"""Every error the library raises on purpose, in one place.

One root, :class:`CPWLError`, so a caller can catch the whole family at once.  Each error also
derives from the built-in exception a Python user would expect (``ValueError``, ``TypeError``,
``RuntimeError``), so ``except ValueError`` keeps working.  The tree::

    CPWLError
    ├── InvalidArgument          (ValueError, TypeError)  an argument the call cannot accept
    │   ├── NumberError          NaN, infinity, unreadable or absurdly large numbers
    │   ├── BreakpointError      unsorted, repeated, mismatched or discontinuous pieces
    │   ├── DomainError          a >= b, points outside a domain, domains that do not fit
    │   └── ShapeError           non-conformable matrices, channel counts, input shapes
    ├── SerializationError       (ValueError) a JSON document or sympy expression that is not a CPWL
    │   └── ModelFileError       a model file that is missing, malformed, or would run code
    ├── UnsupportedError         (TypeError) something the exact semantics does not cover
    │   ├── UnsupportedModuleError    a torch module (named, with its path in the model)
    │   └── UnsupportedOperatorError  a graph operator of an ONNX or torch.export model
    └── LimitError               (RuntimeError) a resource guard stopped the work
        ├── BreakpointLimitError      more breakpoints than ``cpwl.breakpoint_limit``
        └── MemoryLimitError          more memory than ``cpwl.memory_limit``

Examples:
    >>> import cpwl
    >>> try:
    ...     cpwl.CPWL.from_points([(1, 0), (0, 1)])
    ... except cpwl.CPWLError as err:
    ...     print(type(err).__name__, isinstance(err, cpwl.InvalidArgument))
    BreakpointError True
"""

from __future__ import annotations

__all__ = [
    "BreakpointError",
    "BreakpointLimitError",
    "CPWLError",
    "DomainError",
    "InvalidArgument",
    "LimitError",
    "MemoryLimitError",
    "ModelFileError",
    "NumberError",
    "SerializationError",
    "ShapeError",
    "UnsupportedError",
    "UnsupportedModuleError",
    "UnsupportedOperatorError",
]


class CPWLError(Exception):
    """Base class of every error raised by the library on purpose."""


class InvalidArgument(CPWLError, ValueError, TypeError):
    """An argument the call cannot accept: a wrong type, a value out of range, an unknown
    option.  The message names the argument and what would be accepted.

    Examples:
        >>> import cpwl
        >>> cpwl.activations.MaxMin(pairing="diagonal")
        Traceback (most recent call last):
        ...
        cpwl.errors.InvalidArgument: pairing must be 'adjacent' or 'halves', got 'diagonal'
    """


class NumberError(InvalidArgument):
    """A value could not be turned into an exact rational (NaN, infinity, malformed text, an
    exponent too large to expand).

    Examples:
        >>> import cpwl
        >>> cpwl.as_fraction(float("nan"))
        Traceback (most recent call last):
        ...
        cpwl.errors.NumberError: NaN has no exact rational value; pass a finite number
    """


class BreakpointError(InvalidArgument):
    """Breakpoints or pieces are malformed: empty, unsorted, repeated, of mismatched length,
    or not continuous where continuity is required."""


class DomainError(InvalidArgument):
    """A domain is malformed (``a >= b``), a point lies outside it, or two domains do not fit
    (composition whose inner range leaves the outer domain, distances on unbounded domains)."""


class ShapeError(InvalidArgument):
    """Matrices or vectors are not conformable, a channel count does not suit an activation,
    or an input does not have the shape a model takes."""


class SerializationError(CPWLError, ValueError):
    """A JSON document or a sympy expression does not describe a continuous piecewise-linear
    function in the expected form."""


class ModelFileError(SerializationError):
    """A model file is missing, unreadable, not a lipcpwl model, or would need code to load."""


class UnsupportedError(CPWLError, TypeError):
    """Something outside the exact semantics the library has written down.  Nothing is
    guessed: the message says what was refused and where."""


class UnsupportedModuleError(UnsupportedError):
    """A torch module the translation table does not know, or a known one whose behaviour was
    changed (an overridden ``forward``, a hook, an unsupported option); the message names the
    module and its path in the model."""


class UnsupportedOperatorError(UnsupportedError):
    """A graph operator (or an attribute or flag of one) that the exact evaluation of ONNX and
    ``torch.export`` graphs does not cover; the message names it."""


class LimitError(CPWLError, RuntimeError):
    """A resource guard stopped an exact computation before it exhausted the machine."""


class BreakpointLimitError(LimitError):
    """An exact map would have more breakpoints than :func:`cpwl.breakpoint_limit` allows."""


class MemoryLimitError(LimitError):
    """An exact computation would allocate more memory than :func:`cpwl.memory_limit` allows
    (``pieces``: how many pieces the step that did not fit worked on, when known)."""

    pieces = None
