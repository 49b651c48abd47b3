"""``CPWLMap.first_nonpositive``, ``CPWLMap.max_slope_norm_squared`` and
``CPWLMap.slope_bounds`` against a Fraction oracle that walks every component's pieces.

The maps interpolate small integer values on a shared grid, so the cases where an integer
scan could go wrong are common: a component that is exactly 0 at a breakpoint, one that
touches 0 and comes back up, several components reaching 0 at one point, 0 at the domain's
start, a piece with slope 0 at level 0, and a last piece that falls towards +infinity."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpwl import CPWL, CPWLMap
from cpwl.errors import InvalidArgument

_GRID = [Fraction(k, 2) for k in range(9)]  # 0, 1/2, ..., 4


@st.composite
def maps(draw, open_right=st.booleans()):
    """Components positive at the start (mostly), several of them 0 at one shared grid point
    (often), ending with a slope towards +infinity (half the time); a quarter of the maps are
    positive on the whole grid, so that only the open end can reach 0."""
    xs = sorted(draw(st.sets(st.sampled_from(_GRID), min_size=2, max_size=6)))
    shared_zero = draw(st.integers(1, len(xs) - 1))
    right = draw(open_right)
    positive = draw(st.sampled_from([False, False, False, True]))
    values = [1, 2, 3] if positive else [-2, -1, 0, 1, 2, 3, 4]
    components = []
    for _ in range(draw(st.integers(1, 4))):
        ys = [draw(st.sampled_from([1, 2, 3, 1, 2, 3, 1, 2, 3, 0] if not positive else values))]
        ys += draw(st.lists(st.sampled_from(values), min_size=len(xs) - 1, max_size=len(xs) - 1))
        if not positive and draw(st.booleans()):
            ys[shared_zero] = 0
        slope = draw(st.sampled_from([-1, 0, Fraction(1, 3)])) if right else None
        components.append(CPWL.from_points(list(zip(xs, ys)), right_slope=slope))
    return CPWLMap.from_components(components)


def _oracle_first(F):
    """The first ``x`` where some component is ``<= 0``, piece by piece in Fractions."""
    found = []
    for f in F.components:
        for lo, hi, s, c in f.pieces():
            if s * lo + c <= 0:
                found.append(lo)
                break
            if hi is None:
                if s < 0:
                    found.append(-c / s)
                break
            if s * hi + c <= 0:
                found.append(-c / s)
                break
    return min(found, default=None)


@given(maps())
def test_first_nonpositive_is_the_oracle_s(F):
    assert F.first_nonpositive() == _oracle_first(F)


@given(maps())
def test_max_slope_norm_squared_is_the_oracle_s(F):
    per_piece = zip(*(f.slopes for f in F.components))
    assert F.max_slope_norm_squared() == max(sum(s * s for s in slopes) for slopes in per_piece)


@given(maps())
def test_slope_bounds_are_the_oracle_s(F):
    lower, upper = F.slope_bounds()
    assert lower == tuple(min(f.slopes) for f in F.components)
    assert upper == tuple(max(f.slopes) for f in F.components)


def test_the_generator_reaches_the_boundary_cases():
    """The cases named in the module docstring all occur among a few hundred draws (each
    kind is 4-30% of them)."""
    seen = set()

    @settings(max_examples=400, database=None)
    @given(maps())
    def collect(F):
        first = F.first_nonpositive()
        if first is None:
            seen.add("never")
        elif first == F.domain.lo:
            seen.add("at the start")
        elif first in F.breakpoints:
            seen.add("at a breakpoint")
            if sum(f(first) == 0 for f in F.components) > 1:
                seen.add("two at once")
        elif F.domain.hi is not None and first == F.domain.hi:
            seen.add("at the end")
        elif F.domain.hi is None and first > max(F.breakpoints, default=F.domain.lo):
            seen.add("out on the open end")
        else:
            seen.add("inside a piece")

    collect()
    assert seen == {
        "never",
        "at the start",
        "at a breakpoint",
        "two at once",
        "inside a piece",
        "at the end",
        "out on the open end",
    }


def test_first_nonpositive_refuses_a_domain_open_below():
    F = CPWLMap.from_components([CPWL.from_points([(0, 1), (1, 2)], left_slope=1)])
    with pytest.raises(InvalidArgument, match="bounded below"):
        F.first_nonpositive()


def test_max_slope_norm_squared_of_a_map_with_large_integers():
    """Slopes far past float range: the sums are exact integers."""
    big = Fraction(3**200, 2**300)
    F = CPWLMap.from_components([CPWL.from_points([(0, 0), (1, big), (2, 0)]), CPWL.from_points([(0, 0), (2, 1)])])
    assert F.max_slope_norm_squared() == big * big + Fraction(1, 4)
