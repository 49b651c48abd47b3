"""The N-activation paper's own models (re-created in paper_code.py) export and certify as
written: exact line restrictions agree with their forward pass at every breakpoint, and the
same holds through ONNX and torch.export; a lookalike that computes something else is refused."""

import io
import warnings
from fractions import Fraction

import paper_code
import pytest
import torch
from torch import nn

import cpwl
from nets.certify import certified_robust_accuracy, lipschitz_certificate
from nets.export import restrict_to_line


def _trained(activation, seed=0):
    torch.manual_seed(seed)
    model = paper_code.SimplifiedConvNet(
        activation, base_width=4, nrof_blocks=2, nrof_layers_per_block=1, nrof_classes=4
    ).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))  # as after some training: thresholds and kernels move
    return model.eval()


ACTIVATIONS = {
    "NActivation": paper_code.NActivation,
    "NActivation tied": lambda c: paper_code.NActivation(c, theta_init_values=(0.25, 0.25)),
    "MaxMin": lambda c: paper_code.MaxMin(),
    "AbsoluteIdentity": lambda c: paper_code.AbsoluteIdentity(),
    "AbsoluteValue": lambda c: paper_code.AbsoluteValue(),
}


def _check_line(F, model, a, b):
    for t in [Fraction(0), Fraction(1, 3), Fraction(1), *F.breakpoints]:
        with torch.no_grad():
            want = model((a + float(t) * (b - a))[None])[0].tolist()
        assert max(abs(float(e) - g) for e, g in zip(F(t), want)) <= 1e-9


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_paper_models_export_and_certify_as_written(name):
    model = _trained(ACTIVATIONS[name])
    a, b = torch.rand(1, 4, 4, dtype=torch.float64), torch.rand(1, 4, 4, dtype=torch.float64)
    F = restrict_to_line(model, a, b)
    _check_line(F, model, a, b)
    cert = lipschitz_certificate(model, (1, 4, 4))
    assert cert.bound < 1 + Fraction(1, 10**6)
    x = torch.rand(8, 1, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        labels = model(x).argmax(1)
    report = certified_robust_accuracy(model, x, labels, 0.01, lipschitz=cert.bound)
    assert report.certified == report.naive or report.disagreements


@pytest.mark.parametrize("route", ["onnx", "pt2"])
def test_paper_model_through_graph_formats(route):
    from nets import onnx_import, pt2_import

    model = _trained(paper_code.NActivation)
    buffer = io.BytesIO()
    example = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    if route == "onnx":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model.float(), (example.float(),), buffer, dynamo=False)
        model = model.double()
    else:
        torch.export.save(torch.export.export(model, (example,)), buffer)
    a, b = torch.rand(1, 4, 4, dtype=torch.float64), torch.rand(1, 4, 4, dtype=torch.float64)
    importer = onnx_import if route == "onnx" else pt2_import
    F = importer.restrict_to_line(buffer.getvalue(), a.numpy(), b.numpy())
    tolerance = 1e-5 if route == "onnx" else 1e-9  # the ONNX graph holds float32 weights
    for t in [Fraction(0), Fraction(1), *F.breakpoints]:
        with torch.no_grad():
            want = model((a + float(t) * (b - a))[None])[0].tolist()
        assert max(abs(float(e) - g) for e, g in zip(F(t), want)) <= tolerance


def test_a_lookalike_that_computes_something_else_is_refused():
    class MaxMin(nn.Module):  # same name, other convention: halves, min first
        def forward(self, x):
            a, b = x.chunk(2, dim=1)
            return torch.cat([torch.minimum(a, b), torch.maximum(a, b)], dim=1)

    with pytest.raises(cpwl.UnsupportedModuleError, match="computes something else"):
        restrict_to_line(nn.Sequential(nn.Linear(2, 4), MaxMin()), [0.0, 0.0], [1.0, 1.0])

    class FirstChannels(nn.Module):  # same name, but sorts: its moves depend on the values
        def forward(self, x):
            return torch.sort(x, dim=1).values

    with pytest.raises(cpwl.UnsupportedModuleError, match="depending on their values"):
        restrict_to_line(nn.Sequential(nn.Linear(2, 4), FirstChannels()), [0.0, 0.0], [1.0, 1.0])


def test_the_papers_state_dict_loads_into_our_model_and_computes_the_same():
    import nets

    theirs = _trained(paper_code.NActivation).float()
    ours = nets.SimplifiedConvNet(1, 4, base_width=4, blocks=2, layers_per_block=1, activation="n")
    ours.load_paper_state_dict(theirs.state_dict())
    x = torch.rand(5, 1, 4, 4)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-6)
    channel_major = nets.SimplifiedConvNet(
        1, 4, base_width=4, blocks=2, layers_per_block=1, activation="n", pooling_order="channel_major"
    )
    channel_major.load_paper_state_dict(theirs.state_dict())
    with torch.no_grad():
        assert not torch.allclose(channel_major(x), theirs(x), atol=1e-3)  # the other permutation: another function
    single = nets.AOLLinear(3, 2)
    single.load_state_dict(
        {"parametrizations.weight.original": torch.ones(2, 3), "bias": torch.zeros(2)}
    )  # their layer layout
    assert bool((single.P == 1).all())


def test_version_1_model_files_keep_their_pooling_order(tmp_path):
    import nets
    from nets import model_file

    model = nets.SimplifiedConvNet(
        1, 4, base_width=4, blocks=2, layers_per_block=1, activation="maxmin", pooling_order="channel_major"
    )
    spec = {k: v for k, v in model.spec.items() if k != "pooling_order"}  # what version 1 wrote
    torch.save(
        {
            "format": "lipcpwl.nets",
            "version": 1,
            "class": "SimplifiedConvNet",
            "spec": spec,
            "state_dict": model.state_dict(),
        },
        tmp_path / "old.pt",
    )
    loaded = model_file.load(tmp_path / "old.pt")
    x = torch.rand(3, 1, 4, 4)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))
