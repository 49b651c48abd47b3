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
    assert {"relu", "activations", "exact_peers", "scaling", "torch", "certification"} <= results.keys()
    assert "exact/regioncam" in printed and "N/MaxMin" in printed
