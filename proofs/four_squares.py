"""Lagrange's four-square theorem, constructively: used to split a rational weight into
rational squares (docs/theory.md §4.3, step 2)."""

from __future__ import annotations

import random
from fractions import Fraction
from math import isqrt

import gmpy2

from cpwl.errors import InvalidArgument

__all__ = ["four_squares", "rational_square_split"]

_BRUTE_FORCE_LIMIT = 10_000


def _two_squares_prime(p: int) -> tuple:
    """``p = a^2 + b^2`` for a prime ``p = 1 (mod 4)``: a square root of -1, then
    Cornacchia's Euclidean descent."""
    for c in range(2, p):
        x = pow(c, (p - 1) // 4, p)
        if x * x % p == p - 1:
            break
    r0, r1 = p, x
    while r1 * r1 > p:
        r0, r1 = r1, r0 % r1
    return r1, isqrt(p - r1 * r1)


def _two_squares(r: int):
    """``r = c^2 + d^2`` when ``r`` is 0, 1, 2, a square, or a prime ``= 1 (mod 4)``; else None."""
    root = isqrt(r)
    if root * root == r:
        return root, 0
    if r == 2:
        return 1, 1
    if r % 4 == 1 and gmpy2.is_prime(r):
        return _two_squares_prime(r)
    return None


def _brute_force(n: int) -> tuple:
    for a in range(isqrt(n), -1, -1):
        for b in range(min(a, isqrt(n - a * a)), -1, -1):
            rest = n - a * a - b * b
            for c in range(min(b, isqrt(rest)), -1, -1):
                d2 = rest - c * c
                d = isqrt(d2)
                if d * d == d2:
                    return a, b, c, d
    raise AssertionError("unreachable: every natural number is a sum of four squares")


def four_squares(n: int) -> tuple:
    """Four non-negative integers whose squares sum to ``n`` (randomised Rabin-Shallit search
    with a fixed seed, so results are reproducible).

    Examples:
        >>> a, b, c, d = four_squares(7)
        >>> a * a + b * b + c * c + d * d
        7
    """
    if n < 0:
        raise InvalidArgument(f"four_squares needs n >= 0, got {n}")
    k = 0
    while n and n % 4 == 0:
        n, k = n // 4, k + 1
    if n <= _BRUTE_FORCE_LIMIT:
        return tuple(v << k for v in _brute_force(n))
    rng = random.Random(n)
    limit = isqrt(n)
    while True:
        a, b = rng.randint(0, limit), rng.randint(0, limit)
        rest = n - a * a - b * b
        if rest >= 0 and (cd := _two_squares(rest)) is not None:
            return tuple(v << k for v in (a, b, *cd))


def rational_square_split(p: Fraction) -> list:
    """Non-zero rationals ``w`` (at most four) with ``sum(w^2) == p`` for a rational ``p >= 0``:
    ``p = (num * den) / den^2`` and ``num * den`` is a sum of four integer squares.

    Examples:
        >>> ws = rational_square_split(Fraction(1, 2))
        >>> sum(w * w for w in ws)
        Fraction(1, 2)
    """
    p = Fraction(p)
    if p < 0:
        raise InvalidArgument(f"a sum of squares cannot be negative, got {p}")
    return [Fraction(v, p.denominator) for v in four_squares(p.numerator * p.denominator) if v]
