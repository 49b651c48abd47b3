"""Exact matrix norms: decide ``||W|| <= 1`` exactly, enclose ``||W||_2`` rigorously.

The spectral-norm test needs no square root and no eigen-solver: ``||W||_2 <= c`` iff
``M = c^2 I - W^T W`` is positive semidefinite, and a symmetric matrix is PSD iff the
coefficients of its characteristic polynomial alternate in sign (all its roots are real, so
Descartes' rule is exact).  The characteristic polynomial is computed exactly over the
integers by python-flint.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Union

import flint
import numpy as np

from cpwl import _intarrays
from cpwl.cpwl_map import exact_matrix
from cpwl.enclosure import Enclosure
from cpwl.errors import CPWLError, InvalidArgument
from cpwl.layer import norm_name
from cpwl.rationals import RationalLike, _to_fraction, as_rational

__all__ = ["NormCheck", "is_psd", "operator_norm_at_most", "check_norm", "spectral_norm_enclosure"]


def is_psd(M) -> bool:
    """Exact test that a symmetric rational matrix is positive semidefinite.

    Examples:
        >>> is_psd([[1, 1], [1, 1]]), is_psd([[1, 2], [2, 1]])
        (True, False)
    """
    rows = exact_matrix(M, "M")
    n = len(rows)
    if len(rows[0]) != n or any(rows[i][j] != rows[j][i] for i in range(n) for j in range(i)):
        raise InvalidArgument("is_psd needs a symmetric square matrix")
    nums, _ = _intarrays.over_common_denominator(rows)
    return _charpoly_psd(flint.fmpz_mat(n, n, nums.ravel().tolist()))


def _charpoly_psd(M: flint.fmpz_mat) -> bool:
    coeffs = M.charpoly().coeffs()  # constant term first; leading coefficient 1
    n = len(coeffs) - 1
    return all((c >= 0) if (n - j) % 2 == 0 else (c <= 0) for j, c in enumerate(coeffs))


def _gram(W_rows) -> flint.fmpz_mat:
    """Integer Gram matrix of the smaller side, and the squared common denominator."""
    nums, den = _intarrays.over_common_denominator(W_rows)
    m, n = nums.shape
    W = flint.fmpz_mat(m, n, nums.ravel().tolist())
    gram = W.transpose() * W if n <= m else W * W.transpose()
    return gram, den * den


def _spectral_at_most(gram, den2: int, c) -> bool:
    """``||W||_2 <= c`` for ``gram = den^2 W^T W`` (``c`` rational, ``c >= 0``)."""
    c = as_rational(c)
    cn, cd = int(c.numerator), int(c.denominator)
    n = gram.nrows()
    shifted = flint.fmpz_mat([[cn * cn * den2 if i == j else 0 for j in range(n)] for i in range(n)]) - gram * (cd * cd)
    return _charpoly_psd(shifted)


def operator_norm_at_most(W, bound: RationalLike = 1, norm: Union[int, str] = 2) -> bool:
    """Exact verdict on ``||W|| <= bound`` for the operator norm ``2`` (spectral), ``1``
    (max column sum) or ``"inf"`` (max row sum).

    Examples:
        >>> operator_norm_at_most([[Fraction(3, 5), Fraction(4, 5)]])
        True
        >>> operator_norm_at_most([[1, 1]], norm="inf")
        False
    """
    rows = exact_matrix(W)
    norm = norm_name(norm)
    c = as_rational(bound)
    if c < 0:
        return False
    if norm == 2:
        gram, den2 = _gram(rows)
        return _spectral_at_most(gram, den2, c)
    return _sum_norm(rows, norm) <= c


def _sum_norm(rows, norm):
    if norm_name(norm) == 1:
        return max(sum(abs(r[j]) for r in rows) for j in range(len(rows[0])))
    if norm_name(norm) == "inf":
        return max(sum(abs(v) for v in r) for r in rows)
    raise InvalidArgument(f"{norm!r} is not a sum norm: use 1 or 'inf'")


def spectral_norm_enclosure(W, rel_width: RationalLike = Fraction(1, 2**30)) -> Enclosure:
    """A proven rational enclosure of ``||W||_2``; both ends are checked with the exact PSD
    test, the float SVD only proposes them.

    Examples:
        >>> e = spectral_norm_enclosure([[1, 1], [0, 0]])     # sqrt(2)
        >>> e.lo ** 2 <= 2 <= e.hi ** 2
        True
    """
    rows = exact_matrix(W)
    gram, den2 = _gram(rows)
    scale = max(abs(_to_fraction(v)) for r in rows for v in r)
    if scale == 0:
        return Enclosure(Fraction(0), Fraction(0))
    # the float SVD of W / max|W| only proposes a centre: no overflow for huge entries, and
    # tiny ones keep their relative size
    guess = float(np.linalg.norm(np.array([[float(_to_fraction(v) / scale) for v in r] for r in rows]), 2))
    rel = Fraction(as_rational(rel_width).numerator, as_rational(rel_width).denominator)
    centre = Fraction(guess) * scale
    step = centre * rel
    lo, hi = centre - step, centre + step
    frobenius_squared = sum(_to_fraction(v) ** 2 for r in rows for v in r)  # ||W||_2^2 <= this
    while not _spectral_at_most(gram, den2, hi):
        if hi * hi > frobenius_squared:  # the exact test cannot fail here: fail loudly, never loop
            raise CPWLError(f"internal: the exact PSD test says ||W||_2 > {float(hi)}, above the Frobenius norm")
        lo, hi, step = hi, hi + 2 * step, 2 * step
    while lo > 0 and _spectral_at_most(gram, den2, lo):
        hi, lo, step = lo, max(Fraction(0), lo - 2 * step), 2 * step
    return Enclosure(lo, hi)


@dataclass(frozen=True)
class NormCheck:
    """Exact verdict on one layer's operator norm.

    ``ok`` is the exact answer to ``||W|| <= 1``.  ``value`` is the norm: an exact Fraction
    for ``norm=1`` and ``"inf"``, an :class:`Enclosure` for ``norm=2`` (it is usually
    irrational; relative width about ``2**-30``).  ``excess`` is ``value - 1`` when not ``ok``
    (same type), else ``0``.  For ``norm=2`` an excess far below the enclosure's width has a
    lower end of 0: the verdict ``ok=False`` is still exact, only its size is not resolved.

    Examples:
        >>> check_norm([[2, 0], [0, 1]], norm=1).excess
        Fraction(1, 1)
    """

    index: int
    norm: Union[int, str]
    ok: bool
    value: Union[Fraction, Enclosure]
    excess: Union[Fraction, Enclosure]


def check_norm(W, norm: Union[int, str] = 2, index: int = 0) -> NormCheck:
    """Build the :class:`NormCheck` of one matrix.

    Examples:
        >>> check_norm([[1, 0], [0, 1]]).ok
        True
    """
    rows = exact_matrix(W)
    norm = norm_name(norm)
    if norm == 2:
        value = spectral_norm_enclosure(rows)  # ||W|| > lo (or lo == 0) and ||W|| <= hi, proven
        ok = True if value.hi <= 1 else False if value.lo >= 1 else operator_norm_at_most(rows, 1, 2)
        if not ok:  # the exact verdict says ||W|| > 1: tighten the lower end accordingly
            value = Enclosure(max(value.lo, Fraction(1)), value.hi)
        excess = Fraction(0) if ok else value - 1
        return NormCheck(index, 2, ok, value, excess)
    total = _sum_norm(rows, norm)
    ok = total <= 1
    excess = Fraction(0) if ok else _to_fraction(total - 1)
    return NormCheck(index, norm, ok, _to_fraction(total), excess)
