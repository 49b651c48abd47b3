"""The parts of ``CPWL``'s contract that property tests pass over: the exact error messages a
user reads, the float evaluation at breakpoints, value ranges on unbounded domains, strict
and non-strict monotonicity, and the exact breakpoints of a composition.  Each test here was
written against a mutant of ``cpwl/function.py`` that the rest of the suite let live (README,
"Mutation testing")."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from cpwl import CPWL, DomainError, InvalidArgument, NumberError


def _message(error, call):
    with pytest.raises(error) as info:
        call()
    return str(info.value)


def test_messages_say_what_went_wrong():
    f = CPWL.from_pieces([0], [-1, 1], [0, 0], domain=(-1, 2))
    assert _message(NumberError, lambda: f.evaluate([0.0, float("nan")])) == "evaluate needs finite inputs"
    assert _message(DomainError, lambda: f.evaluate([-2.0])) == "some points lie outside the domain [-1, 2]"
    assert _message(DomainError, lambda: f.evaluate([3.0])) == "some points lie outside the domain [-1, 2]"
    assert _message(DomainError, lambda: f(5)) == "x = 5 lies outside the domain [-1, 2]"
    assert (
        _message(DomainError, lambda: f.restrict(-2, 0))
        == "cannot restrict to [-2, 0]: it is not inside the domain [-1, 2]"
    )
    assert _message(ZeroDivisionError, lambda: f / 0) == "division of a CPWL function by zero"
    assert _message(InvalidArgument, lambda: f.compose(3)) == "compose needs a CPWL, got int"
    assert _message(InvalidArgument, lambda: CPWL()) == (
        "build a CPWL with CPWL.from_points, from_pieces, from_slopes, linear, identity or constant"
    )
    assert _message(InvalidArgument, lambda: CPWL.from_pieces([0, 1], [1, 1], [0, 0])) == (
        "2 breakpoints need 3 slopes and intercepts, got 2 slopes and 2 intercepts"
    )
    assert _message(InvalidArgument, lambda: CPWL.from_pieces([0, 1], [1, 2, -1], [1, 1, 7])) == (
        "pieces 1 and 2 do not meet at breakpoint 1: 3 != 6 (the function must be continuous)"
    )


def test_constructor_messages_name_the_offending_input():
    assert _message(InvalidArgument, lambda: CPWL.from_points([])) == "from_points needs at least one point"
    assert _message(InvalidArgument, lambda: CPWL.from_points([(0, 0), 5])) == "each point is a pair (x, y), got 5"
    assert _message(InvalidArgument, lambda: CPWL.from_points([(0, 0), (2, 1), (1, 0)])) == (
        "point x-coordinates must be strictly increasing; x[1] = 2 and x[2] = 1 are not (sort them and drop repeats)"
    )
    assert _message(DomainError, lambda: CPWL.from_points([(1, 2)])) == (
        "one point without end slopes spans a zero-length domain; add a point or an end slope"
    )
    assert CPWL.from_points([(1, 2)], left_slope=1).domain.hi == 1
    assert CPWL.from_points([(1, 2)], right_slope=1).domain.lo == 1
    assert _message(InvalidArgument, lambda: CPWL.from_slopes([0, 1], [1, 1], anchor=(0, 0))) == (
        "2 breakpoints need 3 slopes, got 2"
    )
    assert _message(InvalidArgument, lambda: CPWL.from_slopes([0], [1, 1], anchor=5)) == (
        "anchor must be one point (x, y) on the graph, got 5"
    )
    assert _message(DomainError, lambda: CPWL.from_slopes([1], [1, 1], anchor=(3, 0), domain=(0, 2))) == (
        "anchor x = 3 lies outside the domain [0, 2]"
    )
    assert _message(InvalidArgument, lambda: CPWL.from_slopes([0, 0], [1, 2, 3], anchor=(0, 0))) == (
        "breakpoints must be strictly increasing; positions 0 and 1 hold 0 and 0 (sort them and drop repeats)"
    )
    assert _message(InvalidArgument, lambda: CPWL.from_slopes([2, 1, 5], [1, 2, 3, 4], anchor=(0, 0))) == (
        "breakpoints must be strictly increasing; positions 0 and 1 hold 2 and 1 (sort them and drop repeats)"
    )
    assert _message(InvalidArgument, lambda: CPWL.from_slopes([0, 2], [1, 2, 3], anchor=(0, 0), domain=(-1, 2))) == (
        "breakpoint 2 is not strictly inside the domain [-1, 2]"
    )


def test_from_points_with_end_slopes_continues_the_first_and_last_points():
    f = CPWL.from_points([(1, 1), (2, 3), (3, 2)], left_slope=Fraction(1, 2), right_slope=-3)
    assert f.domain.lo is None and f.domain.hi is None
    assert f.slopes == (Fraction(1, 2), 2, -1, -3) and f.breakpoints == (1, 2, 3)
    assert f(-1) == 0 and f(1) == 1 and f(2) == 3 and f(3) == 2 and f(4) == -1


@pytest.mark.parametrize(
    ("inner", "text"),
    [
        (CPWL.linear(1), "[-inf, inf]"),
        (CPWL.linear(1, domain=(0, None)), "[0, inf]"),
        (CPWL.linear(-1, domain=(0, None)), "[-inf, 0]"),
        (CPWL.linear(1, domain=(3, 4)), "[3, 4]"),
    ],
)
def test_compose_names_the_inner_range_that_leaves_the_outer_domain(inner, text):
    outer = CPWL.identity(domain=(-1, 1))
    message = _message(DomainError, lambda: outer.compose(inner))
    assert message == (
        f"the inner function's values span {text}, which leaves the outer domain [-1, 1]; "
        "restrict the inner function so its values stay inside"
    )


def test_compose_adds_only_the_crossings_inside_each_piece():
    relu = CPWL.from_pieces([0], [0, 1], [0, 0])
    lifted_abs = CPWL.from_pieces([0], [-1, 1], [1, 1])  # |x| + 1: each piece's line crosses 0 outside the piece
    assert relu.compose(lifted_abs).breakpoints == (0,)
    tent = CPWL.from_points([(-2, 0), (0, 2), (2, 0)])  # crossings of 1 at -1 and 1, one per piece
    assert relu.compose(tent - 1).breakpoints == (-1, 0, 1)


def test_float_evaluation_at_breakpoints_is_the_rounded_exact_value():
    # anchored at the breakpoint itself (searchsorted side="right"), a breakpoint's float value is its exact
    # value rounded once; anchored at the previous breakpoint it picks up the rounding of a slope product
    bps = [Fraction(k, 7) for k in range(1, 40)]
    slopes = [Fraction((-1) ** k * (k % 5 + 1), 3) for k in range(len(bps) + 1)]
    f = CPWL.from_slopes(bps, slopes, anchor=(0, Fraction(1, 3)))
    got = f.evaluate([float(t) for t in bps])
    assert got.dtype == np.float64 and got.tolist() == [float(v) for v in f.values]


def test_float_evaluation_takes_fractions_and_integers():
    f = CPWL.from_pieces([0], [-1, 1], [0, 0])
    values = f.evaluate([Fraction(1, 3), -2])
    assert values.dtype == np.float64 and values.tolist() == [1 / 3, 2.0]


@pytest.mark.parametrize(
    ("slopes", "domain", "expected"),
    [
        ((Fraction(1, 2), Fraction(1, 2)), (None, None), (None, None)),
        ((Fraction(1, 2), -1), (None, None), (None, Fraction(1, 2))),
        ((Fraction(-1, 2), Fraction(1, 2)), (None, None), (Fraction(1, 2), None)),
        ((Fraction(-1, 2), Fraction(-1, 2)), (None, None), (None, None)),
        ((Fraction(1, 2), 0), (None, None), (None, Fraction(1, 2))),
        ((0, Fraction(-1, 2)), (None, None), (None, Fraction(1, 2))),
        ((Fraction(-1, 2), -1), (None, 3), (Fraction(-3, 2), None)),
        ((Fraction(1, 2), -1), (0, None), (None, Fraction(1, 2))),
        ((-2, Fraction(1, 4)), (-1, None), (Fraction(1, 2), None)),
    ],
)
def test_value_range_on_unbounded_domains(slopes, domain, expected):
    f = CPWL.from_slopes([1], list(slopes), anchor=(1, Fraction(1, 2)), domain=domain)
    lo, hi = f.value_range()
    assert (lo, hi) == expected
    # independent check: the finite ends of the range are attained, and far out on the line nothing passes them
    points = [Fraction(1)] + [Fraction(t) for t in domain if t is not None]
    points += [Fraction(k) for k in (-(10**6), 10**6) if f.domain.contains(k)]
    assert lo is None or (min(f(t) for t in points) == lo)
    assert hi is None or (max(f(t) for t in points) == hi)


def test_monotone_strict_and_not():
    rising = CPWL.from_slopes([0], [Fraction(1, 2), 2], anchor=(0, 0))
    flat_then_rising = CPWL.from_slopes([0], [0, 1], anchor=(0, 0))
    falling, flat_then_falling = -rising, -flat_then_rising
    assert rising.is_monotone(strict=True) and falling.is_monotone(strict=True)
    assert not flat_then_rising.is_monotone(strict=True) and not flat_then_falling.is_monotone(strict=True)
    assert flat_then_rising.is_monotone() and flat_then_falling.is_monotone()
    assert not CPWL.from_slopes([0], [-1, 1], anchor=(0, 0)).is_monotone()
    assert not CPWL.from_slopes([0], [Fraction(-1, 2), Fraction(1, 2)], anchor=(0, 0)).is_monotone(strict=True)


def test_defaults_scalars_and_hashes():
    assert CPWL.linear(2)(3) == 6  # intercept defaults to 0
    assert CPWL.linear(1).is_lipschitz() and not CPWL.linear(Fraction(3, 2)).is_lipschitz()  # constant defaults to 1
    f = CPWL.from_pieces([0], [-1, 1], [0, 0])
    assert f / 1 == f and (f / 2)(4) == 2
    for op in (lambda: f * f, lambda: f / f, lambda: f * "x", lambda: f / "x"):
        with pytest.raises(TypeError, match="unsupported operand|can.t multiply"):  # Python's own: not defined
            op()
    assert hash(f) == hash(CPWL.from_pieces([0], [-1, 1], [0, 0]))
    assert len({hash(f + k) for k in range(8)}) > 1
    assert re.fullmatch(r"CPWL\(breakpoints=\[0\], slopes=\[-1, 1\], values=\[0\], domain=.*\)", repr(f))


def test_reflected_subtraction_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    f = CPWL.from_pieces([0], [-1, 1], [0, 0])
    assert 1 - f == CPWL.from_pieces([0], [1, -1], [1, 1]) and (Fraction(1, 2) - f)(2) == Fraction(-3, 2)
    assert 1 - (f + 2) == CPWL.from_pieces([0], [1, -1], [-1, -1])
    import matplotlib.pyplot as plt

    _, given = plt.subplots()
    ax = f.plot(ax=given, label="|x|")
    xs, ys = given.lines[0].get_data()
    assert ax is given and given.lines[0].get_label() == "|x|" and np.allclose(ys, np.abs(xs))
    plt.close("all")


def test_repr_lists_breakpoints_slopes_and_values():
    f = CPWL.from_points([(0, 0), (1, 1), (2, 0), (3, 5)])
    assert repr(f) == "CPWL(breakpoints=[1, 2], slopes=[1, -1, 5], values=[1, 0], domain=[0, 3])"
    assert repr(CPWL.linear(2, 3)) == "CPWL(breakpoints=[], slopes=[2], values=[intercept 3], domain=(-inf, inf))"
