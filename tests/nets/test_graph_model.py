"""Graph files (ONNX, .pt2) as chains of exact layers: the chain computes exactly what the
line importers compute, its proven bound is as tight as the torch model's, certified accuracy
of the graph equals the torch model's, and graphs that are not chains are refused by node."""

import io
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import cpwl
import nets
from cpwl import CPWL, DomainError, UnsupportedOperatorError
from cpwl.activations import Elementwise
from cpwl.strategies import cpwl_functions, rationals
from nets._graph import importer_for
from nets._graph_trace import ChainError, Trace, _select
from nets.certify import Certifier, certified_robust_accuracy, line_certificate, lipschitz_certificate
from nets.certify.scaleout import certified_accuracy
from nets.graph_model import GraphModel

pytest.importorskip("onnx")

SUFFIXES = (".onnx", ".pt2")


def _graph_bytes(model, example, suffix):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if suffix == ".onnx":
            torch.onnx.export(model.eval(), (example,), buffer, dynamo=False)
        else:
            torch.export.save(torch.export.export(model.eval(), (example,)), buffer)
    return buffer.getvalue()


def _same_on_lines(graph, data, suffix, shape, lines=3, seed=0):
    """The chain restricted to random lines equals the importer's exact restriction; returns
    the number of breakpoints seen (so a test can ask for some)."""
    network = cpwl.Network(graph.layers)
    importer = importer_for(f"m{suffix}")
    rng = np.random.default_rng(seed)
    seen = 0
    for _ in range(lines):
        a, b = 2 * rng.standard_normal(shape), 2 * rng.standard_normal(shape)
        expected = importer.restrict_to_line(data, a, b)
        got = network.restrict_to_line([Fraction(v) for v in a.ravel()], [Fraction(v) for v in b.ravel()])
        assert got == expected
        seen += len(expected.canonical().breakpoints)
    return seen


MODELS = {
    "relu": lambda: nets.LipschitzMLP([6, 12, 12, 3], activation="relu", layer="aol"),
    "maxmin": lambda: nets.LipschitzMLP([6, 12, 12, 3], activation="maxmin", layer="aol"),
    "groupsort": lambda: nets.LipschitzMLP([6, 12, 12, 3], activation="groupsort", layer="aol"),
    "n": lambda: nets.LipschitzMLP([6, 12, 12, 3], activation="n", layer="aol"),
    "abs": lambda: nets.LipschitzMLP([6, 12, 12, 3], activation="abs", layer="aol"),
    "conv": lambda: nets.SimplifiedConvNet(1, 3, base_width=4, blocks=2),
}


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_graph_chain_is_the_graph_and_its_bound_is_the_models(name, suffix):
    torch.manual_seed(5)
    model = MODELS[name]().eval()
    shape = (1, 4, 4) if name == "conv" else (6,)
    data = _graph_bytes(model, torch.zeros(1, *shape), suffix)
    graph = GraphModel(data, suffix)
    assert graph.input_shape == shape and graph.out_features == 3
    assert _same_on_lines(graph, data, suffix, shape) > 0
    bound, torch_bound = lipschitz_certificate(graph).bound, lipschitz_certificate(model, shape).bound
    # the graph's weights are the model's after float32 folding (AOL's rescaling): a bound of 1 up
    # to that rounding, never the product of loose per-operator bounds (2 per Max/Min pair or padding)
    assert torch_bound <= 1 and bound <= 1 + Fraction(1, 2**20)
    x = torch.randn(5, *shape)
    with torch.no_grad():
        assert torch.allclose(graph(x).float(), model(x), atol=1e-5)
        native = model(x).double()
    network = cpwl.Network(graph.layers)  # the exact chain against the torch model's own forward
    exact = torch.tensor(
        [[float(v) for v in network([Fraction(v) for v in row.ravel().tolist()])] for row in x], dtype=torch.float64
    )
    assert torch.allclose(exact, native, atol=1e-5)


