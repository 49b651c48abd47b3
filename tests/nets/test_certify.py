"""nets.certify: proven Lipschitz bounds on deployed weights and rigorous certified accuracy."""

from fractions import Fraction

import pytest
import torch
from torch import nn

import nets
from nets.certify import bounded_forward, certified_robust_accuracy, lipschitz_certificate
from nets.export import to_network

H4 = torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=torch.float64) / 2


def _linear(W):
    layer = nn.Linear(W.shape[1], W.shape[0]).double()
    with torch.no_grad():
        layer.weight.copy_(W)
        layer.bias.zero_()
    return layer


def test_exactly_orthogonal_layer_is_exactly_one_and_excess_is_detected():
    (cert,) = lipschitz_certificate(nn.Sequential(_linear(H4))).layers
    assert cert.bound == 1 and cert.ok
    scaled = H4 * (1 + 2.0**-20)
    (cert,) = lipschitz_certificate(nn.Sequential(_linear(scaled))).layers
    assert not cert.ok and Fraction(1, 2**20) <= cert.excess <= Fraction(1, 2**20) + Fraction(
        1, 2**29
    )  # enclosure width 2^-30


def test_certificate_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    ax = lipschitz_certificate(nn.Sequential(_linear(H4), nn.ReLU(), _linear(H4 * 1.5))).plot()
    colours = [tuple(p.get_facecolor()) for p in ax.patches]
    assert len(colours) == 3 and colours[0] != colours[2]  # proven vs not proven
    ax.figure.savefig(tmp_path / "bars.png")


@pytest.mark.parametrize("layer", ["aol", "orthogonal", "bjorck", "frobenius"])
def test_trained_style_layers_get_sound_bounds(layer):
    torch.manual_seed(0)
    model = nets.LipschitzMLP([4, 6, 3], activation="n", layer=layer)
    cert = lipschitz_certificate(model)
    for c, W in zip(
        [c for c in cert.layers if c.module.endswith("Linear")],
        [m.weight_matrix() for m in model if isinstance(m, nets.layers.LipschitzLinear)],
    ):
        assert float(c.bound) >= torch.linalg.matrix_norm(W.detach().double(), 2).item() * (1 - 1e-12)
    assert cert.bound <= 1 + Fraction(1, 10**6)  # float32 deployment: at most a tiny, reported excess
    if layer in ("aol", "frobenius"):
        assert all(c.ok for c in lipschitz_certificate(model.double()).layers)  # closed forms hold in float64


def test_conv_bound_is_sound_and_catches_a_bad_rescaling():
    torch.manual_seed(0)
    conv = nets.AOLConv2d(3, 4, 3)
    with torch.no_grad():
        conv.P.normal_()
    (cert,) = lipschitz_certificate(nn.Sequential(conv), input_shape=(3, 8, 8)).layers
    assert cert.bound <= 1 + Fraction(1, 10**6)  # float32 scales: an honest excess of order 1e-7 may remain
    (cert,) = lipschitz_certificate(nn.Sequential(conv.double()), input_shape=(3, 8, 8)).layers
    assert cert.ok  # in float64 the AOL eps margin dominates the rounding
    broken = nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular", bias=False).double()  # the AOL kernel, tripled
    with torch.no_grad():
        broken.weight.copy_(3 * conv.kernel().detach().double())
    (cert,) = lipschitz_certificate(nn.Sequential(broken), input_shape=(3, 8, 8)).layers
    padded = torch.zeros(4, 3, 8, 8, dtype=torch.float64)
    padded[:, :, :3, :3] = broken.weight.detach()
    fft_norm = (
        torch.linalg.matrix_norm(torch.fft.fft2(padded).permute(2, 3, 0, 1), 2).max().item()
    )  # the layer's true norm on 8x8
    assert fft_norm > 1 and not cert.ok
    assert fft_norm <= float(cert.bound) <= fft_norm * (1 + 1e-8)  # sound, and tight: the spectral bound


def test_sll_certificate():
    torch.manual_seed(0)
    cert = lipschitz_certificate(nn.Sequential(nets.SLLLinear(3, hidden=5)))
    assert cert.bound == 1


def test_bounded_forward_encloses_the_exact_outputs():
    torch.manual_seed(3)
    model = nets.LipschitzMLP([3, 8, 8, 4], activation="maxmin", layer="aol", embed=False)
    x = torch.randn(5, 3)
    y, err = bounded_forward(model, x)
    net = to_network(model)
    for row, ys, es in zip(x.tolist(), y.tolist(), err.tolist()):
        exact = net([Fraction(v) for v in row])
        for e, v, b in zip(exact, ys, es):
            assert abs(e - Fraction(v)) <= Fraction(b)
    assert (err > 0).all() and (err < 1e-12).all()


