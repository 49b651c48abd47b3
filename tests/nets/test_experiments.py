"""The experiment entry points run end to end in their quick mode (so they cannot rot)."""

import json

import pytest

from nets.experiments import digits, families, toy_fit


@pytest.mark.parametrize("module, name", [(toy_fit, "toy_fit"), (digits, "digits")])
def test_experiment_quick_mode(module, name, tmp_path, capsys):
    assert module.main(["--quick", "--quiet", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / f"{name}.json").read_text())
    assert payload["seeds"] == 1
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert "|" in capsys.readouterr().out


def test_toy_fit_runs_are_the_papers_four():
    assert [a for a, _ in toy_fit.RUNS.values()] == ["relu", "maxmin", "abs", "n"]
    assert [layer for _, layer in toy_fit.RUNS.values()] == ["plain", "aol", "aol", "aol"]


def test_digits_data_is_in_the_unit_cube():
    x_train, y_train, x_test, y_test = digits.load()
    assert x_train.shape[1:] == (1, 8, 8) and len(x_train) + len(x_test) == 1797
    assert float(x_train.min()) >= 0 and float(x_train.max()) <= 1
    assert set(y_test.tolist()) <= set(range(10))


def test_families_quick_mode(tmp_path, capsys):
    """Every family row is produced; the exact exports agree with the libraries' forward
    passes to float32 rounding, and the l2-norm pooling model is refused by exact export."""
    assert families.main(["--quick", "--quiet", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "families.json").read_text())["rows"]
    refused = [r["family"] for r in rows if r["export"].startswith("refused")]
    assert refused == ["deel-torchlip conv: SpectralConv2d, MaxMin, ScaledL2NormPool2d"]
    assert all(r["max_difference"] < 1e-5 for r in rows if "max_difference" in r)
    # where the proven bound is no better than the library's claim, the proof certifies no more
    assert all(r["proven"] <= r["library_rule"] for r in rows if "proven" in r and r["bound"] >= r["claim"])
    assert "monotonicnetworks" in capsys.readouterr().out
