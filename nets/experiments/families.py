"""The field's model families, trained briefly and then exported and certified by lipcpwl:
exact export checked against each library's own forward pass, the proven Lipschitz bound next
to the library's own claim, and certified accuracy by the proof and by the library's rule.

Run ``python -m nets.experiments.families`` (``--quick`` for a smoke test).  Writes
``families.json`` and prints the table.  Data: scikit-learn's digits (8x8, pixels in [0, 1],
25% held out) for the classifiers; a generated regression task for the monotonic network.
The N-activation paper's own modules are re-created in the test suite (``tests/paper_code.py``,
not on the package index); their row appears when that file is found (``--paper-code``).
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import time
from fractions import Fraction

import torch
from torch import nn

from cpwl.errors import LimitError, UnsupportedError
from nets.certify import certified_robust_accuracy, lipschitz_certificate, monotonicity_certificate
from nets.experiments._report import parser, table, write_json
from nets.experiments.digits import load
from nets.export import restrict_to_line, to_network

#: The radius of certified accuracy in each norm (digits pixels lie in [0, 1]: 64 of them).
_EPS = {2: 0.25, "inf": 0.02}


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, loss) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(x), (128,), generator=generator)
        opt.zero_grad()
        loss(model(x[batch]), y[batch]).backward()
        opt.step()
    model.eval()


def _margin_loss(scores, labels):
    return nn.functional.cross_entropy((scores - 0.5 * nn.functional.one_hot(labels, scores.shape[1])) / 0.25, labels)


def _export_check(model: nn.Module, shape: tuple, x: torch.Tensor, shares: tuple) -> dict:
    """Exact outputs against the model's own forward pass at 8 test points and at every
    breakpoint of the exact line from one of them towards another (the first of ``shares``
    of that segment that fits the memory budget)."""
    try:
        net = to_network(model, input_shape=shape)
    except UnsupportedError as err:
        return {"export": "refused: " + str(err).split(";")[0]}
    worst = 0.0
    with torch.no_grad():
        forward = model(x[:8])
    for point, row in zip(x[:8], forward):
        exact = net([Fraction(v) for v in point.double().flatten().tolist()])
        worst = max(worst, max(abs(float(e) - g) for e, g in zip(exact, row.flatten().tolist())))
    for share in shares:
        end = x[0] + (x[1] - x[0]) / share
        try:
            F = restrict_to_line(model, x[0], end)
            break
        except LimitError:
            continue
    ts = list(F.breakpoints)
    with torch.no_grad():
        along = model(torch.stack([x[0] + float(t) * (end - x[0]) for t in ts])) if ts else torch.zeros(0)
    for t, row in zip(ts, along):
        worst = max(worst, max(abs(float(e) - g) for e, g in zip(F(t), row.flatten().tolist())))
    line = f"{len(ts)} breakpoints" + ("" if share == 1 else f" on 1/{share} of the segment")
    return {
        "export": f"exact: max diff {worst:.1e} ({line})",
        "line_breakpoints": len(ts),
        "line_share": share,
        "max_difference": worst,
    }


def _classifier_row(name, model, shape, norm, claim, data, steps, shares) -> dict:
    x_train, y_train, x_test, y_test = (t.reshape(len(t), *shape) if t.dtype.is_floating_point else t for t in data)
    start = time.perf_counter()
    _train(model, x_train, y_train, steps, _margin_loss)
    row = {"family": name, "norm": str(norm), "claim": claim, **_export_check(model, shape, x_test, shares)}
    bound = lipschitz_certificate(model, shape, norm=norm).bound
    eps = _EPS[norm]
    proven = certified_robust_accuracy(model, x_test, y_test, eps, lipschitz=bound, norm=norm)
    library = certified_robust_accuracy(model, x_test, y_test, eps, lipschitz=claim, norm=norm)
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(1) == y_test).float().mean())
    row.update(
        bound=float(bound),
        accuracy=accuracy,
        eps=eps,
        proven=proven.certified,
        library_rule=library.naive,
        seconds=time.perf_counter() - start,
    )
    return row


def _families(paper_code) -> list:
    """``(name, builder, per-sample shape, norm, claim)``; a builder needs its library."""
    import nets

    def torchlip_dense():
        import deel.torchlip as tl

        return tl.Sequential(
            tl.SpectralLinear(64, 64),
            tl.GroupSort2(),
            tl.SpectralLinear(64, 64),
            tl.GroupSort2(),
            tl.FrobeniusLinear(64, 10),
        )

    def torchlip_conv(pool):
        import deel.torchlip as tl

        def make():
            pooling = tl.ScaledL2NormPool2d(2) if pool == "l2" else tl.ScaledAvgPool2d(2)
            return tl.Sequential(
                tl.SpectralConv2d(1, 8, 3, padding=1),
                tl.MaxMin(),
                pooling,
                tl.SpectralConv2d(16, 8, 3, padding=1),
                tl.GroupSort2(),
                tl.ScaledAvgPool2d(2),
                nn.Flatten(),
                tl.SpectralLinear(32, 10),
            )

        return make

    def orthogonium_conv():
        from orthogonium.layers import AdaptiveOrthoConv2d, MaxMin, OrthoLinear

        return nn.Sequential(
            AdaptiveOrthoConv2d(1, 4, 2, stride=2, padding=0),
            MaxMin(),
            AdaptiveOrthoConv2d(4, 16, 2, stride=2, padding=0),
            MaxMin(),
            nn.Flatten(),
            OrthoLinear(64, 10),
        )

    def sortnet():
        return nn.Sequential(nets.SortNeurons(64, 32, q=1), nets.SortNeurons(32, 10, q="1/2", truncate=8))

    families = [
        (
            "lipcpwl SimplifiedConvNet, N-activation, AOL",
            lambda: nets.SimplifiedConvNet(1, 10, base_width=8, blocks=2, layers_per_block=1, activation="n"),
            (1, 8, 8),
            2,
            1,
        ),
        ("deel-torchlip dense: SpectralLinear, GroupSort2", torchlip_dense, (64,), 2, 1),
        ("deel-torchlip conv: SpectralConv2d, MaxMin, ScaledAvgPool2d", torchlip_conv("avg"), (1, 8, 8), 2, 1),
        ("deel-torchlip conv: SpectralConv2d, MaxMin, ScaledL2NormPool2d", torchlip_conv("l2"), (1, 8, 8), 2, 1),
        ("orthogonium: strided AdaptiveOrthoConv2d, MaxMin, OrthoLinear", orthogonium_conv, (1, 8, 8), 2, 1),
        ("SortNet / l-inf-distance neurons (nets.SortNeurons)", sortnet, (64,), "inf", 1),
    ]
    if paper_code is not None:

        def paper():
            return paper_code.SimplifiedConvNet(
                paper_code.NActivation, base_width=8, nrof_blocks=2, nrof_layers_per_block=1
            )

        families.insert(1, ("N-activation paper code as written (tests/paper_code.py)", paper, (1, 8, 8), 2, 1))
    return families


def _monotonic_row(steps: int, shares: tuple) -> dict:
    """monotonicnetworks' construction on a generated task: increasing in x0, decreasing in x2."""
    import monotonicnetworks as lmn

    torch.manual_seed(0)
    inner = nn.Sequential(
        lmn.LipschitzLinear(3, 32, kind="one-inf"),
        lmn.GroupSort(2),
        lmn.LipschitzLinear(32, 32, kind="inf"),
        lmn.GroupSort(2),
        lmn.LipschitzLinear(32, 1, kind="inf"),
    )
    model = lmn.MonotonicWrapper(inner, monotonic_constraints=[1, 0, -1])
    x = torch.randn(1024, 3)
    y = (x[:, 0] - x[:, 2] + torch.sin(3 * x[:, 1])).unsqueeze(1)
    start = time.perf_counter()
    _train(model, x, y, steps, nn.functional.mse_loss)
    row = {
        "family": "monotonicnetworks: MonotonicWrapper(LipschitzLinear, GroupSort)",
        "norm": "l1 -> l-inf (inner)",
        "claim": 1,
        **_export_check(model, (3,), x, shares),
    }
    cert = monotonicity_certificate(model)
    row.update(
        bound=float(monotonicity_certificate(inner).lipschitz_l1_to_inf),
        monotone=f"proven: x0 increasing {cert.increasing(0)}, x2 decreasing {cert.decreasing(2)}",
        seconds=time.perf_counter() - start,
    )
    return row