def test_crafted_float_margin_is_refused():
    # float32 rounds 1e8 + 5 up to 1e8 + 8 and 1e8 + 3 down to 1e8: the float margin 8 clears
    # the threshold sqrt(2) * eps = 4, the exact margin 2 does not.
    layer = nn.Linear(1, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0], [1.0]]))
        layer.bias.copy_(torch.tensor([5.0, 3.0]))
    eps = 4 / 2**0.5
    report = certified_robust_accuracy(nn.Sequential(layer), torch.tensor([[1e8]]), torch.tensor([0]), eps, lipschitz=1)
    assert report.naive == 1.0 and report.certified == 0.0 and report.disagreements == [0]


def test_ties_are_never_certified():
    model = nn.Sequential(_linear(torch.eye(2, dtype=torch.float64)))
    report = certified_robust_accuracy(
        model, torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([0]), 0.0, lipschitz=1
    )
    assert report.certified == 0.0 and report.naive == 0.0


def test_clear_margins_are_certified_on_a_conv_net():
    torch.manual_seed(0)
    model = nets.SimplifiedConvNet(1, 4, base_width=8, blocks=2, layers_per_block=1, activation="n")
    x = torch.rand(6, 1, 4, 4)
    with torch.no_grad():
        labels = model(x).argmax(dim=1)
    report = certified_robust_accuracy(model, x, labels, 0.0)
    assert report.certified == report.naive == 1.0 or report.disagreements  # exact ties aside, all correct
    assert report.lipschitz <= 1


def test_line_certificate_distance_is_at_least_the_margin_radius():
    from nets.certify import line_certificate

    torch.manual_seed(4)
    model = nets.LipschitzMLP([2, 8, 8, 3], activation="maxmin", layer="aol").double()
    cert_L = lipschitz_certificate(model).bound
    net = to_network(model)
    checked = 0
    for _ in range(10):
        start = torch.randn(2, dtype=torch.float64)
        end = start + 4 * torch.randn(2, dtype=torch.float64)
        line = line_certificate(model, start, end)
        scores = net([Fraction(v) for v in start.tolist()])
        if line.label is None:
            continue
        margin = scores[line.label] - max(s for i, s in enumerate(scores) if i != line.label)
        if line.t is not None:
            checked += 1
            assert line.distance_squared * 2 * cert_L**2 >= margin**2  # exact: distance >= M / (sqrt(2) L)
            at_change = net(
                [Fraction(s) + line.t * (Fraction(e) - Fraction(s)) for s, e in zip(start.tolist(), end.tolist())]
            )
            assert max(at_change) == at_change[line.label]  # the label still (weakly) wins at the change...
            assert at_change.count(max(at_change)) >= 2  # ...and is tied there
        assert line.lipschitz_squared <= cert_L**2  # the directional constant obeys the proven bound
    assert checked >= 3


@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
def test_conv_bounded_forward_encloses_the_exact_line_values(padding_mode):
    from nets.export import restrict_to_line

    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, padding_mode=padding_mode),
        nets.NActivation(4),
        nets.AOLConv2d(4, 4, 3),
        nets.MaxMin(),
        nn.Flatten(),
        nn.Linear(64, 3),
    )
    x = torch.rand(1, 4, 4)
    exact = restrict_to_line(model, x, x + 1)(0)  # exact outputs at x
    y, err = bounded_forward(model, x[None])
    assert all(abs(e - Fraction(v)) <= Fraction(b) for e, v, b in zip(exact, y[0].tolist(), err[0].tolist()))
    cert = lipschitz_certificate(model, input_shape=(1, 4, 4))
    plain = cert.layers[0]
    zero = torch.zeros(1, 1, 4, 4)
    with torch.no_grad():
        columns = [(model[0](torch.eye(16)[i].reshape(1, 1, 4, 4)) - model[0](zero)).flatten() for i in range(16)]
    true_norm = torch.linalg.matrix_norm(torch.stack(columns, 1).double(), 2).item()  # the layer on 4x4 images
    assert plain.module == "Conv2d" and float(plain.bound) >= true_norm * (1 - 1e-6)


def test_failing_sll_condition_still_gets_a_sound_bound():
    layer = nets.SLLLinear(3, hidden=3)
    with torch.no_grad():
        layer.log_q.copy_(torch.tensor([0.0, 3.0, -3.0]))  # extreme weights break nothing: T stays valid
    assert lipschitz_certificate(nn.Sequential(layer)).bound == 1
    broken = nets.SLLLinear(3, hidden=3, eps=-100.0)  # a wrong T: the condition fails
    (cert,) = lipschitz_certificate(nn.Sequential(broken)).layers
    assert cert.bound > 1 and "fails" in cert.method
