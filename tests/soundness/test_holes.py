"""Each soundness hole found by an adversarial review, as a test: every one of them produced a
false proof, a wrong "exact" answer, a hang or an untyped crash before it was closed."""

import io
import json
import time
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

import cpwl
import nets
from cpwl import CPWL, Affine, Network, activations
from nets.certify import bounded_forward, certified_robust_accuracy, line_certificate, lipschitz_certificate
from nets.export import restrict_to_line, to_cpwl, to_network


# 1 -------------------------------------------------------------------- CRT prime budget
def test_crt_recovers_integers_of_a_hundred_thousand_bits():
    slope = 1 - Fraction(1, 2**100000)
    f = Network([Affine([[slope]]), activations.relu()]).to_cpwl(domain=(0, 1))
    assert f.slopes == (slope,)  # the primes' product once fell short of the bound and wrapped


# 3 -------------------------------------------------------------------- hidden forward logic
class ResidualSequential(nn.Sequential):
    def forward(self, x):
        return x + super().forward(x)


class DoubledLinear(nn.Linear):
    def forward(self, x):
        return 2 * super().forward(x)


class ShiftedConv(nn.Conv2d):
    def _conv_forward(self, x, weight, bias):
        return super()._conv_forward(x, weight, bias) + 1


def test_changed_behaviour_is_refused_not_certified():
    torch.manual_seed(0)
    refused = {
        "residual Sequential subclass": ResidualSequential(nn.Linear(2, 2), nn.ReLU()),
        "Linear subclass with its own forward": nn.Sequential(DoubledLinear(2, 2)),
        "Conv2d subclass with its own _conv_forward": nn.Sequential(ShiftedConv(1, 1, 3, padding=1)),
    }
    for name, model in refused.items():
        with pytest.raises(cpwl.UnsupportedModuleError, match="overrides"):
            lipschitz_certificate(model, input_shape=(1, 3, 3) if "Conv" in name else None)
    patched = nn.Sequential(nn.Linear(2, 2))
    patched[0].forward = lambda x: 3 * x
    with pytest.raises(cpwl.UnsupportedModuleError, match="replaced on the instance"):
        to_network(patched)


@pytest.mark.parametrize("kind", ["forward hook", "pre-hook", "hook-based weight_norm", "hook-based spectral_norm"])
def test_hooks_are_refused(kind):
    layer = nn.Linear(2, 2)
    if kind == "forward hook":
        layer.register_forward_hook(lambda m, args, out: -out)
    elif kind == "pre-hook":
        layer.register_forward_pre_hook(lambda m, args: (args[0] * 5,))
    elif kind == "hook-based weight_norm":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer = torch.nn.utils.weight_norm(layer)
    else:
        layer = torch.nn.utils.spectral_norm(layer)
    model = nn.Sequential(nn.Identity(), layer)
    match = "weight_norm|spectral_norm" if "hook-based" in kind else "hook"
    for entry in (
        to_network,
        lipschitz_certificate,
        lambda m: certified_robust_accuracy(m, torch.ones(1, 2), torch.tensor([0]), 0.1),
    ):
        with pytest.raises(cpwl.UnsupportedModuleError, match=match):
            entry(model)


