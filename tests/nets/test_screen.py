"""The float32 screen of the proven rule (``nets.certify.screen``): its per-sample bound holds
against the exact outputs (``Fraction``s) for every layer type, at every scale where float32
rounds, underflows or flushes; it decides almost every sample of real models; and a
certifier with the screen gives the verdicts of the float64 path, ties included."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import nets
from cpwl import Affine, Conv2d, Gather, Network, Residual
from cpwl import activations as act
from cpwl.errors import NumberError
from nets.certify import Certifier
from nets.certify._decide import screen_decisions, threshold_bracket
from nets.certify.screen import FLOAT32, FLOAT64, Screen, Unscreenable, screened_layers
from nets.experiments.digits import load

#: Weight and input scales: ordinary, float32 underflow of products (2**-126 .. 2**-149),
#: below float32 altogether, large, and float64 underflow of products (near 2**-1070).
WEIGHT_SCALES = st.sampled_from([1.0, 2.0**-40, 2.0**-70, 2.0**-100, 2.0**24, 2.0**-530])
INPUT_SCALES = st.sampled_from([1.0, 2.0**-50, 2.0**-90, 2.0**-160, 2.0**30, 2.0**-540])
PRECISIONS = st.sampled_from([FLOAT32, FLOAT64])


def _weights(rng, shape, scale: float, thirds: bool) -> np.ndarray:
    W = rng.standard_normal(shape) * scale
    if thirds:  # no exact float image: the layer's float64 form is itself rounded
        return np.vectorize(lambda v: Fraction(v) / 3, otypes=[object])(W)
    return W


def _activation(draw, rng, width: int):
    kind = draw(st.sampled_from(["relu", "leaky", "abs", "n", "maxmin", "groupsort", "gather", "moves", "residual"]))
    if kind == "relu":
        return act.Elementwise(act.relu())
    if kind == "leaky":
        return act.Elementwise(act.leaky_relu(Fraction(1, 3)))
    if kind == "abs":
        return act.Elementwise(act.abs_())
    if kind == "n":
        pairs = [tuple(sorted(Fraction(v).limit_denominator(64) for v in rng.standard_normal(2))) for _ in range(width)]
        return act.NLayer(pairs)
    if kind == "maxmin" and width % 2 == 0:
        return act.MaxMin(
            draw(st.sampled_from(["adjacent", "halves"])), draw(st.sampled_from(["max_first", "min_first"]))
        )
    if kind == "groupsort" and width % 3 == 0:
        return act.GroupSort(3, draw(st.booleans()))
    if kind == "gather":  # repeats and zeros: the error grows by sqrt(copies)
        index = [None if rng.random() < 0.2 else int(rng.integers(width)) for _ in range(width)]
        return Gather(index, width)
    if kind == "moves":  # a permutation, with zeros spliced in: the row norms pass through unchanged
        index = [int(i) for i in rng.permutation(width)] + [None] * int(rng.integers(0, 3))
        return Gather([index[k] for k in rng.permutation(len(index))], width)
    if kind == "residual":
        return Residual([Affine(rng.standard_normal((width, width)) * 0.5), act.relu()])
    return act.Elementwise(act.abs_())


@st.composite
def screened_networks(draw):
    """Small exact networks of every layer type the screen covers, with weights and inputs at
    the scales of ``WEIGHT_SCALES`` and ``INPUT_SCALES``, and a batch of inputs (float64 ones
    that float32 must round, or float32 ones)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale, thirds = draw(WEIGHT_SCALES), draw(st.booleans())
    layers = []
    if draw(st.booleans()):
        mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
        in_shape = (2, 3, 3)
        layers.append(
            Conv2d(
                _weights(rng, (3, 2, 2, 2), scale, thirds),
                _weights(rng, 3, scale, thirds),
                in_shape=in_shape,
                padding=1,
                padding_mode=mode,
                stride=draw(st.sampled_from([1, 2])),
            )
        )
        width = int(np.prod(in_shape))
        width = layers[0].check_width(width)
    else:
        width = draw(st.integers(2, 6))
        layers.append(Affine(_weights(rng, (6, width), scale, thirds), _weights(rng, 6, scale, thirds)))
        width = 6
    for _ in range(draw(st.integers(1, 3))):
        wider = width
        for _ in range(draw(st.integers(1, 2))):  # two in a row: a gather after an activation
            layers.append(_activation(draw, rng, wider))
            wider = layers[-1].check_width(wider)
        layers.append(Affine(_weights(rng, (width, wider), 1.0, thirds), _weights(rng, width, scale, False)))
    layers.append(Affine(_weights(rng, (3, width), 1.0, thirds)))
    net = Network(layers)
    x = rng.standard_normal((4, net.input_dim)) * draw(INPUT_SCALES)
    if draw(st.booleans()):
        x = x.astype(np.float32)
    return net, torch.tensor(x)


