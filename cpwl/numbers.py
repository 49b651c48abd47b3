"""Exact rational numbers at the boundary of :mod:`cpwl`.

Everything that enters the library is turned into an exact rational by :func:`as_rational`
(internal type: ``gmpy2.mpq``, a C rational that is 5-20x faster than ``fractions.Fraction``)
and everything that leaves it is a ``fractions.Fraction`` (:func:`as_fraction`).  Floats are
converted *exactly*: a binary float is a dyadic rational, so ``as_fraction(0.1)`` is
``3602879701896397/36028797018963968``, not ``1/10``.  Write ``"0.1"`` for one tenth.
"""

from __future__ import annotations

import numbers
from fractions import Fraction
from typing import Any, Union

import gmpy2
from gmpy2 import mpq

from cpwl.errors import NumberError

__all__ = ["RationalLike", "as_fraction", "as_rational"]

#: Anything :func:`as_rational` accepts.
RationalLike = Union[int, Fraction, float, str, Any]

_MPQ = type(mpq(0))
_MPZ = type(gmpy2.mpz(0))


def _from_float(value: float) -> mpq:
    if value != value:
        raise NumberError("NaN has no exact rational value; pass a finite number")
    if value in (float("inf"), float("-inf")):
        raise NumberError(f"{value} has no exact rational value; pass a finite number")
    num, den = value.as_integer_ratio()
    return mpq(num, den)


def _from_text(text: str) -> mpq:
    try:
        return mpq(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError) as err:
        raise NumberError(
            f"cannot read {text!r} as an exact rational; write an integer, 'p/q' or a "
            "finite decimal such as '-1.25'"
        ) from err


def as_rational(value: RationalLike) -> mpq:
    """Convert ``value`` exactly to the internal rational type (``gmpy2.mpq``).

    Accepts ``int``, ``fractions.Fraction``, finite Python/numpy floats (exactly, as dyadic
    rationals), numpy integers, strings such as ``"3/7"``, ``"-1.25"`` or ``"1e-3"``, and the
    rationals of gmpy2 and python-flint.  ``bool`` is refused (it is almost always a bug).

    Example:
        >>> as_rational("3/7") == Fraction(3, 7)
        True
    """
    if isinstance(value, _MPQ):
        return value
    if isinstance(value, bool):
        raise NumberError("a bool is not a number here; pass 0 or 1 explicitly")
    if isinstance(value, (int, _MPZ)):
        return mpq(int(value))
    if isinstance(value, Fraction):
        return mpq(value.numerator, value.denominator)
    if isinstance(value, str):
        return _from_text(value)
    if isinstance(value, float):
        return _from_float(value)
    flint_num = getattr(value, "p", None), getattr(value, "q", None)
    if type(value).__module__.startswith("flint") and None not in flint_num:
        return mpq(int(flint_num[0]), int(flint_num[1]))
    if type(value).__module__.startswith("flint") and hasattr(value, "__int__"):
        return mpq(int(value))
    if isinstance(value, numbers.Integral):
        return mpq(int(value))
    if isinstance(value, numbers.Real):
        return _from_float(float(value)) if not isinstance(value, numbers.Rational) else mpq(
            int(value.numerator), int(value.denominator)
        )
    raise NumberError(
        f"cannot convert {type(value).__name__} {value!r} to an exact rational; pass an int, "
        "Fraction, finite float, or a string like '3/7'"
    )


def as_fraction(value: RationalLike) -> Fraction:
    """Convert ``value`` exactly to ``fractions.Fraction`` (the public number type).

    Example:
        >>> as_fraction(0.5)
        Fraction(1, 2)
        >>> as_fraction("-1.25")
        Fraction(-5, 4)
    """
    q = as_rational(value)
    return Fraction(int(q.numerator), int(q.denominator))


def _to_fraction(q: mpq) -> Fraction:
    """Internal fast path: ``mpq`` to ``Fraction`` without re-validation."""
    return Fraction(int(q.numerator), int(q.denominator), _normalize=False)
