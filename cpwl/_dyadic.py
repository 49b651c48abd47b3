"""Private: exact integer form of float arrays without one Python object per entry.

A finite float64 ``x`` is exactly ``m * 2**k`` with an odd integer ``m`` below ``2**53`` (or
``m = 0``).  Arrays of weights that arrive as floats (every trained network) are kept in this
form: numpy ``int64`` mantissas and exponents, from which the common denominator, residues
modulo small primes and (only when asked) Python integers follow exactly.
"""

from __future__ import annotations

import numpy as np

_MANTISSA_BITS = 53


class DyadicArray:
    """The exact value ``mantissa * 2**exponent`` of every entry of a finite float64 array."""

    __slots__ = ("values", "mantissa", "exponent")

    def __init__(self, values: np.ndarray):
        self.values = np.ascontiguousarray(values, dtype=np.float64)
        frac, exp = np.frexp(self.values)
        mant = np.ldexp(frac, _MANTISSA_BITS).astype(np.int64)
        exp = exp.astype(np.int64) - _MANTISSA_BITS
        zeros = _trailing_zeros(mant)
        self.mantissa = mant >> zeros
        self.exponent = np.where(mant == 0, 0, exp + zeros)

    @property
    def T(self) -> DyadicArray:
        """The transposed array (views, no copy)."""
        out = object.__new__(DyadicArray)
        out.values, out.mantissa, out.exponent = self.values.T, self.mantissa.T, self.exponent.T
        return out

    def min_exponent(self) -> int:
        """Smallest exponent of a nonzero entry (0 for an all-zero array)."""
        nonzero = self.mantissa != 0
        return int(self.exponent[nonzero].min()) if nonzero.any() else 0

    def scaled_residues(self, shift: int, moduli) -> np.ndarray:
        """Residues of the integers ``entry * 2**shift`` modulo each prime of ``moduli`` (a
        :class:`cpwl._modular.Moduli`), float64 of shape ``(count, *shape)``, C-contiguous
        (one BLAS operand per prime); every ``exponent + shift`` must be non-negative."""
        powers = np.ascontiguousarray(self.exponent + shift)
        low = int(powers.min()) if powers.size else 0
        high = int(powers.max()) if powers.size else 0
        table = np.array([[pow(2, e, p) for e in range(low, high + 1)] for p in moduli.primes_list], dtype=np.float64)
        mantissa = np.ascontiguousarray(self.mantissa).astype(np.float64)  # signed: reduce takes negatives
        if mantissa.size and np.abs(mantissa).max() >= 2**31:  # keep the products below 2**52
            sign = np.sign(mantissa)
            mantissa = moduli.reduce(np.broadcast_to(np.abs(mantissa), (moduli.count,) + mantissa.shape)) * sign
        out = np.take(table, powers - low, axis=1)
        out *= mantissa
        return moduli.reduce(out)

    def scaled_ints(self, shift: int) -> np.ndarray:
        """The integers ``entry * 2**shift`` as an object array of Python ints."""
        flat = [
            int(m) << int(e + shift) for m, e in zip(self.mantissa.ravel().tolist(), self.exponent.ravel().tolist())
        ]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(self.values.shape)


def _trailing_zeros(values: np.ndarray) -> np.ndarray:
    """Number of trailing zero bits of each nonzero int64 (0 for zero)."""
    low = values & -values
    return np.where(values == 0, 0, np.log2(np.where(low == 0, 1, np.abs(low)).astype(np.float64)).astype(np.int64))
