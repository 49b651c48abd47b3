"""l1 and l-infinity: every layer's bound against its true operator norm (an exact matrix read
off the layer by unit vectors, or sampled exact difference quotients for nonlinear layers),
and the certified-accuracy rule at its exact ties."""

from fractions import Fraction

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from test_conv_layer import configurations
from torch import nn

import cpwl
from cpwl import Affine, Conv2d, Gather, Network, Residual
from cpwl import activations as act
from cpwl.strategies import FAMILIES, matrices, networks, rationals
from nets.certify import certified_robust_accuracy, lipschitz_certificate

NORMS = (1, "inf")


def _matrix(layer, n: int) -> list:
    """The exact matrix of a linear (or affine) layer: columns ``layer(e_i) - layer(0)``."""
    zero = layer([0] * n)
    cols = [[a - z for a, z in zip(layer([int(i == j) for j in range(n)]), zero)] for i in range(n)]
    return [list(row) for row in zip(*cols)]


def _norm(M: list, norm) -> Fraction:
    if norm == "inf":
        return max(sum(abs(v) for v in row) for row in M)
    return max(sum(abs(row[j]) for row in M) for j in range(len(M[0])))


@given(st.integers(1, 4), st.integers(1, 4), st.data(), st.sampled_from(NORMS))
def test_dense_bound_is_the_exact_operator_norm(m, n, data, norm):
    W = data.draw(matrices(m, n, max_value=3))
    assert Affine(W, [1] * m).lipschitz_bound(norm).value == _norm(W, norm)


@given(
    st.integers(1, 5), st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=1, max_size=8), st.sampled_from(NORMS)
)
def test_gather_bound_is_the_exact_operator_norm(n, index, norm):
    index = [None if i is None else i % n for i in index]
    layer = Gather(index, in_features=n)
    assert layer.lipschitz_bound(norm).value == _norm(_matrix(layer, n), norm)


@given(configurations(), st.data(), st.sampled_from(NORMS))
def test_conv_bound_covers_the_true_operator_norm(cfg, data, norm):
    q = st.fractions(-2, 2, max_denominator=4)
    kernel = [
        [[[data.draw(q) for _ in range(cfg["kw"])] for _ in range(cfg["kh"])] for _ in range(cfg["c"] // cfg["groups"])]
        for _ in range(cfg["out_c"])
    ]
    layer = Conv2d(
        kernel,
        in_shape=(cfg["c"], cfg["h"], cfg["w"]),
        stride=cfg["stride"],
        padding=cfg["padding"],
        dilation=cfg["dilation"],
        groups=cfg["groups"],
        padding_mode=cfg["mode"],
    )
    assert layer.lipschitz_bound(norm).value >= _norm(_matrix(layer, layer.in_features), norm)


@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.data())
def test_conv_bounds_are_exact_where_every_tap_is_used(c, out_c, k, extra, data):
    """Valid convolutions: every output reads the whole kernel (l-infinity is exact); full
    zero padding with stride 1: every input pixel meets every tap (l1 is exact)."""
    q = st.fractions(-2, 2, max_denominator=4)
    kernel = [[[[data.draw(q) for _ in range(k)] for _ in range(k)] for _ in range(c)] for _ in range(out_c)]
    size = k + extra - 1
    valid = Conv2d(kernel, in_shape=(c, size, size))
    assert valid.lipschitz_bound("inf").value == _norm(_matrix(valid, valid.in_features), "inf")
    full = Conv2d(kernel, in_shape=(c, size, size), padding=k - 1)
    assert full.lipschitz_bound(1).value == _norm(_matrix(full, full.in_features), 1)


@given(
    st.lists(rationals(-2, 2, max_denominator=8), min_size=2, max_size=3).filter(any),
    st.booleans(),
    st.sampled_from(NORMS),
)
def test_householder_bound_is_the_larger_norm_of_its_two_pieces(v, normalized, norm):
    layer = act.Householder(v, normalized=normalized)
    g = len(v)
    vs, ns = layer.normals(g)
    V, n = [Fraction(x) for x in vs[0]], Fraction(ns[0])
    H = [[int(i == j) - 2 * V[i] * V[j] / n for j in range(g)] for i in range(g)]
    assert layer.lipschitz_bound(norm).value == max(Fraction(1), _norm(H, norm))


def _quotient(net, x, y, norm) -> Fraction:
    fx, fy = net(x), net(y)
    size = (lambda v: max(abs(a) for a in v)) if norm == "inf" else (lambda v: sum(abs(a) for a in v))
    return size([a - b for a, b in zip(fx, fy)]) / size([a - b for a, b in zip(x, y)])


@given(st.sampled_from(FAMILIES), st.data(), st.sampled_from(NORMS))
def test_network_bound_covers_exact_difference_quotients(family, data, norm):
    net = data.draw(networks(family, input_dim=2, output_dim=2, lipschitz=False))
    if data.draw(st.booleans()):  # a residual block around the whole network
        net = Network([Residual(list(net.layers), skip=Affine([[1, 0], [0, -1]]))])
    bound = net.lipschitz_bound(norm).value
    point = st.lists(rationals(-3, 3, max_denominator=8), min_size=2, max_size=2)
    for _ in range(5):
        x, y = data.draw(point), data.draw(point)
        if x != y:
            assert _quotient(net, x, y, norm) <= bound


def test_norm_names_are_checked():
    assert cpwl.layer.norm_name(float("inf")) == "inf" and cpwl.layer.norm_name("L1") == 1
    for bad in (3, "fro", True, 0.5, None):
        with pytest.raises(cpwl.InvalidArgument):
            Affine([[1]]).lipschitz_bound(bad)


def _two_class_model() -> nn.Module:
    """``f(x) = (x1 + x2, -(x1 + x2))``: l-infinity bound 2 (rows), l1 bound 2 (columns)."""
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 1.0], [-1.0, -1.0]]))
    return model


