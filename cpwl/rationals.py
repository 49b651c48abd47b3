"""Exact rational numbers at the boundary of :mod:`cpwl`.

Everything that enters the library is turned into an exact rational by :func:`as_rational`
(internal type: ``gmpy2.mpq``, a C rational that is 5-20x faster than ``fractions.Fraction``)
and everything that leaves it is a ``fractions.Fraction`` (:func:`as_fraction`).  Floats are
converted *exactly*: a binary float is a dyadic rational, so ``as_fraction(0.1)`` is
``3602879701896397/36028797018963968``, not ``1/10``.  Write ``"0.1"`` for one tenth.  Every
numpy float type converts exactly, ``np.longdouble`` included (its extra bits are kept).

Text is read without ever building an absurd integer: a decimal exponent beyond
:data:`MAX_DECIMAL_EXPONENT` and a number of more than :data:`MAX_TEXT_DIGITS` digits are
refused with :class:`cpwl.NumberError` at once (``"1e999999999"`` would otherwise make Python
compute ``10**999999999``).  Integers too long for Python's decimal conversion are written and
read in hexadecimal (``"0x1f/0x20"``), which converts in linear time.
"""

from __future__ import annotations

import numbers
import re
from fractions import Fraction
from typing import Any, Union

import gmpy2
import numpy as np
from gmpy2 import mpq

from cpwl.errors import NumberError

__all__ = ["MAX_DECIMAL_EXPONENT", "MAX_TEXT_DIGITS", "RationalLike", "as_fraction", "as_rational", "rational_text"]

#: Anything :func:`as_rational` accepts.
RationalLike = Union[int, Fraction, float, str, Any]

#: Largest ``|e|`` accepted in decimal text such as ``"1e-400"``.
MAX_DECIMAL_EXPONENT = 100_000
#: Most digits accepted in one integer of a text number (decimal: Python's own limit; hex: 4M bits).
MAX_TEXT_DIGITS = {10: 4300, 16: 1_000_000}
#: Integers of more bits than this are written in hexadecimal by :func:`rational_text`.
_DECIMAL_BITS = 13_000

_MPQ = type(mpq(0))
_MPZ = type(gmpy2.mpz(0))
_DECIMAL = re.compile(r"([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?")
_RATIO = re.compile(r"([-+]?)(\d+)/(\d+)")
_HEX = re.compile(r"([-+]?)0[xX]([0-9a-fA-F]+)(?:/0[xX]([0-9a-fA-F]+))?")


def _from_float(value: float) -> mpq:
    if value != value:
        raise NumberError("NaN has no exact rational value; pass a finite number")
    if value in (float("inf"), float("-inf")):
        raise NumberError(f"{value} has no exact rational value; pass a finite number")
    num, den = value.as_integer_ratio()
    return mpq(num, den)


def _from_numpy_float(value: np.floating) -> mpq:
    if not np.isfinite(value):
        raise NumberError(f"{value!r} has no exact rational value; pass a finite number")
    num, den = value.as_integer_ratio()  # exact for every width, long double included
    return mpq(int(num), int(den))


def _integer(digits: str, base: int, text: str) -> int:
    if len(digits) > MAX_TEXT_DIGITS[base]:
        raise NumberError(
            f"a number in {text[:40]!r}... has {len(digits)} digits, more than {MAX_TEXT_DIGITS[base]} "
            f"({'hexadecimal' if base == 16 else 'decimal'}); write large integers in hexadecimal ('0x...')"
        )
    return int(digits, base)


