"""The benchmark entry point runs in its quick mode (timings are never asserted)."""

from bench import export_timing


def test_export_timing_quick(capsys):
    assert export_timing.main(["--quick"]) == 0
    assert "16x2" in capsys.readouterr().out