def _exact(net: Network, row) -> list:
    return [Fraction(int(v.numerator), int(v.denominator)) for v in net([Fraction(v) for v in row])]


def _squared_error(net: Network, row: list, scores: list) -> Fraction:
    """The exact squared l2 distance of float ``scores`` from the exact outputs at ``row``."""
    return sum((Fraction(s) - f) ** 2 for s, f in zip(scores, _exact(net, row)))


@given(screened_networks(), PRECISIONS)
def test_the_screen_bound_holds_against_the_exact_outputs(case, precision):
    """``E`` bounds the l2 norm of the whole error vector (so every output's error), in
    float32 and in float64."""
    net, x = case
    y, E = screened_layers(net.layers, x, precision)
    checked = 0
    for row, scores, bound in zip(x.tolist(), y.double().tolist(), E.tolist()):
        if not (math.isfinite(bound) and all(map(math.isfinite, scores))):
            continue  # no claim: the sample goes to the float64 path
        assert _squared_error(net, row, scores) <= Fraction(bound) ** 2
        checked += 1
    assert checked or not torch.isfinite(E).any()


@given(screened_networks(), PRECISIONS)
def test_row_norms_passed_between_steps_bound_the_rows(case, precision):
    """A step may hand the next one a bound ``N`` on its output's row norms (a gather that
    only moves entries keeps the input's); every such ``N`` is at least the exact norm."""
    from nets.certify import screen

    net, x = case
    prepared = screen.prepare(net.layers, x.shape[1], x.device, precision)
    y = x.to(precision.dtype)
    E, N = torch.zeros(len(x), dtype=torch.float64), None
    for layer, step, cache, _ in prepared:
        y, E, N = step(layer, y, E, N, cache)
        if N is not None:
            for row, bound in zip(y.double().tolist(), N.tolist()):
                assert sum(Fraction(v) ** 2 for v in row) <= Fraction(bound) ** 2 or not math.isfinite(bound)


def test_the_bound_is_tight_enough_to_matter_and_not_zero():
    rng = np.random.default_rng(0)
    net = Network([Affine(rng.standard_normal((8, 4)) / 3), act.relu(), Affine(rng.standard_normal((3, 8)) / 3)])
    x = torch.tensor(rng.standard_normal((16, 4)))
    y, E = screened_layers(net.layers, x)
    assert bool((E > 0).all() and (E < 1e-5).all())
    gaps = [
        max(abs(Fraction(s) - f) for s, f in zip(scores, _exact(net, row)))
        for row, scores in zip(x.tolist(), y.double().tolist())
    ]
    assert max(gaps) > 0  # float32 really rounded, so the bound is not vacuous


def _worst(net: Network, x: torch.Tensor, precision=FLOAT32) -> tuple:
    """``(squared l2 error, E**2)`` of a one-sample batch, with the bound checked."""
    y, E = screened_layers(net.layers, x, precision)
    error = _squared_error(net, x[0].tolist(), y[0].double().tolist())
    assert error <= Fraction(E.item()) ** 2
    return error, Fraction(E.item()) ** 2


def test_underflowing_products_are_covered():
    """A product at 256.5 units of float32's smallest subnormal: it rounds by half a unit
    (or is flushed), far more than any relative term, so only the absolute terms cover it."""
    W = np.array([[2.0**-70 * (1 + 2.0**-9)]])
    x = torch.tensor([[2.0**-71 * (1 + 2.0**-22)]], dtype=torch.float32)
    error, _ = _worst(Network([Affine(W)]), x)
    assert error > Fraction(2.0**-151) ** 2  # a rounding of 2**-150 or so against an output near 2**-141


