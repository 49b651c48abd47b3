"""Derivative bounds and monotonicity certificates: every exact slope along every axis line
lies inside the proven bounds (every layer type), the bounds are exact for linear networks,
and monotonicnetworks' models are certified as they promise — and only where they promise."""

from fractions import Fraction

import monotonicnetworks as lmn
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import cpwl
from cpwl import Affine, Conv2d, Network, Residual
from cpwl import activations as act
from cpwl.strategies import FAMILIES, matrices, networks, rationals
from nets.certify import monotone_along, monotonicity_certificate


def _assert_slopes_inside(net, bounds, point, i, length=8):
    """Along ``point + t length e_i`` every piece's slope (per unit of ``x_i``) is bounded."""
    end = list(point)
    end[i] += length
    F = net.restrict_to_line(point, end, canonical=False)
    for j, component in enumerate(F.components):
        for slope in component.slopes:
            assert bounds.lower[j][i] <= slope / length <= bounds.upper[j][i]


@given(st.sampled_from(FAMILIES), st.booleans(), st.data())
def test_every_exact_slope_lies_within_the_bounds(family, residual, data):
    net = data.draw(networks(family, input_dim=2, output_dim=2, lipschitz=False))
    if residual:
        net = Network([Residual(list(net.layers), skip=Affine([[1, 0], [0, -1]])), act.GroupSort(2)])
    bounds = net.derivative_bounds()
    for _ in range(3):
        point = [data.draw(rationals(-4, 4, max_denominator=8)) for _ in range(2)]
        _assert_slopes_inside(net, bounds, point, data.draw(st.integers(0, 1)))


@given(st.data())
def test_conv_network_slopes_lie_within_the_bounds(data):
    q = st.fractions(-1, 1, max_denominator=4)
    kernel = [[[[data.draw(q) for _ in range(2)] for _ in range(2)]] for _ in range(2)]
    mode = data.draw(st.sampled_from(["zeros", "reflect", "circular"]))
    conv = Conv2d(
        kernel,
        [data.draw(q), data.draw(q)],
        in_shape=(1, 3, 3),
        padding=1,
        padding_mode=mode,
        stride=data.draw(st.integers(1, 2)),
    )
    head = Affine(data.draw(matrices(1, conv.out_features, max_value=1)))
    net = Network([conv, act.relu(), head])
    bounds = net.derivative_bounds()
    point = [data.draw(rationals(-2, 2, max_denominator=4)) for _ in range(9)]
    _assert_slopes_inside(net, bounds, point, data.draw(st.integers(0, 8)))


@given(st.integers(1, 3), st.integers(1, 3), st.data())
def test_bounds_are_exact_for_linear_networks(m, n, data):
    W1, W2 = data.draw(matrices(3, n)), data.draw(matrices(m, 3))
    net = Network([Affine(W1), Affine(W2)])
    product = [[sum(W2[j][k] * W1[k][i] for k in range(3)) for i in range(n)] for j in range(m)]
    bounds = net.derivative_bounds()
    assert [list(r) for r in bounds.lower] == product == [list(r) for r in bounds.upper]


def test_inputs_are_checked():
    net = Network([Affine([[1, 2]])])
    with pytest.raises(cpwl.InvalidArgument):
        net.derivative_bounds([2])
    with pytest.raises(cpwl.InvalidArgument):
        net.derivative_bounds([0]).increasing(1)
    assert net.derivative_bounds([1]).lower == ((Fraction(2),),)


def _trained_monotonic(seed: int = 0):
    torch.manual_seed(seed)
    inner = torch.nn.Sequential(
        lmn.LipschitzLinear(3, 16, kind="one-inf"),
        lmn.GroupSort(2),
        lmn.LipschitzLinear(16, 16, kind="inf"),
        lmn.GroupSort(2),
        lmn.LipschitzLinear(16, 1, kind="inf"),
    )
    model = lmn.MonotonicWrapper(inner, monotonic_constraints=[1, 0, -1])
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    x = torch.randn(256, 3)
    y = (x[:, 0] - x[:, 2] + torch.sin(3 * x[:, 1])).unsqueeze(1)
    for _ in range(30):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
    return model, inner


def test_monotonic_networks_are_certified_as_promised():
    model, inner = _trained_monotonic()
    cert = monotonicity_certificate(model)
    assert cert.increasing(0) and cert.decreasing(2)
    assert not cert.increasing(1) and not cert.decreasing(1)  # unconstrained, and trained to wiggle
    assert monotonicity_certificate(inner).lipschitz_l1_to_inf <= 1  # the library's l1 -> l-inf promise
    slopes = monotone_along(model, [-3, 0.5, 1], [3, 0.5, 1])
    assert slopes.increasing and cert.lower[0][0] * 6 <= slopes.lower[0]  # the segment has length 6 in x_0


def test_a_broken_promise_is_not_certified():
    """Replace the inner network's last layer by a plain linear layer with 3 times its weights:
    the inner network is no longer 1-Lipschitz from l1 to l-infinity, the wrapper's residual
    no longer dominates, and monotonicity is not proven."""
    model, inner = _trained_monotonic()
    last = torch.nn.Linear(16, 1)
    with torch.no_grad():
        last.weight.copy_(inner[4].weight * 3)
        last.bias.copy_(inner[4].bias)
    inner[4] = last
    cert = monotonicity_certificate(model)
    assert not cert.increasing(0)
    assert monotonicity_certificate(inner).lipschitz_l1_to_inf > 1
