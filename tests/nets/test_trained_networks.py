"""Trained networks obey the theorems too (issue: proofs).

Small 1-Lipschitz networks (orthogonal weights through torch.nn.utils.parametrizations, the
paper's zero-channel embedding) are trained with torch on the N-function over [-3, 3],
converted exactly (float32 weights are dyadic rationals), and checked: each satisfies its
class's invariant, so it provably differs from the target, while the constructed
N-activation network equals the target.

The conversion here is local to the test: ``nets.export`` (a later issue) will own it.  If a
trained layer's exact norm is 1 + O(1e-7) (float rounding), it is divided by a proven upper
bound of its norm, so the checked network satisfies the theorem's hypotheses exactly and
differs from the trained one by at most that factor.
"""

from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from cpwl import Affine, Network
from cpwl import activations as act
from proofs.invariants import unit_slopes_share_sign, window_test
from proofs.n_universality import construct

WIDTH, DOMAIN = 8, (-3, 3)


class _MaxMin(nn.Module):
    def forward(self, x):
        pairs = x.unflatten(-1, (-1, 2))
        return torch.stack([pairs.max(-1).values, pairs.min(-1).values], dim=-1).flatten(-2)


def _train(activation: nn.Module, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    layers = []
    for k in range(3):
        layers.append(nn.utils.parametrizations.orthogonal(nn.Linear(WIDTH, WIDTH)))
        if k < 2:
            layers.append(activation)
    model = nn.Sequential(*layers)
    x = torch.rand(512, 1) * 6 - 3
    target = x - 2 * x.clamp(-0.5, 0.5)  # the N-function
    inputs = torch.cat([x, torch.zeros(512, WIDTH - 1)], dim=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        loss = ((model(inputs)[:, :1] - target) ** 2).mean()
        loss.backward()
        opt.step()
    return model.eval()


def _exact(model: nn.Sequential, layer_for) -> tuple:
    """(network as trained, network rescaled to exact norms <= 1)."""
    embed = Affine([[1]] + [[0]] * (WIDTH - 1))
    raw, scaled = [embed], [embed]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for k, lin in enumerate(linears):
            W = lin.weight.detach().numpy().astype(np.float32)
            b = lin.bias.detach().numpy().astype(np.float32)
            if k == len(linears) - 1:
                W, b = W[:1], b[:1]
            exact = Affine(W, b)
            (norm,) = Network([exact]).layer_norm_report()
            factor = 1 if norm.ok else 1 / norm.value.hi
            raw.append(exact)
            scaled.append(Affine([[w * factor for w in row] for row in exact.weight], exact.bias))
            if k < len(linears) - 1:
                raw.append(layer_for())
                scaled.append(layer_for())
    return Network(raw), Network(scaled)


class _Abs(nn.Module):
    def forward(self, x):
        return x.abs()


CASES = {
    "maxmin": (_MaxMin, act.MaxMin, lambda f: window_test(f)),
    "abs": (lambda: _Abs(), lambda: act.Elementwise(act.abs_()), lambda f: window_test(f)),
    "relu": (nn.ReLU, lambda: act.Elementwise(act.relu()), unit_slopes_share_sign),
}


@pytest.mark.parametrize("family", sorted(CASES))
def test_trained_networks_satisfy_their_invariant(family):
    torch_layer, exact_layer, invariant = CASES[family]
    model = _train(torch_layer(), seed=0)
    raw, checked = _exact(model, exact_layer)
    # differential: the exact forward pass of the stored weights matches torch's float32 pass
    for x in np.linspace(-3, 3, 13, dtype=np.float32):
        inputs = torch.zeros(1, WIDTH)
        inputs[0, 0] = float(x)
        with torch.no_grad():
            got = float(model(inputs)[0, 0])
        assert abs(float(raw(Fraction(float(x)))[0]) - got) <= 1e-4
    assert all(c.ok for c in checked.layer_norm_report())
    f = checked.to_cpwl(domain=DOMAIN)
    target = act.n_function().restrict(*DOMAIN)
    assert invariant(f)
    assert not invariant(target)
    assert f != target


def test_constructed_n_network_meets_the_target():
    target = act.n_function().restrict(*DOMAIN)
    net = construct(target)
    assert all(c.ok for c in net.layer_norm_report())
    assert net.to_cpwl(domain=DOMAIN) == target
