"""The lipcpwl command end to end (subprocess), its error paths included."""

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

import nets
from nets.certify import lipschitz_certificate
from nets.model_file import save


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "lipcpwl", *args], capture_output=True, text=True, cwd=cwd)


def _assert_user_error(result, fragment):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    scalar, planar, digits = folder / "scalar.pt", folder / "planar.pt", folder / "digits.pt"
    save(nets.LipschitzMLP([1, 8, 8, 1], activation="n", layer="aol", embed=True), scalar)
    save(nets.LipschitzMLP([2, 6, 3], activation="maxmin", layer="aol"), planar)
    save(nets.LipschitzMLP([64, 16, 10], activation="maxmin", layer="aol"), digits)
    return {"scalar": scalar, "planar": planar, "digits": digits, "folder": folder}


def test_demo_quick(tmp_path):
    result = _run("demo", "--quick", "--quiet", "--json", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["theorems"]["constructed_N_network_equals_target"] is True
    assert report["theorems"]["target_fails_tight_window_test"] is True
    assert set(report["models"]) == {"N-activation + AOL", "MaxMin + AOL"}
    assert (tmp_path / "demo.png").stat().st_size > 1000


def test_export_then_plot(models, tmp_path):
    out = tmp_path / "f.json"
    result = _run("export", str(models["scalar"]), "--domain", "-1", "1", "-o", str(out))
    assert result.returncode == 0 and "exact Lipschitz constant" in result.stdout
    assert json.loads(out.read_text())["type"] == "cpwl.CPWL"
    result = _run("plot", str(out), "-o", str(tmp_path / "f.png"))
    assert result.returncode == 0 and (tmp_path / "f.png").stat().st_size > 1000
    line = _run("export", str(models["planar"]), "--line", "0,0", "1,2", "--json")
    assert line.returncode == 0 and json.loads(line.stdout)["type"] == "cpwl.CPWLMap"


def test_export_an_onnx_model(tmp_path):
    import warnings

    model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 2),), str(path), dynamo=False)
    result = _run("export", str(path), "--line", "-1,-1", "1,2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["type"] == "cpwl.CPWLMap"
    program = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 2),)), str(program))
    result = _run("export", str(program), "--line", "-1,-1", "1,2", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["type"] == "cpwl.CPWLMap"
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"garbage")
    _assert_user_error(_run("export", str(broken), "--line", "0,0", "1,1"), "ONNX")


def test_certify_on_digits_and_npz(models, tmp_path):
    result = _run("certify", str(models["digits"]), "--data", "digits", "--eps", "0.1", "0.5")
    assert result.returncode == 0 and "product:" in result.stdout and "| 0.5 |" in result.stdout
    data = tmp_path / "data.npz"
    np.savez(data, x=np.random.rand(5, 2), y=np.array([0, 1, 2, 0, 1]))
    result = _run("certify", str(models["planar"]), "--data", str(data), "--json")
    assert result.returncode == 0 and len(json.loads(result.stdout)["robustness"]) == 3
    result = _run("certify", str(models["planar"]), "--data", str(data), "--json", "--norm", "inf")
    payload = json.loads(result.stdout)
    assert result.returncode == 0 and payload["norm"] == "inf"
    assert payload["lipschitz_bound"] == str(
        lipschitz_certificate(nets.model_file.load(models["planar"]), norm="inf").bound
    )
    result = _run("certify", str(models["planar"]), "--data", str(data), "--norm", "3")
    assert result.returncode == 2 and "invalid choice: '3'" in result.stderr and "Traceback" not in result.stderr


def test_user_mistakes_exit_2_with_one_line(models, tmp_path):
    _assert_user_error(_run("export", str(tmp_path / "missing.pt"), "--domain", "0", "1"), "no model file")
    _assert_user_error(_run("export", str(models["scalar"]), "--domain", "1", "0"), "A < B")
    _assert_user_error(_run("export", str(models["planar"]), "--line", "1,1", "1,1"), "START != END")
    _assert_user_error(_run("export", str(models["planar"]), "--line", "1,x", "1,1"), "comma-separated")
    _assert_user_error(_run("export", str(models["scalar"])), "--domain")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    _assert_user_error(_run("plot", str(bad_json)), "not a JSON document")
    _assert_user_error(_run("certify", str(models["planar"]), "--data", str(tmp_path / "nope.npz")), "no data file")
    _assert_user_error(_run("certify", str(models["planar"]), "--data", "digits"), "features")


class _Exploit:
    def __reduce__(self):
        return (print, ("this code ran while loading",))


def test_model_files_are_data_not_code(tmp_path):
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"format": "lipcpwl.nets", "payload": _Exploit()}, fh)
    result = _run("export", str(evil), "--domain", "0", "1")
    _assert_user_error(result, "not a lipcpwl model file")
    assert "this code ran" not in result.stdout


