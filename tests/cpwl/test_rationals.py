"""Exact conversion of every accepted number type, and clear errors for the rest."""

from fractions import Fraction

import flint
import gmpy2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cpwl
from cpwl.rationals import as_rational


@pytest.mark.parametrize(
    "value, expected",
    [
        (3, Fraction(3)),
        (Fraction(-2, 6), Fraction(-1, 3)),
        ("3/7", Fraction(3, 7)),
        ("-1.25", Fraction(-5, 4)),
        (" 1e-3 ", Fraction(1, 1000)),
        (0.5, Fraction(1, 2)),
        (0.1, Fraction(3602879701896397, 36028797018963968)),
        (np.float32(0.1), Fraction(13421773, 134217728)),
        (np.float64(-2.5), Fraction(-5, 2)),
        (np.int64(7), Fraction(7)),
        (gmpy2.mpq(2, 3), Fraction(2, 3)),
        (gmpy2.mpz(5), Fraction(5)),
        (flint.fmpq(-4, 6), Fraction(-2, 3)),
        (flint.fmpz(9), Fraction(9)),
    ],
)
def test_exact_conversion(value, expected):
    assert cpwl.as_fraction(value) == expected
    assert type(cpwl.as_fraction(value)) is Fraction


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_are_converted_exactly(x):
    q = cpwl.as_fraction(x)
    assert q == Fraction(x)
    assert float(q) == x


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -np.inf, "abc", "1/0", True, None, [1], object()])
def test_bad_numbers_raise_number_error(bad):
    with pytest.raises(cpwl.NumberError):
        as_rational(bad)


def test_number_error_is_a_value_error_and_a_cpwl_error():
    with pytest.raises(ValueError):
        cpwl.as_fraction("x")
    assert issubclass(cpwl.NumberError, cpwl.CPWLError)
