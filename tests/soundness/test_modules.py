"""The soundness suite: every module family the translation table accepts
(:mod:`catalogue`), hypothesis-drawn, checked against independent truths —

* its proven Lipschitz bound against the true operator norm of its dense matrix, computed
  at 40 digits (linear families), and against the exact slopes of its restriction to random
  lines (every family);
* its exact line restriction against the independent ``Fraction`` walk of ``oracle.py`` and
  against the module's own float64 forward pass at every breakpoint;
* certificates of small classifiers built from it against the exact margin (a certified
  sample's margin must exceed the threshold exactly) and against points found by a gradient
  attack inside the certified ball.
"""

import math
from copy import deepcopy as copy_module
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import torch
from catalogue import FAMILIES, LINEAR
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import walk
from torch import nn

from cpwl import Affine, Conv2d
from nets.certify import bounded_forward, certified_robust_accuracy, lipschitz_certificate
from nets.export import restrict_to_line
from nets.semantics import translate

#: Drawn instances per family: a quarter of the profile's examples (15 in ci, 500 in deep).
_EXAMPLES = max(10, settings.default.max_examples // 4)


def _draw_module(data, family):
    module, shape = FAMILIES[family](data.draw)
    return module.eval(), shape


def _forward(module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return module(x.to(torch.float64)).flatten(1)


def _dense(module, shape) -> np.ndarray:
    """The matrix of a linear module from its own forward pass on basis vectors, with its
    biases set to zero (a copy): each output is then a single product, or a short sum, of
    the weights, so the matrix is the deployed one (exactly, for all but repeated taps)."""
    n = int(np.prod(shape))
    copy = copy_module(module)
    with torch.no_grad():
        for name, p in copy.named_parameters():
            if name.split(".")[-1] == "bias":
                p.zero_()
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
    return _forward(copy, basis).T.numpy()


def _true_norm(M: np.ndarray) -> mpmath.mpf:
    with mpmath.workdps(40):
        return max(mpmath.svd_r(mpmath.matrix(M.tolist()), compute_uv=False)) if M.size else mpmath.mpf(0)


def _line(data, shape):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    start = rng.standard_normal(shape) * 2
    end = rng.standard_normal(shape) * 2
    if data.draw(st.booleans()):  # pass through ties: pair up equal coordinates of the start
        flat = start.reshape(-1)
        flat[1::2] = flat[0::2][: len(flat[1::2])]
    return start, end


@pytest.mark.parametrize("family", LINEAR)
@settings(max_examples=_EXAMPLES)
@given(data=st.data())
def test_linear_bound_is_at_least_the_true_norm(family, data):
    module, shape = _draw_module(data, family)
    M = _dense(module, shape)
    sigma = _true_norm(M)
    (step,) = translate(nn.Sequential(module), shape, bounds=True).steps
    bound = step.bound.value
    with mpmath.workdps(40):
        assert mpmath.mpf(bound.numerator) / bound.denominator >= sigma * (1 - mpmath.mpf(2) ** -100), (
            f"{family}: proven {float(bound)} < true {sigma}"
        )
    assert bound <= _loose_upper(step.layers, M), f"{family}: the bound {float(bound)} is needlessly loose"


def _loose_upper(layers, M: np.ndarray) -> Fraction:
    """An easy upper bound that a sound bound of these layers must not exceed by much: for a
    convolution, ``sqrt(copies) * sum |K|`` (Schur's row sums of the self-correlation are at
    most ``(sum |K|)**2``, whatever the input size); else ``sqrt(||M||_1 ||M||_inf)``."""
    (layer,) = layers or (None,)
    if isinstance(layer, Conv2d):
        factor = layer.torus_repeats() if layer.padding_mode == "circular" else layer.padding_copies()
        value = float(np.abs(layer.float_form.weight).sum()) * factor**0.5
    else:
        value = float(np.abs(M).sum(axis=0).max(initial=0) * np.abs(M).sum(axis=1).max(initial=0)) ** 0.5
    return max(Fraction(1), Fraction(value) * (1 + Fraction(1, 2**28)))


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=_EXAMPLES)
@given(data=st.data())
def test_exact_line_matches_the_oracle_and_the_forward_pass(family, data):
    module, shape = _draw_module(data, family)
    start, end = _line(data, shape)
    F = restrict_to_line(module, torch.tensor(start), torch.tensor(end))
    line = Affine(
        [[Fraction(b) - Fraction(a)] for a, b in zip(start.ravel().tolist(), end.ravel().tolist())],
        [Fraction(a) for a in start.ravel().tolist()],
    )
    truth = walk(type("Net", (), {"layers": (line, *translate(module, shape).layers)}), 0, 1)
    assert [f.canonical() for f in F.components] == [g.canonical() for g in truth]
    points = [
        Fraction(0),
        Fraction(1),
        *F.breakpoints,
        *((a + b) / 2 for a, b in zip((0, *F.breakpoints), (*F.breakpoints, 1))),
    ]
    x = torch.tensor(np.stack([start + float(t) * (end - start) for t in points]))
    got = _forward(module, x)
    scale = 1 + float(np.abs(start).max() + np.abs(end).max()) * max(
        1.0, float(np.abs(_dense_or_zero(module, shape)).max())
    )
    for t, row in zip(points, got.tolist()):
        assert max(abs(float(v) - g) for v, g in zip(F(t), row)) <= 1e-9 * scale, f"{family} at t={t}"


def _dense_or_zero(module, shape):
    try:
        return _dense(module, shape)
    except Exception:
        return np.zeros(1)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=_EXAMPLES)