def test_stale_hook_weight_would_have_been_a_false_certificate():
    """The scenario behind the rule: after training, weight_norm's stored weight is stale."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = torch.nn.utils.weight_norm(nn.Linear(2, 2))
    with torch.no_grad():
        layer.weight_g.mul_(10)  # what an optimizer step does; .weight is recomputed only by the next forward
    assert not torch.allclose(layer.weight, layer.weight_g * layer.weight_v / layer.weight_v.norm(dim=1, keepdim=True))
    with pytest.raises(cpwl.UnsupportedModuleError):
        to_network(nn.Sequential(layer))


def test_parametrizations_are_read_through_their_computation():
    layer = torch.nn.utils.parametrizations.weight_norm(nn.Linear(3, 2).double())
    with torch.no_grad():
        layer.parametrizations.weight.original0.mul_(3)
    net = to_network(nn.Sequential(layer))
    x = torch.randn(3, dtype=torch.float64)
    with torch.no_grad():
        want = layer(x[None])[0].tolist()
    got = net([Fraction(v) for v in x.tolist()])
    assert max(abs(float(a) - b) for a, b in zip(got, want)) < 1e-12


# 4 -------------------------------------------------------------------- ONNX Conv padding
def _onnx_conv(attrs: dict, shape=(1, 1, 5, 5), kernel=(1, 1, 3, 3)) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    W = (rng.integers(-4, 5, kernel) / 4).astype(np.float32)
    node = helper.make_node("Conv", ["x", "W"], ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(W, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return model.SerializeToString()


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"auto_pad": "VALID"},
        {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
        {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
        {"pads": [1, 0, 2, 1]},
        {"dilations": [2, 1], "pads": [2, 1, 2, 1]},
        {"strides": [2, 1]},
    ],
    ids=["no pads attribute", "VALID", "SAME_UPPER", "SAME_LOWER", "asymmetric pads", "dilations", "strides"],
)
def test_onnx_conv_follows_the_specification(attrs):
    """The independent truth is onnx's own reference evaluator, on dyadic inputs where it is exact."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    from nets.onnx_import import restrict_to_line as onnx_line

    data = _onnx_conv(attrs)
    x = (np.random.default_rng(1).integers(-4, 5, (1, 1, 5, 5)) / 4).astype(np.float32)
    (want,) = ReferenceEvaluator(onnx.load_from_string(data)).run(None, {"x": x})
    F = onnx_line(data, x[0], x[0] + 1)
    assert F(0) == tuple(Fraction(float(v)) for v in want.ravel())


def test_onnx_grouped_conv_follows_the_specification():
    import onnx
    from onnx.reference import ReferenceEvaluator

    from nets.onnx_import import restrict_to_line as onnx_line

    data = _onnx_conv({"group": 2, "pads": [1, 1, 1, 1]}, shape=(1, 2, 4, 4), kernel=(4, 1, 3, 3))
    x = (np.random.default_rng(2).integers(-4, 5, (1, 2, 4, 4)) / 4).astype(np.float32)
    (want,) = ReferenceEvaluator(onnx.load_from_string(data)).run(None, {"x": x})
    assert onnx_line(data, x[0], x[0] + 1)(0) == tuple(Fraction(float(v)) for v in want.ravel())


# 5 -------------------------------------------------------------------- .pt2 transposed convolution
def test_pt2_transposed_convolution_is_refused():
    from nets.pt2_import import restrict_to_line as pt2_line

    model = nn.Sequential(nn.ConvTranspose2d(1, 1, 3)).eval()
    program = torch.export.export(model, (torch.zeros(1, 1, 3, 3),))
    for exported, match in ((program, "conv_transpose2d"), (program.run_decompositions(), "transposed")):
        buffer = io.BytesIO()
        torch.export.save(exported, buffer)
        with pytest.raises(
            cpwl.UnsupportedOperatorError, match=match
        ):  # aten.convolution(transposed=True) was read as a conv
            pt2_line(buffer.getvalue(), np.zeros((1, 3, 3)), np.ones((1, 3, 3)))


# 6 -------------------------------------------------------------------- rigorous forward underflow
def test_underflowing_products_do_not_certify_the_wrong_label():
    """Four products of about -0.49 * 2**-1074 each round to zero: the float margin is one
    subnormal (label 0 wins), the exact margin is negative (label 1 wins)."""
    layer = nn.Linear(4, 2).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[2.0**-537] * 4, [0.0] * 4], dtype=torch.float64))
        layer.bias.copy_(torch.tensor([2.0**-1074, 0.0], dtype=torch.float64))
    x = torch.full((1, 4), -0.49 * 2.0**-537, dtype=torch.float64)
    exact = to_network(nn.Sequential(layer))([Fraction(v) for v in x[0].tolist()])
    assert exact[0] < exact[1]  # the truth: label 1
    y, err = bounded_forward(nn.Sequential(layer), x)
    assert abs(exact[0] - Fraction(y[0, 0].item())) <= Fraction(err[0, 0].item())
    report = certified_robust_accuracy(
        nn.Sequential(layer), x, torch.tensor([0]), 0.0, lipschitz=1
    )  # radius 0: "the label is right"
    assert report.certified == 0.0


