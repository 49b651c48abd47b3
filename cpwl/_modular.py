"""Private: exact integer linear algebra by residues modulo small primes, on float64 BLAS.

Every prime is below ``2**21``, so a product of two residues is below ``2**42`` and a sum of
``_CHUNK`` such products stays below ``2**53``: float64 matrix products of residues are exact,
and ``np.fmod`` reduces them exactly.  An integer is recovered by the Chinese remainder theorem
from enough primes, chosen from a proven bound on its magnitude.
"""

from __future__ import annotations

import math
from typing import Optional

import gmpy2
import numpy as np

from cpwl.device import current as current_device

_PRIME_LIMIT = 1 << 21
#: Inner-dimension block of one exact product: ``_CHUNK * (2**21)**2 + 2**21 < 2**53``.
_CHUNK = 2047


def _primes_below(limit: int, count: int) -> list:
    found, candidate = [], limit - 1
    while len(found) < count:
        if gmpy2.is_prime(candidate):
            found.append(candidate)
        candidate -= 1
    return found


_PRIMES: list = _primes_below(_PRIME_LIMIT, 64)


def _first_primes(count: int) -> list:
    if count > len(_PRIMES):
        _PRIMES[:] = _primes_below(_PRIME_LIMIT, 2 * count)
    return _PRIMES[:count]


class Moduli:
    """The first ``count`` primes below ``2**21`` with their Chinese-remainder basis; large
    enough to recover any integer of absolute value below ``2**bits`` (see :meth:`for_bits`)."""

    def __init__(self, count: int):
        self.primes_list = _first_primes(count)
        self.primes = np.array(self.primes_list, dtype=np.float64)
        self.modulus = math.prod(self.primes_list)
        self._basis = []
        for p in self.primes_list:
            rest = self.modulus // p
            self._basis.append(rest * pow(rest, -1, p))

    @classmethod
    def for_bits(cls, bits: float) -> Moduli:
        """Enough primes that ``(-2**bits, 2**bits)`` maps one-to-one onto the residues: the
        product of the primes actually chosen is checked to exceed ``2**(bits + 2)``."""
        need = math.ceil(bits) + 2
        count = max(1, math.ceil(need / 21))
        while math.prod(_first_primes(count)).bit_length() - 1 < need:
            count += max(1, (need - math.prod(_first_primes(count)).bit_length()) // 21)
        return cls(count)

    @property
    def count(self) -> int:
        """Number of primes."""
        return len(self.primes_list)

    def shaped(self, ndim: int) -> np.ndarray:
        """The primes as a float64 array broadcasting over ``ndim`` trailing axes."""
        return self.primes.reshape((-1,) + (1,) * ndim)

    def of_int(self, value: int) -> np.ndarray:
        """Residues of one Python integer, float64 of shape ``(count,)``."""
        return np.array([value % p for p in self.primes_list], dtype=np.float64)

    def matmul(self, left: np.ndarray, right: np.ndarray, add: Optional[tuple] = None) -> np.ndarray:
        """Exact residues of ``left @ right`` for residue stacks ``(count, r, k) @ (count, k, c)``;
        ``add=(first, rows)`` adds the ``(count, c)`` residues ``rows`` to every row from
        ``first`` on (a bias) before the reduction.  Inside :func:`cpwl.residue_device` the
        products run with torch on that device (the same integers: see :mod:`cpwl.device`)."""
        device = current_device()
        if device is not None:
            return self._torch_matmul(left, right, add, device)
        out = np.empty((self.count, left.shape[1], right.shape[2]))
        part = np.empty(out.shape[1:])
        for start in range(0, left.shape[-1], _CHUNK):
            if start:
                out = self.reduce(out)
            for n in range(self.count):  # one BLAS call per prime, written in place
                target = out[n] if start == 0 else part
                np.matmul(left[n, :, start : start + _CHUNK], right[n, start : start + _CHUNK, :], out=target)
                if start:
                    out[n] += part
        if left.shape[-1] == 0:
            out.fill(0)
        if add is not None:
            out[:, add[0] :] += add[1][:, None, :]
        return self.reduce(out)

    def _torch_matmul(self, left: np.ndarray, right: np.ndarray, add: Optional[tuple], device) -> np.ndarray:
        """:meth:`matmul` with one batched torch product per block of ``_CHUNK`` inner terms
        on ``device``; each block's integers come back to be reduced here."""
        import torch

        L, R = torch.from_numpy(np.ascontiguousarray(left)), torch.from_numpy(np.ascontiguousarray(right))
        L, R = L.to(device), R.to(device)
        out = np.zeros((self.count, left.shape[1], right.shape[2]))
        for start in range(0, left.shape[-1], _CHUNK):
            block = torch.bmm(L[:, :, start : start + _CHUNK], R[:, start : start + _CHUNK, :]).cpu().numpy()
            out = self.reduce(out + block) if start else block  # a reduced sum plus a block stays below 2**53
        if add is not None:
            out[:, add[0] :] += add[1][:, None, :]
        return self.reduce(out)

    def reduce(self, values: np.ndarray) -> np.ndarray:
        """``values mod p`` for a stack of float64 integers in ``(-2**52, 2**53)``, one prime
        per leading index (see :func:`reduce_by`)."""
        return reduce_by(values, self.shaped(values.ndim - 1))

    def reconstruct(self, residues: np.ndarray) -> np.ndarray:
        """The integers (object array, shape ``residues.shape[1:]``) in ``(-M/2, M/2]`` with the
        given residues, ``M`` the product of the primes."""
        shape = residues.shape[1:]
        flat = residues.reshape(self.count, -1).astype(np.int64)
        total = np.zeros(flat.shape[1], dtype=object)
        for row, e in zip(flat, self._basis):
            total = total + row.astype(object) * e
        total = total % self.modulus
        half = self.modulus // 2
        total = np.where(total > half, total - self.modulus, total)
        return total.reshape(shape)


def reduce_by(values: np.ndarray, p, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``values mod p`` for float64 integers in ``(-2**52, 2**53)`` and a prime ``p`` (or an
    array of primes broadcasting against ``values``), written to ``out`` if given (an array
    of the result's shape that is not ``values``).

    The quotient ``floor(values / p)``, taken from a float product, is off by at most one;
    ``quotient * p`` and the difference are exact integers below ``2**53``, and one
    correction step each way makes the remainder exact (``np.fmod`` is several times slower).
    """
    rem = np.multiply(values, 1.0 / p, out=out)
    np.floor(rem, out=rem)
    rem *= p
    np.subtract(values, rem, out=rem)
    np.add(rem, p, out=rem, where=rem < 0)
    np.subtract(rem, p, out=rem, where=rem >= p)
    return rem


def residues(values: np.ndarray, primes: np.ndarray) -> np.ndarray:
    """Residues of an object array of Python ints modulo each prime: float64 with a leading
    prime axis."""
    return np.stack([(values % int(p)).astype(np.float64) for p in primes])
