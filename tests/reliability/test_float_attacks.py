"""1. No false certificate or wrong breakpoint under floating-point attack: near-degenerate
networks export exactly as the Fraction oracle says, and the certifier never certifies a
margin that exact arithmetic refutes."""

import math
from fractions import Fraction

import torch
from hypothesis import given
from hypothesis import strategies as st
from oracle import walk
from torch import nn

from cpwl import strategies
from nets.certify import certified_robust_accuracy
from nets.export import to_network


@given(strategies.near_degenerate_networks())
def test_near_degenerate_exports_match_the_oracle(pair):
    net, x0 = pair
    a, b = x0 - 1, x0 + 1
    (expected,) = walk(net, a, b)
    f = net.to_cpwl(domain=(a, b))
    assert f == expected.canonical()
    assert f(x0) == net(x0)[0]
    assert list(f.breakpoints) == sorted(f.breakpoints)


@given(st.integers(0, 10**6), st.integers(-1, 1), st.integers(18, 52))
def test_certificates_are_never_false_near_the_threshold(seed, side, k):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 3))
    x = torch.randn(1, 3)
    scores = to_network(model)([Fraction(v) for v in x[0].tolist()])
    label = max(range(3), key=lambda i: scores[i])
    margin = scores[label] - max(s for i, s in enumerate(scores) if i != label)
    eps = float(margin) / math.sqrt(2) * (1 + side * 2.0**-k)  # the threshold within 2^-k of the margin
    report = certified_robust_accuracy(model, x, torch.tensor([label]), eps, lipschitz=1)
    exact_truth = margin > 0 and margin * margin > 2 * Fraction(eps) ** 2
    assert not report.certified or exact_truth  # certified implies true, exactly