def test_underflowing_float64_products_are_covered():
    """The same at float64's scale: a product near 2**-1070 rounds to the subnormal grid."""
    W = np.array([[2.0**-535 * (1 + 2.0**-9)]])
    x = torch.tensor([[2.0**-536 * (1 + 2.0**-40)]], dtype=torch.float64)
    error, _ = _worst(Network([Affine(W)]), x, FLOAT64)
    assert error > Fraction(2.0**-1076) ** 2


def test_float64_inputs_rounded_to_float32_are_covered():
    """A sort moves values without rounding them: the whole error is the inputs' rounding."""
    x = torch.tensor([[1 + 2.0**-30, -1 - 2.0**-29]], dtype=torch.float64)
    error, E = _worst(Network([act.MaxMin()]), x)
    assert error > E / 16


def test_repeated_inputs_grow_the_error_by_the_square_root_of_the_copies():
    """Sixteen copies of one rounded input: the error vector's norm is four times the input's."""
    x = torch.tensor([[1 + 2.0**-30]], dtype=torch.float64)
    error, E = _worst(Network([Gather([0] * 16, 1)]), x)
    assert error == 16 * Fraction(2.0**-30) ** 2 and error > E / 2


def test_a_layer_carries_the_error_of_the_layers_before():
    """A float32 sum of 4096 thirds is off by about 25 units in its last place; the next
    layer rounds nothing itself, so only the carried error covers it."""
    third = np.full((1, 4096), Fraction(1, 3), dtype=object)
    error, E = _worst(Network([Affine(third), Affine([[1]])]), torch.ones(1, 4096))
    assert error > Fraction(2.0**-22 * 4096 / 3) ** 2


def test_both_branches_of_a_residual_block_carry_their_errors():
    """``x + sort(x)`` at ``x`` near ``(1, -1)``: the float sum is exactly zero, the exact one
    is the two inputs' rounding errors added, so the two branches' bounds must add up too."""
    x = torch.tensor([[1 + 2.0**-30, -1 + 2.0**-31]], dtype=torch.float64)
    error, E = _worst(Network([Residual([act.MaxMin(order="min_first")])]), x)
    assert error > E / 2


def test_an_activation_s_own_rounding_is_covered():
    """A slope of 1/3 has no float32 image: the activation's own rounding is the whole error."""
    x = torch.tensor([[-1.0, -3.0, -0.75]], dtype=torch.float32)
    error, E = _worst(Network([act.Elementwise(act.leaky_relu(Fraction(1, 3)))]), x)
    assert error > E / 2**16  # the bound is within a factor 256 of the real error


def _digits_models():
    torch.manual_seed(0)
    return [
        (nets.LipschitzMLP([64, 64, 10], activation="n", layer="aol").eval(), (64,), True),
        (
            nets.SimplifiedConvNet(1, 10, base_width=16, blocks=3, layers_per_block=2, activation="maxmin").eval(),
            (1, 8, 8),
            False,
        ),
    ]


@pytest.mark.parametrize("index", [0, 1])
def test_the_screen_decides_almost_every_digit_and_agrees_with_the_float64_path(index):
    model, shape, flat = _digits_models()[index]
    _, _, x, labels = load()
    x = x.flatten(1) if flat else x
    screened = Certifier(model, shape, lipschitz=1)
    plain = Certifier(model, shape, lipschitz=1)
    plain._screen = None
    assert screened._screen is not None
    y, E = screened._screen(screened.bounded.checked_inputs(x))
    # a radius small enough that most correct samples are certified (untrained margins are
    # small): the screen must prove those, not only reject the rest
    bracket = threshold_bracket(Fraction(1), Fraction(1, 10**5), None)
    certified, decided = screen_decisions(y, E, labels, bracket)
    assert decided.float().mean() > 0.95 and certified.float().mean() > 0.05
    for eps in ("1/100000", "1/20", "1/4"):
        assert screened.report(x, labels, eps).certified_mask == plain.report(x, labels, eps).certified_mask