@given(data=st.data())
def test_bound_dominates_the_exact_slopes_along_lines(family, data):
    module, shape = _draw_module(data, family)
    (bound,) = [s.bound.value for s in translate(nn.Sequential(module), shape, bounds=True).steps] or [Fraction(1)]
    start, end = _line(data, shape)
    F = restrict_to_line(module, torch.tensor(start), torch.tensor(end))
    length = sum((Fraction(b) - Fraction(a)) ** 2 for a, b in zip(start.ravel().tolist(), end.ravel().tolist()))
    steepest = max(sum(s * s for s in slopes) for slopes in zip(*(f.slopes for f in F.components)))
    assert steepest <= bound * bound * length, f"{family}: a piece is steeper than the proven bound {float(bound)}"


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=_EXAMPLES)
@given(data=st.data())
def test_sum_norm_bounds_dominate_the_exact_slopes_along_lines(family, data):
    """l1 and l-infinity: every piece's slope vector is at most ``L_p`` times the segment's
    direction, both in the norm ``p``; and the derivative bounds contain every slope."""
    module, shape = _draw_module(data, family)
    start, end = _line(data, shape)
    F = restrict_to_line(module, torch.tensor(start), torch.tensor(end))
    direction = [Fraction(b) - Fraction(a) for a, b in zip(start.ravel().tolist(), end.ravel().tolist())]
    for norm, size in ((1, lambda v: sum(abs(x) for x in v)), ("inf", lambda v: max(abs(x) for x in v))):
        (bound,) = [s.bound.value for s in translate(nn.Sequential(module), shape, bounds=True, norm=norm).steps] or [
            Fraction(1)
        ]
        steepest = max(size(slopes) for slopes in zip(*(f.slopes for f in F.components)))
        assert steepest <= bound * size(direction), (
            f"{family}: a piece is steeper in l{norm} than the proven bound {float(bound)}"
        )
    partials = translate(module, shape).network().derivative_bounds(in_features=math.prod(shape))
    for j, f in enumerate(F.components):
        low = sum(min(lo * d, hi * d) for lo, hi, d in zip(partials.lower[j], partials.upper[j], direction))
        high = sum(max(lo * d, hi * d) for lo, hi, d in zip(partials.lower[j], partials.upper[j], direction))
        assert all(low <= slope <= high for slope in f.slopes), (
            f"{family}: output {j} has a slope outside its derivative bounds"
        )


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=_EXAMPLES)
@given(data=st.data())
def test_rigorous_forward_encloses_the_exact_outputs(family, data):
    module, shape = _draw_module(data, family)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = torch.tensor(rng.standard_normal((3, *shape)) * data.draw(st.sampled_from([1e-3, 1.0, 1e3])))
    y, err = bounded_forward(module, x)
    exact = translate(module, shape).network()
    for row, ys, es in zip(x, y.flatten(1).tolist(), err.flatten(1).tolist()):
        for value, approx, bound in zip(exact([Fraction(v) for v in row.flatten().tolist()]), ys, es):
            assert abs(value - Fraction(approx)) <= Fraction(bound), f"{family}: the enclosure misses the exact value"
            assert bound <= 1e-9 * (1 + abs(approx)), f"{family}: the enclosure is uselessly wide"


