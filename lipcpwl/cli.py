"""The ``lipcpwl`` command: ``demo``, ``prove``, ``export``, ``certify`` and ``plot``.

A user mistake (a missing file, a malformed model, ``A >= B``, a negative radius...) ends with
a one-line error on stderr and exit code 2, never a traceback; Ctrl-C ends with
"interrupted" and exit code 130.  torch, onnx and matplotlib are imported only by the
commands that use them, so ``--help`` and usage errors return at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pathlib
import re
import signal
import sys
import threading

from lipcpwl import __version__

__all__ = ["main"]

#: exit codes: 2 for a user mistake (as argparse), 130 for Ctrl-C (as a shell)
USAGE, INTERRUPTED = 2, 130
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class UsageError(Exception):
    """A user mistake: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors that point to the command's ``--help``."""

    def error(self, message):
        self.exit(USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _exact_numbers(text: str) -> list:
    """Comma-separated numbers read exactly: ``0.1`` is one tenth, ``1/3`` a third."""
    from cpwl import CPWLError, as_fraction

    try:
        return [as_fraction(v) for v in text.split(",")]
    except CPWLError as err:
        raise UsageError(f"expected comma-separated finite numbers such as 0.5,-1/3,2e-3; {err}") from err


def _exact_number(text: str):
    """One finite number, read exactly (an argparse type)."""
    from cpwl import CPWLError, as_fraction

    try:
        return as_fraction(text.strip())
    except CPWLError as err:
        raise argparse.ArgumentTypeError(f"expected a finite number such as 0.5 or -1/3, got {text.strip()!r}") from err


def _radius(text: str) -> float:
    """A perturbation radius: a finite number >= 0 (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text.strip()!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"a radius is a finite number >= 0, got {text.strip()!r}")
    return value


def _positive_int(text: str) -> int:
    """An integer >= 1 (an argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text.strip()!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _shape(text: str) -> tuple:
    """A per-sample input shape such as ``1,8,8`` (an argparse type)."""
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated sizes such as 3,32,32, got {text.strip()!r}"
        ) from None
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be >= 1, got {text.strip()!r}")
    return dims


def _existing(path: str) -> str:
    """``path`` if a file is there (checked before torch is imported, so the message is instant)."""
    if not pathlib.Path(path).is_file():
        raise UsageError(f"no model file at {path}")
    return path


def _load_model(path: str):
    from nets.model_file import load

    return load(_existing(path))


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

    return prove(["--profile", args.profile] + (["--quiet"] if args.quiet else []) + (["--json"] if args.json else []))


def _model_size(model) -> tuple:
    """The per-sample input shape a model records, or ``None``."""
    shape = getattr(model, "input_shape", None)
    if shape is None and hasattr(model, "input_dim"):
        shape = (model.input_dim,)
    return tuple(shape) if shape is not None else None


def _export_domain(args, model, graph_format):
    from cpwl import ShapeError
    from nets.export import to_cpwl

    a, b = args.domain
    if not a < b:
        raise UsageError(f"--domain needs A < B, got {a} >= {b}")
    shape = tuple(d for d in graph_format.input_shape(model) if d is not None) if graph_format else _model_size(model)
    if shape is not None and math.prod(shape) != 1:
        raise UsageError(
            f"the model's input has shape {shape}; --domain A B is for models with one input, use --line START END"
        )
    try:
        if graph_format:
            return graph_format.to_cpwl(model, domain=(a, b))
        return to_cpwl(model, domain=(a, b), canonical=not args.all_breakpoints)
    except ShapeError as err:
        raise UsageError(
            f"the model does not take a single number ({err}); --domain A B is for models with one input, use "
            "--line START END"
        ) from err


def _export_line(args, model, graph_format):
    from cpwl import ShapeError
    from nets.export import restrict_to_line

    start, end = (_exact_numbers(v) for v in args.line)  # exact: no float rounding of the endpoints
    if len(start) != len(end):
        raise UsageError(f"--line needs START and END of the same length, got {len(start)} and {len(end)}")
    if start == end:
        raise UsageError("--line needs START != END")
    shape = args.shape or (None if graph_format else _model_size(model))
    if shape is not None:
        if math.prod(shape) != len(start):
            raise UsageError(
                f"the model takes inputs of shape {shape} ({math.prod(shape)} numbers); --line got "
                f"{len(start)} numbers per point"
            )
        import numpy as np

        start, end = (np.array(p, dtype=object).reshape(shape) for p in (start, end))
    try:
        if graph_format:
            result = graph_format.restrict_to_line(model, start, end)
            return result.canonical() if not args.all_breakpoints else result
        return restrict_to_line(model, start, end, canonical=not args.all_breakpoints)
    except ShapeError as err:
        hint = (
            ""
            if args.shape
            else "; give the model's input shape with --shape (e.g. --shape 3,32,32) and that many numbers per point"
        )
        raise UsageError(f"{err}{hint}") from err


def _cmd_export(args) -> int:
    _existing(args.model)
    from nets._graph import importer_for

    graph_format = importer_for(args.model)
    if graph_format is not None:  # a graph file (ONNX or torch.export), not a nets model
        graph_format.load(args.model)  # fail early, with a clear message, on an unreadable file
        model = args.model
    else:
        model = _load_model(args.model)
    if args.domain is not None:
        result = _export_domain(args, model, graph_format)
        source = {"model": str(args.model), "x": "the model's input x", "domain": [str(v) for v in args.domain]}
    elif args.line is not None:
        result = _export_line(args, model, graph_format)
        source = {
            "model": str(args.model),
            "x": "t, the position along the segment: input = START + t (END - START), t in [0, 1]",
            "line": list(args.line),
        }
    else:
        raise UsageError("give --domain A B (models with one input) or --line START END (any model)")
    document = json.loads(result.to_json())
    document["source"] = source
    text = json.dumps(document, indent=1)
    if args.output:
        pathlib.Path(args.output).write_text(text)
    if args.json:
        print(text)
        return 0
    bps = result.breakpoints
    variable = "x" if args.domain is not None else "t (input = START + t (END - START))"
    print(f"{type(result).__name__} of {variable} on {result.domain}: {len(bps)} breakpoints")
    print("breakpoints:", ", ".join(f"{float(t):.9g}" for t in bps[:12]) + (" ..." if len(bps) > 12 else ""))
    if hasattr(result, "lipschitz_constant"):
        print(
            f"exact Lipschitz constant in {variable.split()[0]}: {result.lipschitz_constant()} (= "
            f"{float(result.lipschitz_constant()):.12g})"
        )
    if args.output and not args.quiet:
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
    shape = _model_size(model)
    if shape is not None:
        if x[0].numel() != math.prod(shape):
            raise UsageError(f"the data has {x[0].numel()} features per sample but the model takes {shape}")
        x = x.reshape(len(x), *shape)
    return x, y


def _cmd_certify(args) -> int:
    _existing(args.model)
    if args.first_change_only and args.lines is None:
        raise UsageError("--first-change-only applies to line certificates: give --lines PAIRS.npz")
    executor = _executor(args)
    from nets._graph import importer_for
    from nets.certify import lipschitz_certificate

    graph_format = importer_for(args.model)
    if graph_format is not None:  # an ONNX or torch.export file
        graph_format.load(args.model)  # fail early, with a clear message, on an unreadable file
        if args.lines is not None:  # any graph the line restriction reads, chain or not
            return _certify_lines(args, None, executor)
        from nets.graph_model import GraphModel

        model = GraphModel(args.model)
    else:
        model = _load_model(args.model)
        if args.lines is not None:
            return _certify_lines(args, model, executor)
    x, y = _data(args.data, model)
    cert = lipschitz_certificate(model, tuple(x.shape[1:]), norm=args.norm)
    reports = _scaleout().certified_accuracy(
        model if graph_format is not None else args.model,
        x,
        y,
        args.eps,
        norm=args.norm,
        lipschitz=cert.bound,
        **executor,
    )
    rows = [
        {"eps": r_eps, "certified": r.certified, "naive": r.naive, "disagreements": r.disagreements}
        for r_eps, r in zip(args.eps, reports)
    ]
    if args.json:
        layers = [
            {"path": c.path, "module": c.module, "bound": str(c.bound), "ok": c.ok, "method": c.method}
            for c in cert.layers
        ]
        document = {"norm": str(cert.norm), "layers": layers, "lipschitz_bound": str(cert.bound), "robustness": rows}
        print(json.dumps(document, indent=2))
        return 0
    print(cert.table())
    print("\n| eps | certified (proven) | naive float rule | disagreements |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['eps']} | {r['certified']:.4f} | {r['naive']:.4f} | {len(r['disagreements'])} |")
    return 0


def _scaleout():
    from nets.certify import scaleout

    return scaleout


def _executor(args) -> dict:
    """Where the shards run: in this process, a local pool (--workers) or Ray (--ray)."""
    if args.workers is not None and args.ray is not None:
        raise UsageError("give --workers N (a local pool) or --ray ADDRESS (a cluster), not both")
    return {"workers": args.workers, "ray": args.ray, "progress": not args.quiet}


def _certify_lines(args, model, executor: dict) -> int:
    """Exact distance along each segment of a pairs file to the first label change."""
    import numpy as np

    path = pathlib.Path(args.lines)
    if not path.is_file():
        raise UsageError(f"no pairs file at {path} (an .npz with arrays 'start' and 'end', one row per pair)")
    try:
        with np.load(path, allow_pickle=False) as data:
            starts, ends = data["start"], data["end"]
    except (KeyError, ValueError, OSError) as err:
        raise UsageError(f"{path}: expected an .npz with arrays 'start' and 'end' ({err})") from err
    if starts.shape != ends.shape or starts.ndim < 2:
        raise UsageError(
            f"{path}: 'start' and 'end' must have the same shape [pairs, ...], got {starts.shape} and {ends.shape}"
        )
    shape = _model_size(model)
    if shape is not None and math.prod(shape) != math.prod(starts.shape[1:]):
        raise UsageError(f"the model takes inputs of shape {shape}, the pairs have shape {starts.shape[1:]}")
    if shape is not None:
        starts, ends = starts.reshape(len(starts), *shape), ends.reshape(len(ends), *shape)
    certificates = _scaleout().line_certificates(
        args.model, list(zip(starts, ends)), lipschitz=not args.first_change_only, **executor
    )
    rows = [
        {
            "pair": k,
            "label": c.label,
            "t": None if c.t is None else str(c.t),
            "distance_squared": None if c.distance_squared is None else str(c.distance_squared),
            "lipschitz_squared": None if c.lipschitz_squared is None else str(c.lipschitz_squared),
        }
        for k, c in enumerate(certificates)
    ]
    if args.json:
        print(json.dumps({"lines": rows}, indent=2))
        return 0
    changed = [c for c in certificates if c.t is not None]
    never = len(certificates) - len(changed)
    print(f"{len(certificates)} segments: the label changes on {len(changed)}, never on {never}")
    print("\n| pair | label at start | first change t | distance to it |\n|---|---|---|---|")
    for k, c in enumerate(certificates[:20]):
        distance = "-" if c.distance_squared is None else f"{math.sqrt(c.distance_squared):.6g}"
        print(f"| {k} | {c.label} | {'-' if c.t is None else f'{float(c.t):.9g}'} | {distance} |")
    if len(certificates) > 20:
        print(f"... ({len(certificates) - 20} more; --json for all, exactly)")
    return 0


def _read_export(path: pathlib.Path):
    """The functions and the ``source`` record of a JSON written by ``lipcpwl export``."""
    import cpwl

    if not path.is_file():
        raise UsageError(f"no file at {path}")
    try:
        text = path.read_bytes().decode("utf-8")
        doc = json.loads(text)
        kind = doc.get("type")
    except (UnicodeDecodeError, ValueError, AttributeError) as err:
        raise UsageError(f"{path} is not a JSON document written by lipcpwl export") from err
    if kind == "cpwl.CPWL":
        return [cpwl.CPWL.from_json(text)], doc.get("source") or {}
    if kind == "cpwl.CPWLMap":
        return list(cpwl.CPWLMap.from_json(text).components), doc.get("source") or {}
    raise UsageError(f"{path} is not a JSON document written by lipcpwl export (its type is {kind!r})")


def _cmd_plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = pathlib.Path(args.file)
    functions, source = _read_export(path)
    along_line = "line" in source
    fig, ax = plt.subplots(figsize=(7, 4))
    constants = []
    for i, f in enumerate(functions):
        constants.append(f.lipschitz_constant())
        f.plot(ax=ax, label=f"output {i} (Lipschitz {float(constants[-1]):.4g})" if len(functions) > 1 else None)
    if len(functions) > 1:
        ax.legend(fontsize=8)
    ax.set_xlabel(
        "t, position along the segment (input = START + t (END - START))" if along_line else "x, the model's input"
    )
    ax.set_ylabel("model output")
    model = source.get("model", path.name)
    line = f" from {source['line'][0]} to {source['line'][1]}" if along_line else ""
    bound = f"exact Lipschitz constant {float(max(constants)):.6g}" + (" (in t)" if along_line else "")
    ax.set_title(f"{model}{line}\n{bound}; dots: breakpoints", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    plt.close(fig)
    if args.json:
        print(
            json.dumps(
                {"wrote": str(args.output), "source": source, "lipschitz_constants": [str(c) for c in constants]},
                indent=2,
            )
        )
    elif not args.quiet:
        print(f"wrote {args.output}")
    return 0


_EXAMPLES = {
    "demo": "example:\n  lipcpwl demo --quick --out results/",
    "prove": "example:\n  lipcpwl prove --profile ci",
    "export": "examples:\n  lipcpwl export scalar.pt --domain -3 3 -o f.json\n"
    "  lipcpwl export model.onnx --line 0,0 1,1/2 --json\n"
    "  lipcpwl export convnet.pt --shape 1,8,8 --line 0,0,...,0 1,1,...,1",
    "certify": "examples:\n  lipcpwl certify digits.pt --data digits --eps 0.1 0.25\n"
    "  lipcpwl certify digits.pt --lines pairs.npz --workers 4\n"
    "  lipcpwl certify digits.onnx --data digits --eps 0.25\n"
    "  lipcpwl certify model.pt --data test.npz --norm inf --eps 0.01 --json",
    "plot": "example:\n  lipcpwl export scalar.pt --domain -3 3 -o f.json && lipcpwl plot f.json -o f.png",
}


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lipcpwl",
        description="Exact verification of 1-Lipschitz networks.",
        epilog="Run 'lipcpwl COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"lipcpwl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text):
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=_EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    demo = command("demo", "train N-activation and MaxMin nets on the N-function, export and check them exactly")
    demo.add_argument(
        "--epochs", type=_positive_int, default=600, help="training epochs per network (default: %(default)s)"
    )
    demo.add_argument("--quick", action="store_true", help="60 epochs instead of --epochs (a smoke run)")
    demo.add_argument(
        "--out", type=pathlib.Path, default=pathlib.Path("."), help="folder for demo.png (default: the current folder)"
    )
    demo.set_defaults(run=_cmd_demo)

    prove = command("prove", "check the theorems of docs/theory.md exactly (same as python -m proofs)")
    prove.add_argument(
        "--profile",
        choices=["ci", "deep"],
        default="ci",
        help="examples per property: ci (minutes) or deep (much longer) (default: %(default)s)",
    )
    prove.set_defaults(run=_cmd_prove)

    export = command(
        "export", "exact CPWL of a saved model: nets.model_file.save (.pt), ONNX (.onnx) or torch.export (.pt2)"
    )
    export.add_argument(
        "model", help="the model file: .pt written by nets.model_file.save, .onnx, or .pt2 written by torch.export.save"
    )
    export.add_argument(
        "--domain",
        nargs=2,
        type=_exact_number,
        metavar=("A", "B"),
        help="models with one input: the interval [A, B], read exactly",
    )
    export.add_argument(
        "--line",
        nargs=2,
        metavar=("START", "END"),
        help="any model: the segment from START to END, comma-separated numbers read exactly (0.1 is one tenth, 1/3 a "
        "third); the result is a function of t in [0, 1], input = START + t (END - START)",
    )
    export.add_argument(
        "--shape", type=_shape, metavar="C,H,W", help="the model's per-sample input shape, for --line points given flat"
    )
    export.add_argument(
        "--all-breakpoints", action="store_true", help="keep breakpoints where a neuron switches but no output bends"
    )
    export.add_argument("-o", "--output", metavar="FILE", help="write the exact JSON here")
    export.set_defaults(run=_cmd_export)

    certify = command("certify", "proven Lipschitz certificate and certified robust accuracy of a saved model")
    certify.add_argument(
        "model",
        help="the model file written by nets.model_file.save, or an .onnx / .pt2 file (with --data, a graph must be "
        "a chain of layers with residual additions: see nets.graph_model)",
    )
    certify.add_argument(
        "--data",
        default="digits",
        help="'digits' (scikit-learn's, held-out part) or an .npz with arrays x and y (default: %(default)s)",
    )
    certify.add_argument(
        "--eps",
        type=_radius,
        nargs="+",
        default=[0.1, 0.25, 0.5],
        metavar="EPS",
        help="perturbation radii (>= 0) to certify (default: 0.1 0.25 0.5)",
    )
    certify.add_argument(
        "--norm",
        choices=["2", "1", "inf"],
        default="2",
        type=lambda s: s.strip().lower(),
        help="the norm of the perturbation radius and of the Lipschitz bound (default: %(default)s)",
    )
    certify.add_argument(
        "--lines",
        metavar="PAIRS.npz",
        help="instead of --data: exact line certificates for every pair of an .npz with arrays 'start' and 'end' "
        "(the distance along each segment to the first label change)",
    )
    certify.add_argument(
        "--first-change-only",
        action="store_true",
        help="with --lines: only the first label change, without the Lipschitz constant along each segment "
        "(the exact engine then runs only where the label may change, not on the whole segment; a graph file must "
        "then be a chain of layers with residual additions)",
    )
    certify.add_argument(
        "--workers", type=_positive_int, metavar="N", help="run the shards in a local pool of N processes"
    )
    certify.add_argument(
        "--ray", metavar="ADDRESS", help="run the shards as tasks on a Ray cluster ('auto', an address, or 'local')"
    )
    certify.set_defaults(run=_cmd_certify)

    plot = command("plot", "plot a JSON written by lipcpwl export, with its exact Lipschitz constant")
    plot.add_argument("file", help="a JSON file written by lipcpwl export -o")
    plot.add_argument(
        "-o", "--output", default="plot.png", metavar="FILE", help="the image to write (default: %(default)s)"
    )
    plot.set_defaults(run=_cmd_plot)

    for p in (demo, prove, export, certify, plot):
        p.add_argument("--quiet", action="store_true", help="no progress output")
        p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    return parser


def _values_not_options(argv: list) -> list:
    """argparse takes ``-1,2`` or ``-inf`` for an option; no option of ours starts with a
    digit, a dot or ``inf``/``nan``, so such tokens are values (``--line -1,-1 1,2``): a
    leading space keeps them values."""
    return [f" {a}" if re.match(r"^-(\.?\d|inf|nan)", a, flags=re.IGNORECASE) else a for a in argv]


def _one_line(err: BaseException) -> str:
    text = _ANSI.sub("", str(err)).strip() or type(err).__name__
    return " ".join(line.strip() for line in text.splitlines())


def main(argv=None) -> int:
    """Run the command line; returns the exit code (2 for user mistakes, 130 for Ctrl-C).

    Examples:
        >>> main(["--version"])  # doctest: +SKIP
        lipcpwl 0.1.0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser().parse_args(_values_not_options(argv))
        from cpwl import CPWLError

        try:
            with _ctrl_c_ends_the_command():
                return args.run(args)
        except (UsageError, CPWLError, FileNotFoundError, IsADirectoryError, PermissionError) as err:
            print(f"lipcpwl {args.command}: error: {_one_line(err)}", file=sys.stderr)
            return USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED


@contextlib.contextmanager
def _ctrl_c_ends_the_command():
    """While a command runs (in the main thread), Ctrl-C ends the process at once with
    ``interrupted`` and exit code 130: a ``KeyboardInterrupt`` can be held up inside a
    library (hypothesis, while it shrinks an example the theorem checks found) for as long
    as that library's phase lasts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        sys.stdout.flush()
        print("interrupted", file=sys.stderr, flush=True)
        os._exit(INTERRUPTED)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
