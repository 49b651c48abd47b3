"""4. Exports that would explode stop at a configurable limit; huge rationals stay usable."""

from fractions import Fraction

import pytest
import torch

import cpwl
import nets
from cpwl import CPWL, breakpoint_limit
from nets.export import restrict_to_line


def test_breakpoint_limit_stops_exports_with_a_clear_error():
    torch.manual_seed(0)
    model = nets.LipschitzMLP([1, 32, 32, 1], activation="relu", layer="plain")
    with breakpoint_limit(5):
        with pytest.raises(cpwl.BreakpointLimitError, match="max_breakpoints=5"):
            restrict_to_line(model, torch.tensor([-10.0]), torch.tensor([10.0]))
    with breakpoint_limit(None):
        assert len(restrict_to_line(model, torch.tensor([-10.0]), torch.tensor([10.0])).breakpoints) > 5
    assert issubclass(cpwl.BreakpointLimitError, cpwl.CPWLError)
    with pytest.raises(ValueError):
        with breakpoint_limit(-1):
            pass


def test_huge_rationals_compare_and_evaluate():
    big = Fraction(10**4000 + 1, 10**4000)
    f = CPWL.from_points([(0, 0), (big, 1), (2 * big, 0)])
    assert f(big) == 1 and f.breakpoints == (big,)
    assert cpwl.maximum(f, 1 - f).breakpoints  # lattice operations still terminate exactly