def test_mistakes_a_new_user_makes(models, tmp_path):
    # each of these once ended in a traceback or in silent nonsense
    conv = tmp_path / "conv.pt"
    torch.manual_seed(0)
    save(nets.SimplifiedConvNet(1, 3, base_width=4, blocks=1, layers_per_block=1), conv)
    _assert_user_error(_run("export", str(conv), "--line", "0", "1"), "--line got 1 numbers per point")
    _assert_user_error(_run("plot", str(conv)), "not a JSON document written by lipcpwl export")
    _assert_user_error(_run("demo", "--epochs", "0"), "--epochs: expected a whole number >= 1")
    _assert_user_error(_run("certify", str(models["planar"]), "--eps", "-0.1"), "a radius is a finite number >= 0")
    _assert_user_error(_run("certify", str(models["planar"]), "--eps", "nan"), "a radius is a finite number >= 0")
    _assert_user_error(_run("export", str(models["scalar"]), "--domain", "-inf", "inf"), "expected a finite number")
    _assert_user_error(_run("export", str(models["scalar"]), "--domain", "nan", "1"), "expected a finite number")
    _assert_user_error(_run("export", str(models["planar"]), "--domain", "0", "1"), "use --line START END")
    state = tmp_path / "state.pt"
    torch.save(nets.LipschitzMLP([2, 6, 3], activation="maxmin", layer="aol").state_dict(), state)
    _assert_user_error(_run("export", str(state), "--domain", "0", "1"), "nets.model_file.save(model, file)")


def test_graph_mistakes_name_the_flag_and_the_node(tmp_path):
    import warnings

    model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    two, nan = tmp_path / "two.onnx", tmp_path / "nan.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 2),), str(two), dynamo=False)
    _assert_user_error(
        _run("export", str(two), "--domain", "0", "1"),
        "input has shape (1, 2); --domain A B is for models with one input",
    )
    with torch.no_grad():
        model[0].bias[1] = float("nan")
    torch.export.save(torch.export.export(model, (torch.zeros(1, 2),)), str(nan))
    _assert_user_error(_run("export", str(nan), "--line", "0,0", "1,1"), "node 'linear'")


def test_conv_model_line_with_an_input_shape(tmp_path):
    conv = tmp_path / "conv.pt"
    torch.manual_seed(0)
    save(nets.SimplifiedConvNet(1, 3, base_width=4, blocks=1, layers_per_block=1), conv)
    start, end = ",".join(["0"] * 16), ",".join(["1/2"] * 16)
    result = _run("export", str(conv), "--shape", "1,4,4", "--line", start, end, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["type"] == "cpwl.CPWLMap" and document["source"]["x"].startswith(
        "t, the position along the segment"
    )


def test_version_help_and_json_everywhere(models, tmp_path):
    import lipcpwl

    result = _run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"lipcpwl {lipcpwl.__version__}"
    for command in ("demo", "prove", "export", "certify", "plot"):
        text = _run(command, "--help").stdout
        assert "example" in text and "--json" in text and "--quiet" in text, command
    assert "(default: 600)" in _run("demo", "--help").stdout
    out = tmp_path / "f.json"
    assert (
        _run("export", str(models["planar"]), "--line", "0,0", "1,1", "-o", str(out), "--quiet").stdout.count("wrote")
        == 0
    )
    plotted = _run("plot", str(out), "-o", str(tmp_path / "f.png"), "--json")
    payload = json.loads(plotted.stdout)
    assert (
        plotted.returncode == 0
        and len(payload["lipschitz_constants"]) == 3
        and payload["source"]["line"] == ["0,0", "1,1"]
    )
    assert _run("plot", str(out), "-o", str(tmp_path / "g.png"), "--quiet").stdout == ""


def test_prove_json(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "proofs", "--only", "linf_contrast", "--json", "--quiet"], capture_output=True, text=True
    )
    payload = json.loads(result.stdout)
    assert result.returncode == 0 and payload["passed"] and payload["results"][0]["section"] == "5"


def test_ctrl_c_prints_interrupted_and_exits_130():
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "lipcpwl", "prove"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first = (
        process.stderr.readline()
    )  # the first result's progress line: well inside the checks, however busy the machine
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    err = first + err
    assert process.returncode == 130 and err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err


def test_error_messages_are_one_plain_line():
    from lipcpwl.cli import _one_line

    assert _one_line(RuntimeError("\x1b[31mshape\x1b[0m mismatch\n  at layer 3")) == "shape mismatch at layer 3"
    assert _one_line(KeyError()) == "KeyError"


def test_help_and_usage_errors_do_not_import_torch(tmp_path):
    for args in (
        ["--help"],
        ["export", "--help"],
        ["demo", "--epochs", "0"],
        ["export", str(tmp_path / "none.pt"), "--domain", "0", "1"],
    ):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "lipcpwl", *args], capture_output=True, text=True
        )
        imported = {
            line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
        }
        assert result.returncode in (0, 2) and "torch" not in imported and "onnx" not in imported, args