# 7, 8 ---------------------------------------------------------------- exact endpoints
def test_line_endpoints_are_taken_exactly_in_every_form():
    model = nn.Sequential(nn.Linear(1, 1, bias=False)).double()
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    for start in (
        [0.1],
        np.array([0.1]),
        torch.tensor([0.1], dtype=torch.float64),
        [Fraction(1, 10)],
        ["1/10"],
        np.array([np.longdouble(1) / 10]),
    ):
        F = restrict_to_line(model, start, [1])
        value = F(0)[0]
        expected = cpwl.as_fraction(start[0]) if not isinstance(start, torch.Tensor) else Fraction(0.1)
        assert value == expected
    assert (
        restrict_to_line(model, [0.1], [1])(0)[0] == Fraction(0.1) != cpwl.as_fraction(np.float32(0.1))
    )  # not float32


def test_long_doubles_keep_their_bits():
    w = np.array([[np.longdouble(1) / 3]])
    layer = Affine(w)
    assert layer.weight[0][0] == cpwl.as_fraction(w[0, 0]) != Fraction(1 / 3)


# 9 -------------------------------------------------------------------- Gemm alpha/beta exactly
def test_gemm_alpha_and_beta_are_applied_exactly():
    from onnx import TensorProto, helper, numpy_helper

    from nets.onnx_import import restrict_to_line as onnx_line

    B = np.array([[3.0]], dtype=np.float32)
    C = np.array([1.0], dtype=np.float32)
    node = helper.make_node("Gemm", ["x", "B", "C"], ["y"], alpha=0.1, beta=0.3)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(B, "B"), numpy_helper.from_array(C, "C")],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    alpha, beta = Fraction(float(np.float32(0.1))), Fraction(float(np.float32(0.3)))
    F = onnx_line(data, [1], [2])
    assert F(0)[0] == alpha * 3 + beta  # not the float32 product alpha * B
    assert F(0)[0] != Fraction(float(np.float32(0.1) * np.float32(3.0))) + beta


class AddScaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("c", torch.tensor([3.0], dtype=torch.float64))

    def forward(self, x):
        return torch.add(x, self.c, alpha=0.1)


def test_pt2_add_alpha_is_applied_exactly():
    from nets.pt2_import import restrict_to_line as pt2_line

    buffer = io.BytesIO()
    torch.export.save(torch.export.export(AddScaled().eval(), (torch.zeros(1, 1, dtype=torch.float64),)), buffer)
    F = pt2_line(buffer.getvalue(), [0], [1])
    assert F(0)[0] == Fraction(0.1) * 3 != Fraction(0.1 * 3.0)  # not the float product alpha * c


# 10 ------------------------------------------------------------------- absurd exponents
@pytest.mark.parametrize("text", ["1e999999999", "-2.5e-999999999"])
def test_huge_exponents_are_refused_at_once(text):
    began = time.perf_counter()
    with pytest.raises(cpwl.NumberError, match="exponent"):
        cpwl.as_fraction(text)
    doc = json.dumps(
        {
            "type": "cpwl.CPWL",
            "version": 1,
            "domain": [None, None],
            "breakpoints": [],
            "slopes": [text],
            "intercepts": ["0"],
        }
    )
    with pytest.raises(cpwl.SerializationError):
        CPWL.from_json(doc)
    assert time.perf_counter() - began < 5  # generous: before the fix this never returned


# 11 ------------------------------------------------------------------- memory
def test_memory_budget_stops_a_wide_export_before_it_allocates():
    # a budget that fits a few pieces splits the line (tests/cpwl/test_segments.py); one too
    # small for one or two pieces of the 2048-wide layer stops the export before it allocates
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 1))
    with cpwl.memory_limit(2**20):
        with pytest.raises(cpwl.MemoryLimitError, match="width 2048 on [12] pieces needs about .* max_bytes"):
            to_cpwl(model, domain=(-50, 50))