@pytest.mark.parametrize("norm, factor", [("inf", 2), (1, 1)])
def test_robustness_rule_is_strict_at_the_exact_tie(norm, factor):
    """Margin ``2 (x1 + x2)``, bound ``L = 2``: the rule ``margin > c L eps`` certifies just
    above the tie and not at it, where a perturbation of norm ``eps`` really does flip it
    (a rule with the wrong factor ``c`` fails one of the two)."""
    model, eps = _two_class_model(), Fraction(1, 8)
    assert lipschitz_certificate(model, norm=norm).bound == 2
    tie = factor * 2 * eps / 2  # x1 + x2 at which the margin equals c L eps
    inputs = torch.tensor([[float(tie), 0.0], [float(tie) + 2.0**-20, 0.0]], dtype=torch.float64)
    report = certified_robust_accuracy(model.double(), inputs, torch.zeros(2, dtype=torch.long), eps, norm=norm)
    assert report.certified_mask == (False, True) and report.norm == norm
    # at the tie, the worst perturbation of norm eps reaches the decision boundary exactly
    worst = (-eps, -eps) if norm == "inf" else (-eps, Fraction(0))
    assert 2 * (tie + worst[0] + worst[1]) <= 0


def test_linf_certified_samples_survive_every_corner_of_their_box():
    """Sort neurons (1-Lipschitz in l-infinity): every certified sample keeps its label at
    all corners of its l-infinity ball, in exact arithmetic."""
    import itertools

    from nets import SortNeurons
    from nets.export import to_network

    torch.manual_seed(3)
    model = nn.Sequential(SortNeurons(3, 6, q="1/2"), SortNeurons(6, 3, q=1)).double()
    net = to_network(model)
    x = torch.randn(40, 3, dtype=torch.float64)
    labels = model(x).argmax(1).detach()
    eps = Fraction(1, 16)
    report = certified_robust_accuracy(model, x, labels, eps, norm="inf")
    assert report.lipschitz == 1 and sum(report.certified_mask) > 0
    for point, label, ok in zip(x.tolist(), labels.tolist(), report.certified_mask):
        if ok:
            for signs in itertools.product((-1, 1), repeat=3):
                y = net([Fraction(v) + s * eps for v, s in zip(point, signs)])
                assert max(range(3), key=lambda j: y[j]) == label and sorted(y)[-1] > sorted(y)[-2]


def test_linf_bound_of_conv_and_pool_models():
    """A torch conv net by hand: l-infinity = largest |K| sum of an output channel (5/2) times
    the pool's row sum (1); l1 = the input channel's |K| sum over both outputs (11/4) times
    the pool's column sum (1/4)."""
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(
            torch.tensor([[[[1, -1, 0], [0, 0.5, 0], [0, 0, 0]]], [[[0.25, 0, 0], [0, 0, 0], [0, 0, 0]]]])
        )
    model = nn.Sequential(conv, nn.ReLU(), nn.AvgPool2d(2), nn.Flatten())
    cert = lipschitz_certificate(model, (1, 4, 4), norm="inf")
    assert cert.bound == Fraction(5, 2) and cert.norm == "inf"
    assert lipschitz_certificate(model, (1, 4, 4), norm=1).bound == Fraction(11, 16)