def _from_text(text: str) -> mpq:
    s = text.strip()
    for pattern in (_RATIO, _HEX):
        match = pattern.fullmatch(s)
        if match:
            base = 10 if pattern is _RATIO else 16
            sign, num, den = match.groups()
            denominator = _integer(den or "1", base, text)
            if not denominator:
                raise NumberError(f"cannot read {text!r}: the denominator is zero")
            value = mpq(_integer(num, base, text), denominator)
            return -value if sign == "-" else value
    match = _DECIMAL.fullmatch(s)
    if not match or not (match.group(2) or match.group(3)):
        raise NumberError(
            f"cannot read {text[:60]!r} as an exact rational; write an integer, 'p/q', a finite decimal "
            "such as '-1.25' or '1e-3', or hexadecimal '0x1f/0x20'"
        )
    sign, whole, frac, exp = match.groups()
    frac = frac or ""
    exponent = int(exp) if exp else 0
    if abs(exponent) > MAX_DECIMAL_EXPONENT:
        raise NumberError(f"the exponent of {text[:60]!r} is beyond ±{MAX_DECIMAL_EXPONENT}; such a number is refused")
    mantissa = _integer((whole + frac) or "0", 10, text)
    shift = exponent - len(frac)
    value = mpq(mantissa * 10**shift) if shift >= 0 else mpq(mantissa, 10**-shift)
    return -value if sign == "-" else value


def as_rational(value: RationalLike) -> mpq:
    """Convert ``value`` exactly to the internal rational type (``gmpy2.mpq``).

    Accepts ``int``, ``fractions.Fraction``, finite Python and numpy floats of every width
    (exactly, as dyadic rationals), numpy integers, strings such as ``"3/7"``, ``"-1.25"``,
    ``"1e-3"`` or ``"0x1f/0x20"``, and the rationals of gmpy2 and python-flint.  ``bool`` is
    refused (it is almost always a bug).

    Examples:
        >>> as_rational("3/7") == Fraction(3, 7)
        True
        >>> as_rational(np.longdouble(1) / 3) == as_rational(1 / 3)     # more bits than a float64
        False
    """
    if isinstance(value, _MPQ):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise NumberError("a bool is not a number here; pass 0 or 1 explicitly")
    if isinstance(value, (int, _MPZ)):
        return mpq(int(value))
    if isinstance(value, Fraction):
        return mpq(value.numerator, value.denominator)
    if isinstance(value, str):
        return _from_text(value)
    if isinstance(value, float):
        return _from_float(value)
    if isinstance(value, np.floating):
        return _from_numpy_float(value)
    if isinstance(value, np.integer):
        return mpq(int(value))
    module = type(value).__module__
    flint_num = getattr(value, "p", None), getattr(value, "q", None)
    if module.startswith("flint") and None not in flint_num:
        return mpq(int(flint_num[0]), int(flint_num[1]))
    if module.startswith("flint") and hasattr(value, "__int__"):
        return mpq(int(value))
    if isinstance(value, numbers.Integral):
        return mpq(int(value))
    if isinstance(value, numbers.Rational):
        return mpq(int(value.numerator), int(value.denominator))
    if module.startswith("torch") and getattr(value, "ndim", None) == 0:
        return as_rational(value.item())
    raise NumberError(
        f"cannot convert {type(value).__name__} {value!r} to an exact rational; pass an int, "
        "Fraction, finite float, or a string like '3/7'"
    )


def as_fraction(value: RationalLike) -> Fraction:
    """Convert ``value`` exactly to ``fractions.Fraction`` (the public number type).

    Examples:
        >>> as_fraction(0.5)
        Fraction(1, 2)
        >>> as_fraction("-1.25")
        Fraction(-5, 4)
    """
    q = as_rational(value)
    return Fraction(int(q.numerator), int(q.denominator))


def rational_text(value: RationalLike) -> str:
    """Exact text for a rational that :func:`as_rational` reads back: ``"p/q"`` in decimal, or
    ``"0x.../0x..."`` in hexadecimal when an integer is too long for Python's decimal reader.

    Examples:
        >>> rational_text(Fraction(-3, 4)), rational_text(Fraction(1, 2**20000))[:8]
        ('-3/4', '0x1/0x10')
    """
    q = as_rational(value)
    num, den = int(q.numerator), int(q.denominator)
    if max(num.bit_length(), den.bit_length()) <= _DECIMAL_BITS:
        return str(q)
    sign = "-" if num < 0 else ""
    return f"{sign}{hex(abs(num))}/{hex(den)}"


def _to_fraction(q: mpq) -> Fraction:
    """Internal fast path: ``mpq`` to ``Fraction`` without re-validation."""
    return Fraction(int(q.numerator), int(q.denominator), _normalize=False)
