"""Private helpers for exact integer matrices: numpy object arrays of Python ints, with
python-flint for the one heavy operation (matrix products)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import flint
import numpy as np
from gmpy2 import mpq


def object_bytes(entries: int, bits: int) -> float:
    """Estimated bytes of an object array of ``entries`` Python ints of about ``bits`` bits
    (a pointer and an int object each)."""
    return float(entries) * (8 + 28 + bits / 8)


def ints(values, shape=None) -> np.ndarray:
    """Object array of Python ints."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = [int(v) for v in values]
    return arr if shape is None else arr.reshape(shape)


def over_common_denominator(*matrices: Sequence[Sequence[mpq]]) -> tuple:
    """Rational matrices (lists of rows) -> their integer object arrays over one positive
    common denominator: ``(array_1, ..., array_n, den)``."""
    flat = [q for rows in matrices for row in rows for q in row]
    den = math.lcm(*(int(q.denominator) for q in flat)) if flat else 1
    out, start = [], 0
    for rows in matrices:
        shape = (len(rows), len(rows[0]) if rows else 0)
        size = shape[0] * shape[1]
        out.append(ints([q.numerator * (den // int(q.denominator)) for q in flat[start : start + size]], shape))
        start += size
    return (*out, den)


def matmul(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Exact product of two integer object arrays (via flint's fmpz_mat)."""
    rows, inner = left.shape
    cols = right.shape[1]
    if rows == 0 or cols == 0 or inner == 0:
        return ints([0] * (rows * cols), (rows, cols))
    product = flint.fmpz_mat(rows, inner, left.ravel().tolist()) * flint.fmpz_mat(inner, cols, right.ravel().tolist())
    return ints(product.entries(), (rows, cols))


def sign(values: np.ndarray) -> np.ndarray:
    """Elementwise sign (-1, 0, 1) of an integer object array, as int8."""
    return (values > 0).astype(np.int8) - (values < 0).astype(np.int8)
