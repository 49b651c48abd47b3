"""3. Malformed input ends in the library's typed error (or exit code 2 on the command line),
never in an unrelated exception: JSON documents, ONNX and torch.export files, CLI arguments."""

import contextlib
import io
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cpwl
from cpwl import CPWL, CPWLMap
from lipcpwl.cli import main
from nets import onnx_import, pt2_import

SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # examples: the profile's


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def _onnx():
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_model().eval(), (torch.zeros(1, 2),), buffer, dynamo=False)
    return buffer.getvalue()


def _pt2():
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(_model().eval(), (torch.zeros(1, 2),)), buffer)
    return buffer.getvalue()


ONNX, PT2 = _onnx(), _pt2()


def _mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for position, value in edits:
        out[position % len(out)] = value
    return bytes(out)


edits = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8)


@SETTINGS
@given(edits)
def test_mutated_onnx_files_give_typed_errors(changes):
    try:
        onnx_import.restrict_to_line(_mutate(ONNX, changes), [0.0, 0.0], [1.0, 1.0])
    except cpwl.CPWLError:
        pass


@settings(max_examples=max(25, settings.default.max_examples // 3))  # a third of the profile's
@given(edits)
def test_mutated_pt2_files_give_typed_errors(changes):
    try:
        pt2_import.restrict_to_line(_mutate(PT2, changes), [0.0, 0.0], [1.0, 1.0])
    except cpwl.CPWLError:
        pass


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_are_not_models(data):
    for importer in (onnx_import, pt2_import):
        with pytest.raises(cpwl.CPWLError):
            importer.restrict_to_line(data, [0.0], [1.0])


@SETTINGS
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=4),
        max_leaves=12,
    )
)
def test_json_shaped_garbage_is_refused(doc):
    import json

    for reader in (CPWL.from_json, CPWLMap.from_json):
        with pytest.raises(cpwl.SerializationError):
            reader(json.dumps(doc))


TOKENS = [
    "export",
    "certify",
    "plot",
    "--domain",
    "--line",
    "--eps",
    "--data",
    "-o",
    "--json",
    "--quiet",
    "0",
    "1",
    "-1",
    "1,2",
    "0,0",
    "nan",
    "inf",
    "digits",
    "x.npz",
    "model.pt",
    "f.json",
    "--all-breakpoints",
]


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=7))
def test_cli_arguments_end_in_0_or_2(tmp_path_factory, argv):
    folder = tmp_path_factory.mktemp("cli")
    (folder / "f.json").write_text("{}")
    (folder / "model.pt").write_bytes(b"not a model")
    argv = [str(folder / t) if t in ("x.npz", "model.pt", "f.json") else t for t in argv]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse: usage errors exit 2, --help exits 0
            code = exit_.code
    assert code in (0, 2)
