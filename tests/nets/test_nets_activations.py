"""Differential tests torch <-> exact: every nets activation agrees with its cpwl counterpart
at random points and exactly at its breakpoints; gradients and conventions at ties."""

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import nets
from nets.activations import initial_theta

floats = st.floats(-4, 4, allow_nan=False, width=32)


def _compare(module, x: torch.Tensor, exact_layer=None):
    module = module.double()
    x = x.double()
    got = module(x).detach()
    exact = exact_layer or module.exact_layer()
    for row_in, row_out in zip(x.tolist(), got.tolist()):
        want = exact([Fraction(v) for v in row_in])
        for w, g in zip(want, row_out):
            assert abs(float(w) - g) <= 1e-12 * (1 + abs(float(w)))


@given(st.lists(st.tuples(floats, floats), min_size=3, max_size=3), st.lists(floats, min_size=3, max_size=3))
def test_n_activation_matches_exact(thetas, ys):
    act = nets.NActivation(3, theta_init=torch.tensor(thetas))
    t = act.thetas()
    rows = [ys, t[:, 0].tolist(), t[:, 1].tolist()]  # random points and the breakpoints themselves
    _compare(act, torch.tensor(rows))


def test_n_activation_breakpoint_values_and_gradients():
    act = nets.NActivation(1, theta_init=torch.tensor([[0.5, -0.5]])).double()
    y = torch.tensor([[-0.5], [0.5], [2.0], [-2.0]], dtype=torch.float64, requires_grad=True)
    out = act(y)
    assert out[:, 0].tolist() == [0.5, -0.5, 1.0, -1.0]
    out.sum().backward()
    assert y.grad[:, 0].tolist() == [-1.0, 1.0, 1.0, 1.0]  # documented: the paper's pieces, selected by y < t


def test_tied_thresholds_send_gradient_to_both_as_in_the_paper():
    act = nets.NActivation(1, theta_init=torch.tensor([[0.5, 0.5]]))
    act(torch.tensor([[-1.0], [2.0]])).sum().backward()
    assert act.theta.grad.tolist() == [[-2.0, -2.0]]  # the paper's where/less form; clamp gave [[0, -2]]


def test_lr_factor_scales_the_effective_step():
    steps = []
    for factor in (1.0, 4.0):
        act = nets.NActivation(1, theta_init=torch.tensor([[-1.0, 1.0]]), lr_factor=factor)
        opt = torch.optim.SGD(act.parameters(), lr=0.1)
        act(torch.tensor([[2.0]])).sum().backward()  # above theta2: the gradient reaches theta
        before = act.thetas().clone()
        opt.step()
        steps.append((act.thetas() - before).abs().sum().item())
    assert math.isclose(steps[1] / steps[0], 4.0, rel_tol=1e-5)


def test_theta_initialisers():
    assert initial_theta(4).tolist() == [[-1, 0], [0, 0], [-1, 0], [0, 0]]
    assert initial_theta(2, "identity").abs().sum() == 0
    t = initial_theta(50, "log_uniform", generator=torch.Generator().manual_seed(0))
    assert (t[:, 0] < 0).all() and (t[:, 1] > 0).all() and (t.abs() <= 1).all() and (t.abs() >= 1e-5).all()
    assert initial_theta(3, "normal").shape == (3, 2)
    assert initial_theta(2, (-100.0, 0.0, 0.0, 0.0)).tolist() == [[-100, 0], [0, 0]]
    with pytest.raises(ValueError):
        initial_theta(3, (1.0, 2.0, 3.0, 4.0))
    with pytest.raises(ValueError):
        initial_theta(3, "bogus")


@pytest.mark.parametrize("pairing", ["adjacent", "halves"])
@pytest.mark.parametrize("order", ["max_first", "min_first"])
@given(st.lists(floats, min_size=6, max_size=6))
def test_maxmin_matches_exact(pairing, order, v):
    tied = [v[0], v[0], v[2], v[3], v[4], v[4]]
    _compare(nets.MaxMin(pairing, order), torch.tensor([v, tied]))


@pytest.mark.parametrize(
    "module",
    [nets.GroupSort(3), nets.GroupSort(2, descending=True), nets.Abs(), nets.LeakyReLU(0.25), nets.LeakyReLU(-1.0)],
)
@given(st.lists(floats, min_size=6, max_size=6))
def test_other_layers_match_exact(module, v):
    _compare(module, torch.tensor([v, [0.0] * 6]))


