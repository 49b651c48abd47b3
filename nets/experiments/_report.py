"""Shared command-line options, result tables and JSON output of the experiments."""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics


def parser(description: str, epochs: int, seeds: int) -> argparse.ArgumentParser:
    """The options every experiment takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
    p.add_argument("--seeds", type=int, default=seeds, help=f"number of seeds (default {seeds})")
    p.add_argument("--quick", action="store_true", help="a tiny run for smoke tests (few epochs, one seed)")
    p.add_argument(
        "--out", type=pathlib.Path, default=pathlib.Path("experiment_results"), help="folder for the JSON and PNG"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    return p


def mean_std(values: list) -> str:
    """``mean ± std`` with 4 significant digits (std 0 for one value)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4g} ± {std:.2g}"


def table(header: list, rows: list) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(out: pathlib.Path, name: str, payload: dict) -> pathlib.Path:
    """Write ``payload`` to ``out/name.json`` and return the path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots`` on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def publish(out: pathlib.Path, name: str, payload: dict, draw) -> None:
    """Write ``out/name.json``, save the figure ``draw(payload)`` returns as ``out/name.png``,
    and say where both went."""
    import matplotlib.pyplot as plt

    path = write_json(out, name, payload)
    fig = draw(payload)
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=120)
    plt.close(fig)
    print(f"wrote {path} and {out / f'{name}.png'}")
