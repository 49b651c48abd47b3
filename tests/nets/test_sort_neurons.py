"""SortNeurons (l-infinity-distance and SortNet sort neurons): exact export against the
module's own forward at random points and at every exact breakpoint of lines, the exact
l-infinity bound 1, and the arguments it refuses."""

from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cpwl
from nets import SortNeurons
from nets.certify import lipschitz_certificate
from nets.export import restrict_to_line, to_network

QS = st.sampled_from([1, "1/2", "1/3", "3/4", 0.1])


@settings(deadline=None)
@given(QS, st.integers(1, 4), st.integers(0, 2), st.integers(0, 10**6))
def test_export_matches_forward_at_points_and_breakpoints(q, width, cut, seed):
    torch.manual_seed(seed)
    first = SortNeurons(3, width, q=q, truncate=max(1, 3 - cut))
    model = nn.Sequential(first, SortNeurons(width, 2, q=q)).double()
    with torch.no_grad():
        if seed % 3 == 0:  # ties: neurons with equal weights and inputs at equal distances
            first.weight[:, 1] = first.weight[:, 0]
    net = to_network(model)
    x = torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():
        want = model(x)
    for xi, yi in zip(x, want):
        got = net([Fraction(v) for v in xi.tolist()])
        assert all(abs(float(g) - w) <= 1e-12 * (1 + abs(w)) for g, w in zip(got, yi.tolist()))
    start, end = x[0], x[1]
    F = restrict_to_line(model, start.tolist(), end.tolist())
    for t in F.breakpoints:
        with torch.no_grad():
            y = model((start + float(t) * (end - start))[None])[0].tolist()
        assert all(abs(float(g) - w) <= 1e-9 * (1 + abs(w)) for g, w in zip(F(t), y))


@given(QS, st.integers(1, 5), st.integers(1, 5))
def test_linf_bound_is_exactly_one(q, n, m):
    model = SortNeurons(n, m, q=q)
    assert sum(model.exact_coefficients()) == 1
    assert lipschitz_certificate(model, norm="inf").bound == 1


def test_linf_distance_neuron_is_the_linf_distance():
    layer = SortNeurons(3, 1, q=1).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0, -1.0]]))
        layer.bias.fill_(0.5)
    x = torch.tensor([[0.0, 5.0, 0.0]], dtype=torch.float64)
    assert layer(x).item() == 3.5
    assert to_network(layer)([0, 5, 0]) == (Fraction(7, 2),)


def test_gradients_reach_weights_and_bias():
    layer = SortNeurons(4, 3, q="1/2")
    layer(torch.randn(5, 4)).sum().backward()
    assert layer.weight.grad.abs().sum() > 0 and layer.bias.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs", [dict(q=0), dict(q="3/2"), dict(q=-1), dict(truncate=0), dict(truncate=5), dict(truncate=1.5)]
)
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(cpwl.InvalidArgument):
        SortNeurons(4, 2, **kwargs)


def test_wrong_input_width_is_refused():
    with pytest.raises(cpwl.ShapeError):
        SortNeurons(4, 2)(torch.zeros(1, 3))
    with pytest.raises(cpwl.ShapeError):
        to_network(SortNeurons(4, 2), input_shape=(2, 2))
