"""``python -m bench``: every benchmark of lipcpwl in one run; prints markdown tables with
ratios and writes the numbers as JSON.  ``--quick`` runs tiny sizes (the smoke test uses it).

Timings are medians of repeats on this machine; they are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from bench import (
    certification,
    conv_nets,
    exact_peers,
    line_certificates,
    line_restriction,
    scaleout,
    scaling,
    torch_activations,
)

#: The parts of the default run, in order (``scaleout`` runs only when named).
PARTS = ("relu", "activations", "conv", "exact_peers", "scaling", "torch", "certification", "lines")

FULL = {
    "relu": [(16, 2), (64, 3), (256, 4), (512, 6), (1024, 4)],
    "activations": [(64, 3), (256, 4)],
    "conv": conv_nets.FULL,
    "exact_peers": [(2, 1), (4, 2), (16, 2)],
    "width_sweep": [(32, 3), (64, 3), (128, 3), (256, 3), (512, 3)],
    "depth_sweep": [(64, 2), (64, 4), (64, 6), (64, 8)],
    "torch_shape": (256, 64, 32, 32),
    "epochs": 10,
    "cap_s": 30,
    "lines": {"width": 1024, "depth": 4, "per_kind": 2, "rounds": 3},
}
QUICK = {
    "relu": [(16, 2)],
    "activations": [(8, 2)],
    "conv": conv_nets.QUICK,
    "exact_peers": [(2, 1)],
    "width_sweep": [(8, 2), (16, 2)],
    "depth_sweep": [(8, 1), (8, 2)],
    "torch_shape": (4, 8, 4, 4),
    "epochs": 1,
    "cap_s": 5,
    "lines": {"width": 64, "depth": 2, "per_kind": 1, "rounds": 1},
}


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _table(headers: list, rows: list) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def run(quick: bool, repeats: int, parts: list) -> dict:
    """Run the selected parts; returns everything measured."""
    cfg = QUICK if quick else FULL
    out = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpus": torch.get_num_threads(),
            "platform": platform.platform(),
        }
    }
    if "relu" in parts:
        out["relu"] = [
            line_restriction.relu_row(w, d, init, repeats) for w, d in cfg["relu"] for init in ("spectral", "he")
        ]
    if "activations" in parts:
        out["activations"] = [
            line_restriction.activation_row(w, d, a, repeats)
            for w, d in cfg["activations"]
            for a in ("abs", "n", "maxmin", "groupsort")
        ]
    if "conv" in parts:
        out["conv"] = [conv_nets.row(*c, with_float=c[0] <= 16) for c in cfg["conv"]]
    if "exact_peers" in parts:
        out["exact_peers"] = [exact_peers.row(w, d, cfg["cap_s"]) for w, d in cfg["exact_peers"]]
    if "scaling" in parts:
        out["scaling"] = {
            "width": scaling.sweep(cfg["width_sweep"], repeats),
            "depth": scaling.sweep(cfg["depth_sweep"], repeats),
        }
    if "torch" in parts:
        out["torch"] = [torch_activations.compare(cfg["torch_shape"], repeats=5 if quick else 20)]
        if torch.cuda.is_available():
            out["torch"].append(torch_activations.compare(cfg["torch_shape"], repeats=50, device="cuda"))
    if "certification" in parts:
        out["certification"] = certification.compare(epochs=cfg["epochs"], rounds=3 if quick else 15)
    if "lines" in parts:
        out["lines"] = line_certificates.compare(**cfg["lines"])
    if "scaleout" in parts:
        out["scaleout"] = scaleout.compare(pairs=40 if quick else 2000, shard_size=10 if quick else 50)
    return out


def report(results: dict) -> str:
    """The markdown tables of a results dict."""
    parts = []
    if "relu" in results:
        rows = [
            [
                r["network"],
                r["init"],
                r["breakpoints"],
                r["exact_s"],
                r["regioncam_s"],
                r["float64_s"],
                r["exact_over_regioncam"],
                r["exact_over_float64"],
                f"{r['regioncam']['breakpoints']} / {_fmt(r['regioncam']['max_position_gap'])}",
                f"{r['float64']['breakpoints']} / {_fmt(r['float64']['max_position_gap'])}",
            ]
            for r in results["relu"]
        ]
        parts.append(
            "### 1. ReLU MLPs on [-4, 4]: exact vs regioncam (float32) vs float64 numpy\n\n"
            + _table(
                [
                    "net",
                    "init",
                    "exact bps",
                    "exact s",
                    "regioncam s",
                    "float64 s",
                    "exact/regioncam",
                    "exact/float64",
                    "regioncam bps / max gap",
                    "float64 bps / max gap",
                ],
                rows,
            )
        )
    if "activations" in results:
        rows = [
            [
                r["network"],
                r["activation"],
                r["breakpoints"],
                r["exact_s"],
                r["float64_s"],
                r["exact_over_float64"],
                f"{r['float64']['breakpoints']} / {_fmt(r['float64']['max_position_gap'])}",
            ]
            for r in results["activations"]
        ]
        parts.append(
            "### 2. Other activations on [-4, 4]: exact vs the float64 vertex reference\n\n"
            + _table(
                ["net", "activation", "exact bps", "exact s", "float64 s", "exact/float64", "float64 bps / max gap"],
                rows,
            )
        )
    if "conv" in results:
        rows = [
            [
                r["network"],
                r["activation_layers"],
                r.get("breakpoints"),
                r.get("exact_s"),
                r.get("gpu_s"),
                r.get("gpu_same_breakpoints"),
                r.get("float64_s"),
                r.get("exact_over_float64"),
                f"{r['exact_peak_gib']:.2f} (budget {r['budget_gib']:g})" if "exact_peak_gib" in r else None,
                f"{r['float64']['breakpoints']} / {_fmt(r['float64']['max_position_gap'])}" if "float64" in r else None,
            ]
            for r in results["conv"]
        ]
        parts.append(
            "### 8. Trained conv nets (SimplifiedConvNet, MaxMin), the segment between two test digits\n\n"
            + _table(
                [
                    "net",
                    "activation layers",
                    "exact bps",
                    "exact s",
                    "exact on GPU s",
                    "GPU = CPU",
                    "float64 s",
                    "exact/float64",
                    "exact peak GiB",
                    "float64 bps / max gap",
                ],
                rows,
            )
        )
    if "exact_peers" in results:
        rows = [
            [
                r["network"],
                r["breakpoints"],
                r["exact_s"],
                r["reference_engine_s"],
                r["fraction_walk_s"],
                r["sympy_s"],
                r["walk_over_exact"],
                r["sympy_over_exact"],
            ]
            for r in results["exact_peers"]
        ]
        cap = results["exact_peers"][0]["cap_s"]
        parts.append(
            f"### 3. Exact alternatives (— = over the {cap} s cap)\n\n"
            + _table(
                [
                    "net",
                    "breakpoints",
                    "engine s",
                    "reference engine s",
                    "Fraction walk s",
                    "sympy s",
                    "walk/engine",
                    "sympy/engine",
                ],
                rows,
            )
        )
    if "scaling" in results:
        for name, sweep in results["scaling"].items():
            rows = [[r["network"], r["breakpoints"], r["exact_s"]] for r in sweep["rows"]]
            parts.append(
                f"### 4. Scaling, {name} sweep: time ~ breakpoints^{_fmt(sweep['exponent'])}\n\n"
                + _table(["net", "breakpoints", "exact s"], rows)
            )
    if "torch" in results:
        rows = [
            [
                r["device"],
                "x".join(map(str, r["shape"])),
                r["seconds"]["n_activation"],
                r["seconds"]["maxmin"],
                r["seconds"]["n_three_where"],
                r["n_over_maxmin"],
                r["n_over_three_where"],
            ]
            for r in results["torch"]
        ]
        parts.append(
            "### 5. Forward + backward, float32\n\n"
            + _table(
                ["device", "shape", "NActivation s", "MaxMin s", "three-where s", "N/MaxMin", "N/three-where"], rows
            )
        )
    if "certification" in results:
        c = results["certification"]
        rows = [
            [
                r["model"],
                _fmt(r["proven"], 4) + " / " + _fmt(r["naive_accuracy"], 4),
                r["screen_decided"],
                r["naive_s"],
                r["proven_over_naive"],
                r["proven_and_naive_over_naive"],
                r["float64_path_over_naive"],
                r["one_call_over_naive"],
                r["first_call_over_naive"],
                r["same_verdicts_as_float64_path"],
            ]
            for r in c["rows"]
        ]
        parts.append(
            f"### 6. Certified robust accuracy at eps = {c['eps']}, held-out digits, interleaved rounds\n\n"
            "Times over the naive rule (the model's forward pass and the float margin rule) on the same "
            "samples: the proven rule alone (prepared `Certifier`, `naive=False`), with the naive rule beside "
            "it, with the float32 screen switched off (the float64 path), the one-call function on an "
            "unchanged model (it reuses its first call's translation), and a first call (a new `Certifier`: "
            "translation and preparation included).\n\n"
            + _table(
                [
                    "model",
                    "certified: proven / naive",
                    "decided by the screen",
                    "naive s",
                    "proven / naive",
                    "proven + naive / naive",
                    "float64 path / naive",
                    "one call / naive",
                    "first call / naive",
                    "same verdicts",
                ],
                rows,
            )
        )
    if "lines" in results:
        c = results["lines"]
        rows = [
            [
                r["segment"],
                r["whole_breakpoints"],
                "-" if r["t"] is None else _fmt(r["t"], 6),
                r["exact_fraction_of_segment"],
                r["regioncam_s"],
                r["first_change_s"],
                r["one_call_s"],
                r["whole_exact_s"],
                r["first_change_over_regioncam"],
                r["one_call_over_regioncam"],
                r["whole_exact_over_regioncam"],
                r["same_answer"],
            ]
            for r in c["rows"]
        ]
        parts.append(
            f"### 9. First label change along a segment, {c['network']}\n\n"
            f"`LineCertifier` prepared once in {_fmt(c['prepare_s'])} s (proven Lipschitz bound "
            f"{_fmt(c['lipschitz_bound'], 6)}); interleaved rounds against regioncam's restriction of the same "
            "segment, `line_certificate(..., lipschitz=False)` (preparing its certifier in every call) and the exact "
            "restriction of the whole segment (what `line_certificate` computes by default).\n\n"
            + _table(
                [
                    "segment",
                    "breakpoints",
                    "first change t",
                    "restricted exactly",
                    "regioncam s",
                    "first_change s",
                    "line_certificate(lipschitz=False) s",
                    "whole exact s",
                    "first_change / regioncam",
                    "line_certificate(lipschitz=False) / regioncam",
                    "whole exact / regioncam",
                    "same answer",
                ],
                rows,
            )
        )
    if "scaleout" in results:
        c = results["scaleout"]
        rows = [
            [name, c[f"{key}_s"], c.get(f"{key}_speedup", 1.0), c[f"{key}_identical"]]
            for name, key in (
                ("one process", "in_process"),
                ("local pool, 2 workers", "workers_2"),
                ("Ray, 2 workers", "ray_2"),
            )
            if f"{key}_s" in c
        ]
        parts.append(
            f"### 7. Exact line certificates for {c['pairs']} pairs of digits (shards of {c['shard_size']}; "
            f"{c['label_changes']} segments change label)\n\n"
            + _table(["executor", "seconds", "speed-up", "same certificates"], rows)
        )
    return "\n\n".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per timing (median); default 3")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[*PARTS, "scaleout"],
        help="run only these parts (scaleout, which starts processes and a local Ray instance, runs only when named)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("bench/results/latest.json"),
        help="where to write the numbers (default bench/results/latest.json)",
    )
    args = parser.parse_args(argv)
    parts = args.only or list(PARTS)
    start = time.perf_counter()
    results = run(args.quick, 1 if args.quick else args.repeats, parts)
    results["total_s"] = time.perf_counter() - start
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(report(results))
    print(f"\n{results['total_s']:.0f} s in all; numbers in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