@pytest.mark.parametrize("mode", ["zeros", "circular", "reflect", "replicate"])
def test_padding_becomes_the_convolutions_own(mode):
    """A padding the exporter writes as its own operator (or as slices and concatenations) is
    merged into the convolution: no gather that copies entries is left, and the bound is the
    padded convolution's, as for the torch module."""
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode), nn.ReLU(), nn.Flatten()).eval()
    data = _graph_bytes(model, torch.zeros(1, 2, 5, 5), ".onnx")
    graph = GraphModel(data, ".onnx")
    convs = [layer for layer in graph.layers if isinstance(layer, cpwl.Conv2d)]
    assert [c.padding_mode for c in convs] == [mode] and convs[0].padding == (1, 1, 1, 1)
    assert all(layer.copies <= 1 for layer in graph.layers if isinstance(layer, cpwl.Gather))
    assert lipschitz_certificate(graph).bound == lipschitz_certificate(model, (2, 5, 5)).bound
    _same_on_lines(graph, data, ".onnx", (2, 5, 5))


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(x + torch.relu(self.inner(x)))


class _Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x):
        return torch.cat([torch.relu(self.a(x)), self.b(x)], dim=1)


class _Jump(nn.Module):
    def forward(self, x):
        return torch.where(x < 0, x, x + 1)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_residual_additions_are_residual_blocks(suffix):
    torch.manual_seed(7)
    model = _Residual().eval()
    data = _graph_bytes(model, torch.zeros(1, 4), suffix)
    graph = GraphModel(data, suffix)
    assert any(isinstance(layer, cpwl.Residual) for layer in graph.layers)
    assert _same_on_lines(graph, data, suffix, (4,)) > 0
    # the bound of x + relu(Wx + b) is 1 + ||W||, not the bound of two separate branches
    norm = lipschitz_certificate(model.inner).bound
    head = lipschitz_certificate(model.head).bound
    assert lipschitz_certificate(graph).bound <= (1 + norm) * head * (1 + Fraction(1, 2**20))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_graphs_that_are_not_chains_are_refused_by_node(suffix):
    data = _graph_bytes(_Branches(), torch.zeros(1, 4), suffix)
    with pytest.raises(ChainError, match=r"node '.*'.*different branches"):
        GraphModel(data, suffix)
    # the line restriction of the same graph still works (it needs no chain)
    assert importer_for(f"m{suffix}").restrict_to_line(data, [0] * 4, [1] * 4).dim == 6


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_selection_that_jumps_anywhere_is_refused(suffix):
    """The jump of where(x < 0, x, x + 1) lies at x = 0: a line that never reaches 0 sees no
    jump, but the chain describes the whole input space and is refused."""
    data = _graph_bytes(_Jump(), torch.zeros(1, 2), suffix)
    assert importer_for(f"m{suffix}").restrict_to_line(data, [1, 1], [2, 3]).dim == 2
    with pytest.raises(UnsupportedOperatorError, match="jumps"):
        GraphModel(data, suffix)


@st.composite
def _selections(draw):
    """``(a, c, b, strict)`` with ``c`` zero at a drawn point (so the condition switches) and
    ``b`` equal to ``a`` where ``c`` is zero (continuous) or shifted by a constant (a jump)."""
    a, c0 = draw(cpwl_functions(max_breakpoints=3)), draw(cpwl_functions(max_breakpoints=3))
    root = draw(rationals(-4, 4, max_denominator=8))
    c = c0 - c0(root)
    k = draw(rationals(-2, 2, max_denominator=4))
    shift = draw(st.sampled_from([0, 0, Fraction(1, 3)]))
    return a, c, a + c * k + shift, draw(st.booleans())


@given(_selections())
def test_select_is_the_pointwise_selection(case):
    a, c, b, strict = case
    points = sorted(set(a.breakpoints) | set(b.breakpoints) | set(c.breakpoints) | {Fraction(0)})
    points += [p + Fraction(1, 7) for p in points] + [points[0] - 5, points[-1] + 5]
    for lo, hi, slope, intercept in c.pieces():
        if slope and (lo is None or lo <= -intercept / slope) and (hi is None or -intercept / slope <= hi):
            points.append(-intercept / slope)

    def picked(x):
        return a(x) if (c(x) < 0 if strict else c(x) <= 0) else b(x)

    try:
        f = _select(a, c, b, strict)
    except DomainError:
        # a jump: some zero of c has the two branches apart, with both sides (or the point) picked
        assert any(c(x) == 0 and a(x) != b(x) for x in points)
        return
    assert all(f(x) == picked(x) for x in points)


