"""The ``lipcpwl`` command: ``demo``, ``prove``, ``export``, ``certify`` and ``plot``.

A user mistake (a missing file, a malformed model, ``A >= B``...) ends with a one-line error
on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys

__all__ = ["main"]


class UsageError(Exception):
    """A user mistake: reported in one line, exit code 2."""


def _exact_numbers(text: str) -> list:
    """Comma-separated numbers read exactly: ``0.1`` is one tenth, ``1/3`` a third."""
    from cpwl import CPWLError, as_fraction

    try:
        return [as_fraction(v) for v in text.split(",")]
    except CPWLError as err:
        raise UsageError(f"expected comma-separated numbers such as 0.5,-1/3,2e-3; {err}") from err


def _load_model(path: str):
    from nets.io import load

    return load(path)


def _cmd_demo(args) -> int:
    from lipcpwl import demo

    epochs = 60 if args.quick else args.epochs
    result = demo.run(epochs=epochs, progress=not args.quiet)
    args.out.mkdir(parents=True, exist_ok=True)
    png = args.out / "demo.png"
    demo.draw(result, png)
    if args.json:
        print(json.dumps(result["report"], indent=2))
    else:
        print(demo.summary(result["report"]))
        print(f"\nwrote {png}")
    return 0


def _cmd_prove(args) -> int:
    from proofs.__main__ import main as prove

    return prove(["--profile", args.profile] + (["--quiet"] if args.quiet else []))


def _cmd_export(args) -> int:
    from nets import onnx_import, pt2_import
    from nets.export import restrict_to_line, to_cpwl

    graph_format = {".onnx": onnx_import, ".pt2": pt2_import}.get(pathlib.Path(args.model).suffix)
    is_graph = graph_format is not None  # a graph file (ONNX or torch.export), not a nets model
    if is_graph:
        graph_format.load(args.model)  # fail early, with a clear message, on an unreadable file
        model = args.model
    else:
        model = _load_model(args.model)
    if args.domain is not None:
        a, b = args.domain
        if not a < b:
            raise UsageError(f"--domain needs A < B, got {a} >= {b}")
        if is_graph:
            result = graph_format.to_cpwl(model, domain=(a, b))
        else:
            result = to_cpwl(model, domain=(a, b), canonical=not args.all_breakpoints)
    elif args.line is not None:
        start, end = (_exact_numbers(v) for v in args.line)  # exact: no float rounding of the endpoints
        if len(start) != len(end):
            raise UsageError(f"--line needs START and END of the same length, got {len(start)} and {len(end)}")
        if start == end:
            raise UsageError("--line needs START != END")
        if is_graph:
            result = graph_format.restrict_to_line(model, start, end)
            result = result.canonical() if not args.all_breakpoints else result
        else:
            result = restrict_to_line(model, start, end, canonical=not args.all_breakpoints)
    else:
        raise UsageError("give --domain A B (scalar-input models) or --line START END")
    text = result.to_json()
    if args.output:
        pathlib.Path(args.output).write_text(text)
    if args.json:
        print(text)
    else:
        bps = result.breakpoints
        print(f"{type(result).__name__} on {result.domain}: {len(bps)} breakpoints")
        print("breakpoints:", ", ".join(f"{float(t):.9g}" for t in bps[:12]) + (" ..." if len(bps) > 12 else ""))
        if hasattr(result, "lipschitz_constant"):
            print(f"exact Lipschitz constant: {result.lipschitz_constant()} (= {float(result.lipschitz_constant()):.12g})")
        if args.output:
            print(f"wrote {args.output}")
    return 0


def _data(spec: str, model):
    import numpy as np
    import torch

    if spec == "digits":
        from nets.experiments.digits import load

        _, _, x, y = load()
    else:
        path = pathlib.Path(spec)
        if not path.is_file():
            raise UsageError(f"no data file at {path} (use 'digits' or an .npz with arrays x and y)")
        try:
            with np.load(path, allow_pickle=False) as data:
                x, y = torch.tensor(data["x"], dtype=torch.float32), torch.tensor(data["y"], dtype=torch.long)
        except (KeyError, ValueError, OSError) as err:
            raise UsageError(f"{path}: expected an .npz with arrays 'x' and 'y' ({err})") from err
    shape = getattr(model, "input_shape", None)
    if shape is None and hasattr(model, "input_dim"):
        shape = (model.input_dim,)
    if shape is not None:
        if x[0].numel() != int(np.prod(shape)):
            raise UsageError(f"the data has {x[0].numel()} features per sample but the model takes {shape}")
        x = x.reshape(len(x), *shape)
    return x, y


def _cmd_certify(args) -> int:
    from nets.certify import Certifier, lipschitz_certificate

    model = _load_model(args.model)
    x, y = _data(args.data, model)
    cert = lipschitz_certificate(model, norm=args.norm)
    certifier = Certifier(model, tuple(x.shape[1:]), norm=args.norm, lipschitz=cert.bound)  # translated once for every radius
    rows = []
    for eps in args.eps:
        report = certifier.report(x, y, eps)
        rows.append({"eps": eps, "certified": report.certified, "naive": report.naive, "disagreements": report.disagreements})
    if args.json:
        layers = [{"path": c.path, "module": c.module, "bound": str(c.bound), "ok": c.ok, "method": c.method} for c in cert.layers]
        print(json.dumps({"norm": str(cert.norm), "layers": layers, "lipschitz_bound": str(cert.bound), "robustness": rows}, indent=2))
        return 0
    print(cert.table())
    print("\n| eps | certified (proven) | naive float rule | disagreements |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['eps']} | {r['certified']:.4f} | {r['naive']:.4f} | {len(r['disagreements'])} |")
    return 0


def _cmd_plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import cpwl

    path = pathlib.Path(args.file)
    if not path.is_file():
        raise UsageError(f"no file at {path}")
    text = path.read_text()
    try:
        kind = json.loads(text).get("type")
    except (ValueError, AttributeError) as err:
        raise UsageError(f"{path} is not a JSON document written by lipcpwl export") from err
    functions = [cpwl.CPWL.from_json(text)] if kind == "cpwl.CPWL" else list(cpwl.CPWLMap.from_json(text).components)
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, f in enumerate(functions):
        f.plot(ax=ax, label=f"output {i}" if len(functions) > 1 else None)
    if len(functions) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    plt.close(fig)
    print(f"wrote {args.output}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lipcpwl", description="Exact verification of 1-Lipschitz networks.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train N-activation and MaxMin nets on the N-function, export and check them exactly")
    demo.add_argument("--epochs", type=int, default=600)
    demo.add_argument("--quick", action="store_true", help="a few seconds instead of about half a minute")
    demo.add_argument("--out", type=pathlib.Path, default=pathlib.Path("."), help="folder for demo.png")
    demo.set_defaults(run=_cmd_demo)

    prove = sub.add_parser("prove", help="check the theorems (same as python -m proofs)")
    prove.add_argument("--profile", choices=["ci", "deep"], default="ci")
    prove.set_defaults(run=_cmd_prove)

    export = sub.add_parser("export", help="exact CPWL of a saved model: nets.io.save (.pt), ONNX (.onnx) or torch.export (.pt2)")
    export.add_argument("model")
    export.add_argument("--domain", nargs=2, type=float, metavar=("A", "B"), help="scalar-input models: the interval [A, B]")
    export.add_argument("--line", nargs=2, metavar=("START", "END"), help="comma-separated input points, read exactly (0.1 is one tenth, 1/3 a third)")
    export.add_argument("--all-breakpoints", action="store_true", help="keep breakpoints where a neuron switches but no output bends")
    export.add_argument("-o", "--output", help="write the exact JSON here")
    export.set_defaults(run=_cmd_export)

    certify = sub.add_parser("certify", help="proven Lipschitz certificate and certified robust accuracy of a saved model")
    certify.add_argument("model")
    certify.add_argument("--data", default="digits", help="'digits' (scikit-learn's, held-out part) or an .npz with x and y")
    certify.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.25, 0.5])
    certify.add_argument("--norm", choices=["2", "1", "inf"], default="2", type=lambda s: s.strip().lower(),
                         help="the norm of the perturbation radius and of the Lipschitz bound (default: 2)")
    certify.set_defaults(run=_cmd_certify)

    plot = sub.add_parser("plot", help="plot a JSON written by lipcpwl export")
    plot.add_argument("file")
    plot.add_argument("-o", "--output", default="plot.png")
    plot.set_defaults(run=_cmd_plot)

    for p in (demo, prove, export, certify, plot):
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code (2 for user mistakes)."""
    from cpwl import CPWLError

    argv = sys.argv[1:] if argv is None else list(argv)
    # argparse takes "-1,2" for an option; no option of ours starts with a digit, so such
    # tokens are values (points like --line -1,-1 1,2): a leading space keeps them values.
    argv = [f" {a}" if re.match(r"^-\.?\d", a) else a for a in argv]
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, CPWLError, FileNotFoundError, IsADirectoryError, PermissionError) as err:
        print(f"lipcpwl {args.command}: error: {err}", file=sys.stderr)
        return 2