def test_onnx_constant_folding_checks_sizes_first():
    from onnx import TensorProto, helper, numpy_helper

    from nets.onnx_import import restrict_to_line as onnx_line

    huge = helper.make_node(
        "ConstantOfShape", ["shape"], ["zeros"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])
    )
    add = helper.make_node("Add", ["x", "zeros"], ["y"])
    graph = helper.make_graph(
        [huge, add],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([10**6, 10**6], dtype=np.int64), "shape")],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    with pytest.raises(cpwl.MemoryLimitError):
        onnx_line(data, [0.0], [1.0])


# 12 ------------------------------------------------------------------- typed errors
def test_kinks_beyond_float_range_fall_back_to_exact():
    net = Network([Affine(np.array([[1e-300]]), np.array([1e300])), activations.relu()])
    f = net.to_cpwl()
    assert f.breakpoints == (-Fraction(1e300) / Fraction(1e-300),)
    g = Network([Affine([[1]]), activations.relu()]).to_cpwl(domain=(-(10**400), 10**400))
    assert g(10**400) == 10**400


def test_certification_inputs_are_checked():
    model = nets.LipschitzMLP([2, 4, 3], activation="maxmin")
    with pytest.raises(cpwl.NumberError):
        certified_robust_accuracy(model, torch.tensor([[float("nan"), 0.0]]), torch.tensor([0]), 0.1)
    with pytest.raises(cpwl.InvalidArgument, match="labels"):
        certified_robust_accuracy(model, torch.zeros(2, 2), torch.tensor([0, 7]), 0.1)
    with pytest.raises(cpwl.InvalidArgument, match="eps"):
        certified_robust_accuracy(model, torch.zeros(2, 2), torch.tensor([0, 1]), -0.1)
    parameterless = nn.Sequential(nn.ReLU())
    report = certified_robust_accuracy(parameterless, torch.tensor([[2.0, 0.0]]), torch.tensor([0]), 0.5, lipschitz=1)
    assert report.certified == 1.0
    with pytest.raises(cpwl.NumberError):
        line_certificate(model, [0.0, float("inf")], [1.0, 1.0])
    with pytest.raises(cpwl.ShapeError):
        restrict_to_line(model, [0.0, 0.0], [1.0, 1.0, 1.0])


