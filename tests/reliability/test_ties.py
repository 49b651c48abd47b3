"""2. Exact ties have defined, documented, tested outcomes."""

from fractions import Fraction

import pytest
import torch
from oracle import walk

import cpwl
import nets
from cpwl import CPWL, Affine, Network
from cpwl import activations as act
from nets.certify import certified_robust_accuracy
from nets.export import to_cpwl


def test_several_neurons_crossing_at_one_point_give_one_breakpoint():
    # three identical neurons and one shifted by zero: all switch at x = 1/3
    net = Network([Affine([[3], [3], [6], [-3]], [-1, -1, -2, 1]), act.relu(), Affine([[1, 1, 1, 1]])])
    f = net.to_cpwl(canonical=False)
    assert f.breakpoints == (Fraction(1, 3),)
    (expected,) = walk(net, -1, 1)
    assert net.to_cpwl(domain=(-1, 1)) == expected.canonical()


def test_neuron_exactly_zero_at_another_neurons_breakpoint():
    # layer-2 neuron is zero exactly where a layer-1 neuron switches (x = 0)
    net = Network([Affine([[1], [-1]]), act.relu(), Affine([[1, -1]], [0]), act.abs_(), Affine([[1]])])
    (expected,) = walk(net, -2, 2)
    assert net.to_cpwl(domain=(-2, 2)) == expected.canonical() == act.abs_().restrict(-2, 2)


def test_equal_thetas_make_the_n_activation_a_shift():
    assert act.n_activation(2, 2) == CPWL.linear(1, -4)
    module = nets.NActivation(1, theta_init=torch.tensor([[0.5, 0.5]])).double()
    y = torch.tensor([[-1.0], [0.5], [3.0]], dtype=torch.float64)
    assert module(y)[:, 0].tolist() == [-2.0, -0.5, 2.0]
    assert module.exact_layer().functions[0] == CPWL.linear(1, -1)


@pytest.mark.parametrize(
    "call",
    [
        lambda: CPWL.from_points([(0, 0), (0, 1)]),
        lambda: CPWL.from_pieces([1, 1], [0, 0, 0], [0, 0, 0]),
        lambda: act.linear_spline([0, 0], [0, 1], 0, 0),
    ],
)
def test_repeated_breakpoints_are_refused(call):
    with pytest.raises(cpwl.BreakpointError, match="strictly increasing"):
        call()


def test_zero_length_domains_are_refused_everywhere():
    with pytest.raises(cpwl.DomainError):
        cpwl.Interval(1, 1)
    with pytest.raises(cpwl.DomainError):
        CPWL.identity().restrict(2, 2)
    with pytest.raises(cpwl.DomainError):
        to_cpwl(nets.LipschitzMLP([1, 2, 1]), domain=(0, 0))


def test_margins_exactly_at_the_threshold_are_not_certified():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.zero_()
    tie = certified_robust_accuracy(
        model, torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([0]), 0.0, lipschitz=1
    )
    assert tie.certified == 0.0  # margin 0 = threshold 0: strict inequality refuses
    clear = certified_robust_accuracy(
        model, torch.tensor([[1.0, 0.0]], dtype=torch.float64), torch.tensor([0]), 0.0, lipschitz=1
    )
    assert clear.certified == 1.0