def _load_paper_code(path: pathlib.Path):
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("paper_code", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(steps: int, paper_code_path: pathlib.Path, progress: bool = True, quick: bool = False) -> list:
    """Train, export and certify every family; one result row each.  ``quick``: 100 test
    samples and short lines."""
    x_train, y_train, x_test, y_test = load()
    if quick:
        x_test, y_test = x_test[:100], y_test[:100]
    data = (x_train.flatten(1), y_train, x_test.flatten(1), y_test)
    rows = []
    for name, build, shape, norm, claim in _families(_load_paper_code(paper_code_path)):
        torch.manual_seed(0)
        sort_layers = norm == "inf"  # sorting 64 distances per neuron: many pieces per unit of line
        shares = (256,) if quick else (16, 256) if sort_layers else (1, 16, 256)
        rows.append(_classifier_row(name, build(), shape, norm, claim, data, steps, shares))
        if progress:
            print(f"{name}: {rows[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
    rows.append(_monotonic_row(steps, (256,) if quick else (1,)))
    return rows


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0], epochs=0, seeds=1)
    p.add_argument("--steps", type=int, default=1000, help="training steps per model (default 1000)")
    p.add_argument(
        "--paper-code",
        type=pathlib.Path,
        default=pathlib.Path("tests/paper_code.py"),
        help="the re-created paper modules",
    )
    args = p.parse_args(argv)
    steps = 5 if args.quick else args.steps
    rows = run(steps, args.paper_code, progress=not args.quiet, quick=args.quick)
    header = [
        "family",
        "exact export",
        "norm",
        "proven bound",
        "library's claim",
        "accuracy",
        "certified: proven / library's rule",
    ]
    cells = []
    for r in rows:
        certified = r.get("monotone") or f"ε={r['eps']}: {r['proven']:.3f} / {r['library_rule']:.3f}"
        accuracy = f"{r['accuracy']:.3f}" if "accuracy" in r else "-"
        cells.append([r["family"], r["export"], r["norm"], f"{r['bound']:.9g}", r["claim"], accuracy, certified])
    print(table(header, cells))
    path = write_json(args.out, "families", {"steps": steps, "rows": rows})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