@given(st.lists(floats, min_size=4, max_size=4), st.lists(floats, min_size=4, max_size=4))
def test_prelu_absid_householder_match_exact(slopes, v):
    prelu = nets.PReLU(4)
    with torch.no_grad():
        prelu.slope.copy_(torch.tensor(slopes))
    _compare(prelu, torch.tensor([v]))
    _compare(nets.AbsIdentity(), torch.tensor([v]), nets.AbsIdentity().exact_layer(4))
    house = nets.Householder(4)
    with torch.no_grad():
        house.angle.copy_(torch.tensor(slopes[:2]))
    module = house.double()
    got = module(torch.tensor([v], dtype=torch.float64))[0].tolist()
    want = house.exact_layer()([Fraction(x) for x in v])
    assert all(abs(float(w) - g) <= 1e-9 * (1 + abs(g)) for w, g in zip(want, got))  # float v is not exactly unit


def test_householder_at_minus_quarter_pi_is_maxmin():
    h = nets.Householder(2, angle=-math.pi / 4).double()
    x = torch.tensor([[1.0, 3.0], [3.0, 1.0]], dtype=torch.float64)
    assert torch.allclose(h(x), nets.MaxMin().double()(x))


@given(st.lists(st.floats(-3, 3, allow_nan=False), min_size=5, max_size=5), st.lists(floats, min_size=2, max_size=2))
def test_linear_spline_clipping_and_exact_export(coeffs, v):
    spline = nets.LinearSpline(1, size=5, range_=1.0)
    with torch.no_grad():
        spline.coefficients.copy_(torch.tensor([coeffs]))
    spline = spline.double()
    c = spline.clipped()[0]
    assert ((c[1:] - c[:-1]).abs() <= spline.step * (1 + 1e-12)).all()
    assert abs(c.mean().item() - spline.coefficients.mean().item()) <= 1e-12  # clipping keeps the mean
    knots = [-1.0, -0.5, 0.0, 0.5, 1.0]
    _compare(spline, torch.tensor([[x] for x in v + knots + [-3.0, 3.0]]))
    exact = spline.exact_layer().functions[0]
    assert exact.lipschitz_constant() <= 1 + Fraction(1, 10**9)
    assert spline.tv2().item() == pytest.approx(
        float(sum(abs(b - a) for a, b in zip(exact.slopes, exact.slopes[1:]))), abs=1e-9
    )


@pytest.mark.parametrize(
    "module, shape",
    [
        (nets.MaxMin(), (2, 3)),
        (nets.GroupSort(4), (2, 6)),
        (nets.NActivation(3), (2, 4)),
        (nets.AbsIdentity(), (1, 3)),
        (nets.MaxMin(), (5,)),
    ],
)
def test_bad_shapes_name_the_module(module, shape):
    with pytest.raises(ValueError, match=type(module).__name__):
        module(torch.zeros(shape))


def test_bad_parameters():
    act = nets.NActivation(1)
    with torch.no_grad():
        act.theta.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        act.exact_layer()  # checked where parameters leave torch, not in every forward pass
    with pytest.raises(ValueError):
        nets.LeakyReLU(1.5)
    with pytest.raises(ValueError):
        nets.NActivation(2, lr_factor=0)
    with pytest.raises(ValueError):
        nets.Householder(3)


def test_activations_accept_conv_shapes():
    x = torch.randn(2, 4, 3, 3)
    for module in (
        nets.NActivation(4),
        nets.MaxMin(),
        nets.GroupSort(2),
        nets.Householder(4),
        nets.PReLU(4),
        nets.LinearSpline(4),
    ):
        assert module(x).shape == x.shape


@pytest.mark.parametrize(
    "activation", ["n", "maxmin", "groupsort", "householder", "spline", "abs", "absid", "leaky_relu"]
)
def test_models_trace_with_torch_export(activation):
    model = nets.LipschitzMLP([2, 4, 2], activation=activation, layer="aol").eval()
    program = torch.export.export(model, (torch.zeros(3, 2),))  # a static batch of 3
    x = torch.randn(3, 2)
    assert torch.allclose(program.module()(x), model(x))