def _classifier(data, family):
    """A small classifier around the family: a dense or conv stem to its input shape, the
    module, and a dense head to 3 classes (all of norm about 1)."""
    module, shape = _draw_module(data, family)
    out = translate(module, shape).out_shape
    n_in, n_out = int(np.prod(shape)), int(np.prod(out))
    stem = nn.Linear(2, n_in).double()
    head = nn.Linear(n_out, 3).double()
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    for layer in (stem, head):
        W = rng.standard_normal(tuple(layer.weight.shape))
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(W / np.linalg.norm(W, 2)))
            layer.bias.copy_(torch.tensor(rng.standard_normal(layer.bias.shape) * 0.1))
    return (
        nn.Sequential(stem, nn.Unflatten(1, shape), module, nn.Flatten(), head).eval()
        if len(shape) > 1
        else nn.Sequential(stem, module, head).eval()
    )


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=_EXAMPLES)
@given(data=st.data())
def test_certificates_hold_exactly_and_against_attacks(family, data):
    _check_certificates(_classifier(data, family), data)


def _check_certificates(model, data):
    exact = translate(model, (2,)).network()
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = torch.tensor(rng.standard_normal((6, 2)))
    values = [exact([Fraction(v) for v in row.tolist()]) for row in x]
    labels = torch.tensor([max(range(3), key=lambda i, v=v: v[i]) for v in values])
    L = lipschitz_certificate(model, (2,)).bound
    margins = [v[label] - max(s for i, s in enumerate(v) if i != label) for v, label in zip(values, labels.tolist())]
    eps = float(max(margins) / Fraction(141421, 100000) / L) * data.draw(
        st.sampled_from([0.5, 0.9, 0.999, 1.0, 1.001])
    )  # around the threshold
    report = certified_robust_accuracy(model, x, labels, eps, lipschitz=L)
    eps_q = Fraction(eps)
    for i, certified in enumerate(report.certified_mask):
        if not certified:
            continue
        assert (
            margins[i] > 0 and margins[i] ** 2 > 2 * L * L * eps_q * eps_q
        )  # the exact inequality behind the certificate
        attacked = _attack(model, x[i], labels[i].item(), eps)
        scores = exact([Fraction(v) for v in attacked.tolist()])
        assert max(range(3), key=lambda j: scores[j]) == labels[i].item() and scores.count(max(scores)) == 1


def _attack(model, x0: torch.Tensor, label: int, eps: float, steps: int = 10) -> torch.Tensor:
    """Projected gradient ascent on the best other score minus the label's, in the l2 ball."""
    x = x0.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        out = model(x[None])[0]
        others = torch.cat([out[:label], out[label + 1 :]])
        (others.max() - out[label]).backward()
        with torch.no_grad():
            g = x.grad / (x.grad.norm() + 1e-30)
            delta = x + eps * 0.4 * g - x0
            x = x0 + delta * min(1.0, eps / (float(delta.norm()) + 1e-30))
    return x.detach()


@pytest.mark.parametrize("activation", ["maxmin", "n", "groupsort", "householder", "absid", "spline", "relu", "abs"])
@settings(max_examples=_EXAMPLES)
@given(data=st.data())
def test_conv_net_certificates_hold(activation, data):
    import nets

    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    conv = nets.SimplifiedConvNet(1, 3, base_width=4, blocks=1, layers_per_block=1, activation=activation).double()
    with torch.no_grad():
        for m in conv.modules():
            if isinstance(m, nets.AOLConv2d):
                m.P.add_(0.5 * torch.randn_like(m.P))
    x = torch.rand(4, 1, 2, 2, dtype=torch.float64)
    exact = translate(conv, (1, 2, 2)).network()
    values = [exact([Fraction(v) for v in row.flatten().tolist()]) for row in x]
    labels = torch.tensor([max(range(3), key=lambda i, v=v: v[i]) for v in values])
    L = lipschitz_certificate(conv).bound
    margins = [v[label] - max(s for i, s in enumerate(v) if i != label) for v, label in zip(values, labels.tolist())]
    eps = float(max(margins) / Fraction(141421, 100000) / L) * data.draw(st.sampled_from([0.5, 0.999, 1.0, 1.001]))
    report = certified_robust_accuracy(conv, x, labels, eps, lipschitz=L)
    for i, certified in enumerate(report.certified_mask):
        if certified:
            assert margins[i] > 0 and margins[i] ** 2 > 2 * L * L * Fraction(eps) ** 2
            attacked = _attack(conv, x[i], labels[i].item(), eps)
            scores = exact([Fraction(v) for v in attacked.flatten().tolist()])
            assert max(range(3), key=lambda j: scores[j]) == labels[i].item() and scores.count(max(scores)) == 1
