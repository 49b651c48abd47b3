"""The benchmark entry point runs in its quick mode (timings are never asserted)."""

import json

from bench.__main__ import PARTS, main


def test_bench_quick(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    results = json.loads(out.read_text())
    relu = results["relu"][0]
    assert relu["breakpoints"] > 0 and relu["float64"]["breakpoints"] == relu["breakpoints"]
    assert set(PARTS) <= results.keys()
    assert all(row["same_answer"] for row in results["lines"]["rows"])  # lazy and whole exact answers agree
    assert all(row["same_verdicts_as_float64_path"] for row in results["certification"]["rows"])
    for row in results["activations"] + results["conv"]:  # the float reference sees the same breakpoints
        assert row["breakpoints"] > 0 and row["float64"]["breakpoints"] == row["breakpoints"], row
    assert "exact/regioncam" in printed and "N/MaxMin" in printed and "exact peak GiB" in printed


def test_conv_row_s_exact_run_on_a_residue_device_gives_the_same_breakpoints():
    """Part 8's exact contender with its residue products in torch (``"cpu"`` here, ``"cuda"``
    in the bench where a GPU is present) finds the numpy run's breakpoints, exactly."""
    import io
    import pickle

    from bench import conv_nets
    from nets.export import to_network

    size, base, blocks, images, epochs = conv_nets.QUICK[0]
    model, a, b = conv_nets.trained_net(size, base, blocks, images, epochs)
    net = to_network(model, input_shape=(3, size, size))
    buffer = io.BytesIO()
    pickle.dump((net, a.flatten().double().tolist(), b.flatten().double().tolist(), 2**30), buffer)
    numpy_run, torch_run = conv_nets._exact(buffer.getvalue()), conv_nets._exact(buffer.getvalue(), "cpu")
    assert len(numpy_run["exact_breakpoints"]) > 0
    assert torch_run["exact_breakpoints"] == numpy_run["exact_breakpoints"]
