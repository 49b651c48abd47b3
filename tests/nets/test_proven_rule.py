"""The batched proven rule (``nets.certify._decide``) gives the exact rule's answer on every
sample: margins placed exactly on the threshold, one rounding either side of it, far from
it, near overflow and among subnormals, in every norm."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import cpwl
from nets.certify.robustness import _MARGIN_FACTOR, _proven_rule, margin_certifies, proven_margin

SCALES = st.sampled_from([1.0, 2.0**-30, 2.0**-1040, 2.0**300, 2.0**1000])


def _exact(y, err, labels, L, eps, norm):
    return [
        margin_certifies(proven_margin(s, e, l), L, eps, norm)
        for s, e, l in zip(y.tolist(), err.tolist(), labels.tolist())
    ]


@st.composite
def batches(draw):
    """Scores whose exact margin sits on, next to, or away from the threshold ``T``."""
    norm = draw(st.sampled_from([2, 1, "inf"]))
    scale = draw(SCALES)
    L = Fraction(draw(st.sampled_from([1, 3, 5]))) / draw(st.sampled_from([1, 2, 4]))
    eps = Fraction(draw(st.integers(0, 16)), 16) * Fraction(scale)
    try:
        T = math.sqrt(float(2 * L * L * eps * eps)) if norm == 2 else float(_MARGIN_FACTOR[norm] * L * eps)
    except OverflowError:
        T = math.inf  # then no margin is moved onto it
    n, classes = draw(st.integers(1, 12)), draw(st.integers(2, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = rng.standard_normal((n, classes)) * scale
    err = np.abs(rng.standard_normal((n, classes))) * scale * draw(st.sampled_from([0.0, 2.0**-52, 1e-3]))
    labels = rng.integers(0, classes, n)
    for i in range(n):  # move the label's score so the margin is T, T +- a few ulps, or random
        others = max(y[i, j] + err[i, j] for j in range(classes) if j != labels[i])
        shift = draw(st.sampled_from([0, 0, 1, -1, 2, -2, None]))
        if shift is not None and math.isfinite(others + T):
            target = others + T + err[i, labels[i]]
            for _ in range(abs(shift)):
                target = math.nextafter(target, math.inf if shift > 0 else -math.inf)
            y[i, labels[i]] = target
    return torch.tensor(y), torch.tensor(err), torch.tensor(labels), L, eps, norm


@st.composite
def rounding_batches(draw):
    """Scores near 1 whose error bounds are multiples of ``2**-62``, with exact margins
    ``T + k 2**-62``: computing the margin in float64 rounds by about ``2**-53``, far more than
    the threshold's bracket, so only a correct rounding bound decides these right."""
    norm = draw(st.sampled_from([1, "inf"]))
    L, eps = Fraction(1), Fraction(draw(st.integers(2**40, 2**41)), 2**60)  # T has bits below 1's ulp
    T = _MARGIN_FACTOR[norm] * L * eps
    n = draw(st.integers(1, 8))
    y, err = np.zeros((n, 2)), np.zeros((n, 2))
    for i in range(n):
        y[i, 1] = 1 + draw(st.integers(0, 2**20)) * 2.0**-52
        err[i, 1] = draw(st.integers(0, 2**20)) * 2.0**-62
        a = Fraction(y[i, 1]) + Fraction(err[i, 1]) + T + draw(st.integers(-8, 8)) * Fraction(1, 2**62)
        y[i, 0] = math.nextafter(float(a) + 2.0**-40, math.inf)
        err[i, 0] = float(Fraction(y[i, 0]) - a)
        assert Fraction(err[i, 0]) == Fraction(y[i, 0]) - a  # the construction is exact
    return torch.tensor(y), torch.tensor(err), torch.zeros(n, dtype=torch.long), L, eps, norm


@given(st.one_of(batches(), rounding_batches()))
def test_batched_rule_equals_the_exact_rule(batch):
    y, err, labels, L, eps, norm = batch
    assert _proven_rule(y, err, labels, L, eps, norm) == _exact(y, err, labels, L, eps, norm)


def test_exact_ties_are_decided_exactly_and_never_certified():
    """Dyadic scores whose exact margin equals ``2 L eps``: not certified; one ulp more: certified."""
    L, eps = Fraction(1), Fraction(1, 8)
    y = torch.tensor([[0.75, 0.5], [math.nextafter(0.75, 1), 0.5]], dtype=torch.float64)
    err = torch.zeros_like(y)
    labels = torch.tensor([0, 0])
    assert _proven_rule(y, err, labels, L, eps, "inf") == [False, True]


def test_non_finite_sums_fall_back_to_the_exact_rule():
    big = 1.7e308
    y = torch.tensor([[big, -big], [-big, big]], dtype=torch.float64)  # margins overflow in float
    err = torch.zeros_like(y)
    labels = torch.tensor([0, 0])
    assert _proven_rule(y, err, labels, Fraction(1), Fraction(1), 2) == [True, False]


def test_a_certifier_answers_as_the_function_does_and_refuses_changed_weights():
    import nets
    from nets.certify import Certifier, certified_robust_accuracy

    torch.manual_seed(0)
    model = nets.LipschitzMLP([3, 8, 4], activation="maxmin", layer="aol")
    x, labels = torch.randn(20, 3), torch.randint(0, 4, (20,))
    certifier = Certifier(model, (3,), norm="inf")
    for eps in ("1/100", "1/10"):
        assert certifier.report(x, labels, eps) == certified_robust_accuracy(model, x, labels, eps, norm="inf")
    with pytest.raises(cpwl.ShapeError, match="prepared for samples of shape"):
        certifier.report(torch.randn(2, 4), torch.zeros(2, dtype=torch.long), "1/10")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(x).sum().backward()
    optimizer.step()  # the weights the certifier speaks of are gone
    with pytest.raises(cpwl.InvalidArgument, match="changed since it was prepared"):
        certifier.report(x, labels, "1/10")
    assert Certifier(model, (3,), norm="inf").report(x, labels, "1/10") == certified_robust_accuracy(
        model, x, labels, "1/10", norm="inf"
    )