def test_malformed_onnx_initializer_is_a_model_file_error():
    from onnx import TensorProto, helper

    from nets.onnx_import import restrict_to_line as onnx_line

    bad = TensorProto(
        name="B", data_type=TensorProto.FLOAT, dims=[1000, 1000], raw_data=b"\x00" * 8
    )  # 2 floats for a million
    node = helper.make_node("MatMul", ["x", "B"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [bad],
    )
    data = helper.make_model(graph).SerializeToString()
    with pytest.raises(cpwl.ModelFileError, match="initializer 'B'"):
        onnx_line(data, [0.0] * 1000, [1.0] * 1000)


def test_malformed_anchors_and_sympy_comparisons():
    import sympy

    for anchor in [(0,), None, (0, 1, 2)]:
        with pytest.raises(cpwl.InvalidArgument):
            CPWL.from_slopes([0], [1, 2], anchor=anchor)
    x = sympy.Symbol("x")
    with pytest.raises(cpwl.SerializationError):
        CPWL.from_sympy("Piecewise((x, x < I), (0, True))", x)


# 13 ------------------------------------------------------------------- JSON round trip
def test_json_round_trip_of_rationals_beyond_python_int_string_limit():
    tiny = Fraction(3, 2**20000)
    f = CPWL.from_points([(0, 0), (tiny, tiny), (1, 0)])
    assert CPWL.from_json(f.to_json()) == f
    F = cpwl.CPWLMap.from_components([f, 2 * f])
    assert cpwl.CPWLMap.from_json(F.to_json()) == F


# also ---------------------------------------------------------------- monotonicnetworks' MonotonicLayer
def test_monotonic_layer_is_exported_as_what_it_computes():
    monotonic = pytest.importorskip("monotonicnetworks")
    torch.manual_seed(0)
    layer = monotonic.MonotonicLayer(3, 2, monotonic_constraints=[1, 0, -1]).double()
    with torch.no_grad():
        layer.weight.normal_()
    x = torch.randn(4, 3, dtype=torch.float64)
    net = to_network(nn.Sequential(layer))
    with torch.no_grad():
        want = layer(x)
    for row, out in zip(x.tolist(), want.tolist()):
        got = net([Fraction(v) for v in row])
        assert max(abs(float(a) - b) for a, b in zip(got, out)) < 1e-12
    (cert,) = lipschitz_certificate(nn.Sequential(layer)).layers
    W = net.layers[0].weight
    true_norm = np.linalg.norm(np.array(W, dtype=float), 2)
    assert float(cert.bound) >= true_norm * (1 - 1e-12)  # the old export claimed the norm of W alone


# also ---------------------------------------------------------------- which function a dtype exports
@pytest.mark.parametrize(
    "make", [lambda: nets.Householder(4), lambda: nets.LinearSpline(2, size=5)], ids=["Householder", "LinearSpline"]
)
def test_float32_and_float64_copies_export_their_own_functions(make):
    torch.manual_seed(3)
    single = make()
    with torch.no_grad():
        for p in single.parameters():
            p.copy_(torch.randn_like(p) * 2)
    double = make().double()
    double.load_state_dict({k: v.double() for k, v in single.state_dict().items()})
    width = 4 if isinstance(single, nets.Householder) else 2
    x = torch.randn(5, width, dtype=torch.float64)
    exports = []
    for module in (single, double):
        net = to_network(nn.Sequential(module), input_shape=(width,))
        with torch.no_grad():
            own = module(x)  # a float64 input: the module's float32 parameters enter as they are
        for row, want in zip(x.tolist(), own.tolist()):
            got = net([Fraction(v) for v in row])
            assert max(abs(float(a) - b) for a, b in zip(got, want)) < 1e-12  # each copy exports what it computes
        exports.append(net)
    a, b = (n([Fraction(v) for v in x[0].tolist()]) for n in exports)
    assert a != b  # the copies' parameters were rounded differently: two different exact functions


# also ---------------------------------------------------------------- not piecewise linear: certified, never exported
def test_l2_norm_pooling_is_certified_but_not_exported():
    torchlip = pytest.importorskip("deel.torchlip")
    import mpmath

    pool = torchlip.ScaledL2NormPool2d(2)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), pool, nn.Flatten(), nn.Linear(8, 3)).double()
    with pytest.raises(cpwl.UnsupportedModuleError, match="not piecewise linear"):
        restrict_to_line(model, torch.zeros(1, 4, 4), torch.ones(1, 4, 4))
    assert lipschitz_certificate(model, (1, 4, 4)).layers[1].bound == 1
    x = torch.randn(4, 2, 4, 4, dtype=torch.float64) * torch.tensor([1e-3, 1e3], dtype=torch.float64)[
        :, None, None, None
    ].repeat(2, 1, 1, 1)
    y, err = bounded_forward(nn.Sequential(pool), x)
    with mpmath.workdps(50):
        for b in range(len(x)):
            for c in range(2):
                for i in range(2):
                    for j in range(2):
                        window = x[b, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].flatten().tolist()
                        truth = mpmath.sqrt(sum(mpmath.mpf(v) ** 2 for v in window))
                        assert abs(truth - mpmath.mpf(y[b, c, i, j].item())) <= mpmath.mpf(err[b, c, i, j].item())
    report = certified_robust_accuracy(
        model, torch.rand(5, 1, 4, 4, dtype=torch.float64), torch.zeros(5, dtype=torch.long), 0.01
    )
    assert 0 <= report.certified <= 1
