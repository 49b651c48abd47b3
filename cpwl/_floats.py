"""Private: float64 images of exact rationals, with the facts a rounding-error bound needs.

:func:`ratio_to_float` never raises on magnitude: a ratio beyond the float64 range becomes
``±inf`` (so a float filter built on it cannot decide anything from it and falls back to exact
arithmetic), and a ratio below the normal range may lose relative precision (callers add an
absolute term, see :data:`UNDERFLOW`).
"""

from __future__ import annotations

import struct
from contextlib import contextmanager

import numpy as np
from gmpy2 import mpq


def subnormal(exponent: int) -> float:
    """``2**exponent`` for ``-1074 <= exponent < -1022``, built from its bits.  A literal such
    as ``2.0**-1074`` is folded by the compiler when the module is compiled, and a process that
    flushes subnormals to zero at that moment (``torch.set_flush_denormal(True)``) would fold
    it to ``0.0`` for good (in the cached bytecode too).

    Examples:
        >>> subnormal(-1074) == 5e-324, subnormal(-1023) * 2 == 2.0**-1022
        (True, True)
    """
    if not -1074 <= exponent < -1022:
        raise ValueError(f"2**{exponent} is not a subnormal float64")
    return struct.unpack("<d", struct.pack("<Q", 1 << (exponent + 1074)))[0]


#: Largest absolute error of a float64 image of a rational in the subnormal range (the
#: relative bound ``2**-52`` holds above ``2**-1022``).
UNDERFLOW = subnormal(-1074)


def flushes_subnormals() -> bool:
    """Whether this thread's CPU arithmetic flushes subnormals to zero right now (found by
    computing one; numpy and torch share the setting of ``torch.set_flush_denormal``).

    Examples:
        >>> flushes_subnormals()
        False
    """
    return bool(np.float64(subnormal(-1070)) * np.float64(0.5) == 0)


@contextmanager
def subnormals_kept():
    """Within the block, CPU float arithmetic keeps subnormals (every absolute underflow term
    of a rounding bound assumes it); on exit the thread's setting is what it was.

    Examples:
        >>> import torch
        >>> _ = torch.set_flush_denormal(True)
        >>> with subnormals_kept():
        ...     flushes_subnormals()
        False
        >>> flushes_subnormals()
        True
        >>> _ = torch.set_flush_denormal(False)
    """
    flushing = flushes_subnormals()
    if not flushing:
        yield
        return
    import torch

    torch.set_flush_denormal(False)
    try:
        yield
    finally:
        torch.set_flush_denormal(True)


def _small(ints: np.ndarray) -> bool:
    return ints.size == 0 or int(np.abs(ints).max()) < 2**53


def _power_of_two(den) -> bool:
    den = np.asarray(den, dtype=object)
    return all(int(d) & (int(d) - 1) == 0 for d in den.ravel())


def _one(num: int, den: int) -> float:
    try:
        return float(mpq(num, den))
    except OverflowError:
        return float("inf") if (num > 0) == (den > 0) else float("-inf")


def rationals_to_float(values) -> np.ndarray:
    """float64 images of rationals (``gmpy2.mpq`` or ``Fraction``), each within ``2**-52``
    relatively or :data:`UNDERFLOW` absolutely of its value, ``±inf`` beyond the float range:
    one conversion each, without splitting them into numerators and denominators.

    Examples:
        >>> from fractions import Fraction
        >>> rationals_to_float([mpq(1, 4), Fraction(-3, 2), mpq(10**400, 3)]).tolist()
        [0.25, -1.5, inf]
    """
    try:
        return np.array([float(q) for q in values], dtype=np.float64)
    except OverflowError:
        return np.array([_one(int(q.numerator), int(q.denominator)) for q in values], dtype=np.float64)


def ratio_to_float(num: np.ndarray, den) -> tuple:
    """``(floats, exact)``: float64 images of ``num / den`` (an object array of ints over one
    positive int, or over an array of the same shape), each within ``2**-52`` relatively or
    :data:`UNDERFLOW` absolutely of the exact value, ``±inf`` beyond the float range; ``exact``
    says whether every image equals its rational.

    Examples:
        >>> import numpy as np
        >>> f, exact = ratio_to_float(np.array([1, 3], dtype=object), 4)
        >>> f.tolist(), exact
        ([0.25, 0.75], True)
    """
    num = np.asarray(num, dtype=object)
    scalar_den = not isinstance(den, np.ndarray)
    small = _small(num)
    if scalar_den and small and int(den).bit_length() < 1000:
        out = num.astype(np.float64) / float(den)  # two roundings: within 2u
    else:
        dens = np.broadcast_to(np.asarray(den, dtype=object), num.shape)
        out = np.array([_one(int(a), int(b)) for a, b in zip(num.ravel(), dens.ravel())], dtype=np.float64).reshape(
            num.shape
        )
    exact = small and _power_of_two(den) and bool(np.isfinite(out).all())
    if exact and out.size:
        nonzero = num != 0
        exact = bool((np.abs(out[nonzero]) >= 2.0**-1022).all())  # a subnormal image may have rounded
    return out, exact