def test_margins_on_the_threshold_fall_through_to_the_exact_rule():
    """Radii placed exactly on a sample's exact margin: the screen cannot decide that sample,
    the float64 path and the exact rule do, and the tie is not certified."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3))
    x = torch.tensor([[0.5, -0.25, 1.0], [1.0, 0.5, -0.5]])
    exact = [_exact_model(model, row) for row in x.tolist()]
    labels = torch.tensor([max(range(3), key=s.__getitem__) for s in exact])
    certifier = Certifier(model, (3,), norm="inf", lipschitz=1)
    plain = Certifier(model, (3,), norm="inf", lipschitz=1)
    plain._screen = None
    y, E = certifier._screen(certifier.bounded.checked_inputs(x))
    for k, scores in enumerate(exact):
        label = int(labels[k])
        eps = (scores[label] - max(s for i, s in enumerate(scores) if i != label)) / 2  # M = 2 L eps
        _, decided = screen_decisions(y, E, labels, threshold_bracket(Fraction(1), eps, 2))
        assert not decided[k]
        report = certifier.report(x, labels, eps)
        assert report.certified_mask == plain.report(x, labels, eps).certified_mask
        assert not report.certified_mask[k]


def _exact_model(model, row) -> list:
    from nets.export import to_network

    return list(to_network(model)([Fraction(v) for v in row]))


def test_models_outside_the_screen_take_the_float64_path():
    model = nn.Sequential(nn.Linear(4, 4), nets.MaxMin(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        model[0].weight.mul_(1e39)  # beyond float32
    certifier = Certifier(model, (4,), lipschitz=1)
    assert certifier._screen is None
    report = certifier.report(torch.randn(5, 4, dtype=torch.float64), torch.zeros(5, dtype=torch.long), 0.1)
    assert len(report.certified_mask) == 5
    with pytest.raises(Unscreenable):
        Screen(certifier.bounded.translation, "cpu")


def test_integer_inputs_without_an_exact_float64_image_are_refused():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(NumberError, match="2\\*\\*53"):
        Certifier(model, (2,), lipschitz=1).report(torch.tensor([[2**60, 1]]), torch.tensor([0]), 0.1)


def test_the_screen_lipschitz_bound_covers_every_layer_and_is_tight_on_orthogonal_ones():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 6), nets.MaxMin(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        for layer in (model[0], model[2]):
            layer.weight.copy_(torch.linalg.qr(torch.randn(6, 6))[0])  # orthogonal: norm 1
        model[4].weight.copy_(torch.linalg.qr(torch.randn(6, 3))[0].T)  # orthonormal rows: norm 1
    certifier = Certifier(model, (6,), lipschitz=1)
    bound = certifier._screen.lipschitz_bound()
    norms = [float(torch.linalg.matrix_norm(m.weight.detach().double(), 2)) for m in (model[0], model[2], model[4])]
    assert norms[0] * norms[1] * norms[2] <= bound <= 1 + 1e-4


@pytest.mark.parametrize("kind", ["gaussian", "orthogonal", "rank one", "tall", "two equal tops"])
def test_the_spectral_bound_of_a_large_matrix_is_sound_and_tight(kind, monkeypatch):
    """From 256 columns on, the bound's starting guess comes from Lanczos iterations: on
    matrices whose top singular values coincide (the iterations' hard case) or whose spectrum
    is one value, the proof still holds (against float64 SVD, accurate to far below the
    asserted gap) and stays within 1e-6; a guess that does not converge falls back to a full
    decomposition."""
    from cpwl import _conv_bound

    rng = np.random.default_rng(7)
    n = _conv_bound._LANCZOS_FROM
    if kind == "gaussian":
        M = rng.standard_normal((n, n)) / math.sqrt(n)
    elif kind == "orthogonal":
        M = np.linalg.qr(rng.standard_normal((n, n)))[0]
    elif kind == "rank one":
        M = np.outer(rng.standard_normal(n), rng.standard_normal(n))
    elif kind == "tall":
        M = rng.standard_normal((n + 44, n))
    else:
        Q1, Q2 = np.linalg.qr(rng.standard_normal((n, n)))[0], np.linalg.qr(rng.standard_normal((n, n)))[0]
        M = (Q1 * np.r_[3.0, 3.0, rng.random(n - 2)]) @ Q2
    truth = float(np.linalg.svd(M, compute_uv=False)[0]) ** 2
    bound = float(_conv_bound._sigma_squared_upper(M[None])[0])
    assert truth * (1 - 1e-12) <= bound <= truth * (1 + 1e-6)
    if kind == "gaussian":
        from scipy.sparse import linalg

        def stuck(*args, **kwargs):
            raise linalg.ArpackNoConvergence("no convergence", [], [])

        monkeypatch.setattr(linalg, "eigsh", stuck)
        again = float(_conv_bound._sigma_squared_upper(M[None])[0])
        assert truth * (1 - 1e-12) <= again <= truth * (1 + 1e-6)