def test_select_at_a_touching_zero():
    """c = |x| is zero at 0 only, without changing sign: strictly the other branch everywhere
    (continuous); with <= the first branch at 0 alone (a jump of one point)."""
    a, b, c = CPWL.linear(0), CPWL.linear(0, 1), cpwl.activations.abs_()
    assert _select(a, c, b, strict=True) == b
    with pytest.raises(DomainError):
        _select(a, c, b, strict=False)


def test_traces_merge_only_what_is_a_layer():
    x = Trace.input(3).apply(cpwl.Affine([[1, 0, 0], [0, 1, 0], [0, 0, 1]]))
    relu = x.apply(cpwl.activations.relu())
    assert [type(layer).__name__ for layer in (x + relu).layers] == ["Affine", "Elementwise"]
    deeper = relu.apply(cpwl.Affine([[1, 1, 1]] * 3))
    assert type((x + deeper).layers[-1]).__name__ == "Residual"
    other = Trace.input(3).apply(cpwl.Affine([[2, 0, 0], [0, 1, 0], [0, 0, 1]]))
    with pytest.raises(ChainError):
        x + other.apply(cpwl.activations.relu()).apply(cpwl.Affine([[1, 1, 1]] * 3))
    with pytest.raises(ChainError):
        x.where_negative(deeper, x)
    assert type(x.where_negative(relu, x.apply(Elementwise(CPWL.linear(2)))).layers[-1]) is Elementwise


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_certified_accuracy_of_a_graph_is_the_models(suffix, tmp_path):
    """Same proven verdicts as the torch model where the proven bounds agree; with shards of a
    graph file's path as well; and every certified sample's exact margin clears the rule."""
    torch.manual_seed(8)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    with torch.no_grad():
        model[0].weight.mul_(0.5)
    data = _graph_bytes(model, torch.zeros(1, 4), suffix)
    path = tmp_path / f"m{suffix}"
    path.write_bytes(data)
    graph = GraphModel(path)
    x = torch.randn(40, 4)
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    y[:5] = (y[:5] + 1) % 3  # a few wrong labels, never certified
    want = certified_robust_accuracy(model, x, y, "1/20")
    got = certified_robust_accuracy(graph, x, y, "1/20")
    assert got.lipschitz == want.lipschitz and got.certified_mask == want.certified_mask
    assert 0 < sum(got.certified_mask) < 35
    sharded = certified_accuracy(str(path), x, y, ["1/20"], shard_size=7)[0]
    assert sharded.certified_mask == got.certified_mask and sharded.naive_mask == got.naive_mask
    importer = importer_for(path)
    for i in [i for i, ok in enumerate(got.certified_mask) if ok][:5]:
        scores = importer.restrict_to_line(data, x[i].numpy(), x[i].numpy())(0)
        margin = scores[int(y[i])] - max(s for j, s in enumerate(scores) if j != int(y[i]))
        assert margin > 0 and margin**2 > 2 * got.lipschitz**2 * Fraction(1, 20) ** 2
    assert Certifier(graph).lipschitz == got.lipschitz


def test_graph_bytes_need_a_suffix_and_files_a_graph_suffix(tmp_path):
    with pytest.raises(cpwl.InvalidArgument, match="suffix"):
        GraphModel(b"\x00", ".txt")
    with pytest.raises(cpwl.InvalidArgument, match="ends in"):
        GraphModel(tmp_path / "model.pt")
    with pytest.raises(cpwl.ModelFileError):
        GraphModel(tmp_path / "missing.onnx")


def test_line_certificates_of_a_graph_model_use_the_graph():
    torch.manual_seed(9)
    model = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 3)).eval()
    graph = GraphModel(_graph_bytes(model, torch.zeros(1, 3), ".onnx"), ".onnx")
    a, b = torch.randn(3), 4 * torch.randn(3)
    assert line_certificate(graph, a, b) == line_certificate(model, a, b)
    assert graph(torch.zeros(0, 3)).shape == (0, 3)  # an empty batch, without running the graph