def test_certify_lines_and_workers(models, tmp_path):
    pairs = tmp_path / "pairs.npz"
    rng = np.random.default_rng(0)
    np.savez(pairs, start=rng.random((6, 2)), end=3 * rng.random((6, 2)) - 1)
    alone = _run("certify", str(models["planar"]), "--lines", str(pairs), "--json", "--quiet")
    pooled = _run("certify", str(models["planar"]), "--lines", str(pairs), "--json", "--quiet", "--workers", "2")
    assert alone.returncode == 0 and pooled.returncode == 0, pooled.stderr
    assert json.loads(alone.stdout) == json.loads(pooled.stdout) and len(json.loads(alone.stdout)["lines"]) == 6
    first = _run("certify", str(models["planar"]), "--lines", str(pairs), "--first-change-only", "--json", "--quiet")
    assert first.returncode == 0, first.stderr
    whole = json.loads(alone.stdout)["lines"]
    assert [r["lipschitz_squared"] for r in json.loads(first.stdout)["lines"]] == [None] * 6
    assert all(r["lipschitz_squared"] is not None for r in whole)
    assert [{**r, "lipschitz_squared": None} for r in whole] == json.loads(first.stdout)["lines"]
    _assert_user_error(_run("certify", str(models["planar"]), "--first-change-only"), "give --lines")
    _assert_user_error(_run("certify", str(models["planar"]), "--workers", "2", "--ray", "auto"), "not both")
    _assert_user_error(_run("certify", str(models["planar"]), "--lines", str(tmp_path / "none.npz")), "no pairs file")
    np.savez(tmp_path / "bad.npz", start=rng.random((6, 3)), end=rng.random((6, 3)))
    _assert_user_error(_run("certify", str(models["planar"]), "--lines", str(tmp_path / "bad.npz")), "inputs of shape")


def test_certify_onnx_and_pt2_files(tmp_path):
    """A graph file certifies along segments exactly as the torch model it came from, and its
    certified accuracy (a proven bound of the graph's chain of layers) is the model's; a graph
    that is not a chain is refused, naming the node."""
    import warnings

    from nets.certify import certified_robust_accuracy, line_certificate

    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(2, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).eval()
    onnx_path, pt2_path = tmp_path / "m.onnx", tmp_path / "m.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 2),), str(onnx_path), dynamo=False)
    torch.export.save(torch.export.export(model, (torch.zeros(1, 2),)), str(pt2_path))
    rng = np.random.default_rng(1)
    starts, ends = rng.standard_normal((5, 2)), 3 * rng.standard_normal((5, 2))
    np.savez(tmp_path / "pairs.npz", start=starts, end=ends)
    expected = [line_certificate(model, a, b) for a, b in zip(starts, ends)]
    assert sum(c.t is not None for c in expected) >= 2  # label changes to find
    for path in (onnx_path, pt2_path):
        result = _run("certify", str(path), "--lines", str(tmp_path / "pairs.npz"), "--json", "--quiet")
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)["lines"]
        assert [r["t"] for r in rows] == [None if c.t is None else str(c.t) for c in expected]
        assert [r["label"] for r in rows] == [c.label for c in expected]
        first = _run("certify", str(path), "--lines", str(tmp_path / "pairs.npz"), "--first-change-only", "--json")
        assert first.returncode == 0, first.stderr
        assert [{**r, "lipschitz_squared": None} for r in rows] == json.loads(first.stdout)["lines"]
    x = rng.standard_normal((30, 2)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    want = certified_robust_accuracy(model, torch.from_numpy(x), torch.from_numpy(y), "1/10")
    assert 0 < want.certified
    for path in (onnx_path, pt2_path):
        result = _run("certify", str(path), "--data", str(tmp_path / "data.npz"), "--eps", "0.1", "--json", "--quiet")
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["lipschitz_bound"] == str(want.lipschitz)
        assert document["robustness"][0]["certified"] == want.certified
        _assert_user_error(_run("certify", str(path), "--data", "digits"), "features per sample")
    branches = tmp_path / "branches.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_TwoBranches().eval(), (torch.zeros(1, 2),), str(branches), dynamo=False)
    _assert_user_error(_run("certify", str(branches), "--data", str(tmp_path / "data.npz")), "node '")
    assert _run("certify", str(branches), "--lines", str(tmp_path / "pairs.npz"), "--quiet").returncode == 0
    first = _run("certify", str(branches), "--lines", str(tmp_path / "pairs.npz"), "--first-change-only")
    _assert_user_error(first, "node '")  # the screen reads a chain of layers only


class _TwoBranches(torch.nn.Module):
    """Concatenates two branches: a graph, but not a chain of layers."""

    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)

    def forward(self, x):
        return torch.cat([torch.relu(self.a(x)), self.b(x)], dim=1)
