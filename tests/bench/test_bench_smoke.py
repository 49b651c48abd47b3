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
