"""The benchmark entry point runs in its quick mode (timings are never asserted)."""

import json

from bench.__main__ import main


def test_bench_quick(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    results = json.loads(out.read_text())
    relu = results["relu"][0]
    assert relu["breakpoints"] > 0 and relu["float64"]["breakpoints"] == relu["breakpoints"]
    assert {"relu", "activations", "conv", "exact_peers", "scaling", "torch", "certification"} <= results.keys()
    for row in results["activations"] + results["conv"]:  # the float reference sees the same breakpoints
        assert row["breakpoints"] > 0 and row["float64"]["breakpoints"] == row["breakpoints"], row
    assert "exact/regioncam" in printed and "N/MaxMin" in printed and "exact peak GiB" in printed
