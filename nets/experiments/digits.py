"""Certified robustness on real data: scikit-learn's digits (8x8 images, shipped with the
package), a SimplifiedConvNet with MaxMin vs N-activations, accuracy and certified robust
accuracy at several l2 radii, by the float margin rule and proven (``nets.certify``).

Run ``python -m nets.experiments.digits`` (``--quick`` for a smoke test).  Writes
``digits.json`` and ``digits.png`` and prints the table.  "CRA" is the literature's float
margin rule with L = 1 (margin > sqrt(2) * eps); "proven" uses the product of the proven
per-layer bounds of :func:`nets.certify.lipschitz_certificate` and the rounding-bounded margin
of :func:`nets.certify.certified_robust_accuracy`.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits

from nets.certify import Certifier, lipschitz_certificate
from nets.experiments._report import mean_std, parser, publish, subplots, table
from nets.models import SimplifiedConvNet
from nets.progress import progress as progress_of
from nets.train import accuracy, certified_robust_accuracy_float, fit, offset_cross_entropy

RADII = (0.1, 0.25, 0.5, 1.0)
#: radii of the plotted curves: the float rule on a fine grid, the proven rule on a coarse one
CURVE_RADII = np.linspace(0, 1.5, 61)
PROVEN_RADII = np.linspace(0, 1.5, 16)
ACTIVATIONS = ("maxmin", "n")


def load(seed: int = 0, train_fraction: float = 0.75) -> tuple:
    """Digits as ``[N, 1, 8, 8]`` float tensors in ``[0, 1]`` and labels, split by ``seed``."""
    data = load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = int(train_fraction * len(x))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def _loss(scores, labels):
    return offset_cross_entropy(scores, labels, offset=2 * math.sqrt(2) * 0.25, temperature=0.25)


def run(epochs: int, seeds: int, progress: bool = True, device=None) -> dict:
    """Train both activations for every seed; returns accuracy and certified accuracies."""
    x_train, y_train, x_test, y_test = load()
    results = {
        a: {
            "accuracy": [],
            **{f"cra@{r}": [] for r in RADII},
            **{f"proven@{r}": [] for r in RADII},
            "layers_proven": [],
            "lipschitz_bound": [],
        }
        for a in ACTIVATIONS
    }
    curves = {}
    for activation, seed in progress_of(
        [(a, s) for s in range(seeds) for a in ACTIVATIONS], "digits: models trained", enabled=progress
    ):
        torch.manual_seed(seed)
        model = SimplifiedConvNet(1, 10, base_width=16, blocks=3, layers_per_block=2, activation=activation)
        fit(
            model,
            x_train,
            y_train,
            loss=_loss,
            epochs=epochs,
            batch_size=64,
            optimizer="adam",
            lr=3e-3,
            scheduler="onecycle",
            seed=seed,
            progress=False,
            device=device,
        )
        model.eval()
        with torch.no_grad():
            scores = model(x_test.to(next(model.parameters()).device)).cpu()
        results[activation]["accuracy"].append(accuracy(model, x_test, y_test))
        certificate = lipschitz_certificate(model.cpu())
        results[activation]["layers_proven"].append(
            f"{sum(c.ok for c in certificate.layers)}/{len(certificate.layers)}"
        )
        results[activation]["lipschitz_bound"].append(float(certificate.bound))
        certifier = Certifier(model, tuple(x_test.shape[1:]), lipschitz=certificate.bound)  # translated once
        proven = certifier.reports(x_test, y_test, [*RADII, *PROVEN_RADII.tolist()])  # one rigorous pass
        for r, report in zip(RADII, proven):
            results[activation][f"cra@{r}"].append(certified_robust_accuracy_float(scores, y_test, r))
            results[activation][f"proven@{r}"].append(report.certified)
        if seed == 0:
            curves[activation] = {
                "float": [certified_robust_accuracy_float(scores, y_test, float(r)) for r in CURVE_RADII],
                "proven": [report.certified for report in proven[len(RADII) :]],
                "lipschitz": float(certificate.bound),
            }
    return {
        "radii": list(RADII),
        "metrics": results,
        "curve_radii": CURVE_RADII.tolist(),
        "proven_radii": PROVEN_RADII.tolist(),
        "curves": curves,
    }


def plot(result: dict):
    """Certified robust accuracy against the l2 radius (seed 0): the naive float rule as lines,
    the proven rule (rigorous margins, proven Lipschitz bound) as markers."""
    fig, ax = subplots(figsize=(6, 4))
    for (activation, curves), color in zip(result["curves"].items(), ("C0", "C1")):
        name = {"maxmin": "MaxMin", "n": "N-activation"}[activation]
        ax.plot(result["curve_radii"], curves["float"], color=color, label=f"{name}: naive float rule (L = 1 assumed)")
        proven = f"{name}: proven (margin bounded rigorously, L = {curves['lipschitz']:.3f} proven)"
        ax.plot(result["proven_radii"], curves["proven"], "o", color=color, ms=4, label=proven)
    ax.set_xlabel("l2 radius eps")
    ax.set_ylabel("certified robust accuracy")
    ax.set_title("scikit-learn digits, held-out part: float rule vs proven certificate", fontsize=9)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    return fig


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0], epochs=80, seeds=3).parse_args(argv)
    epochs, seeds = (2, 1) if args.quick else (args.epochs, args.seeds)
    result = run(epochs, seeds, progress=not args.quiet, device=args.device)
    header = (
        ["activation", "accuracy"] + [f"CRA ε={r} (float / proven)" for r in RADII] + ["layers proven ≤ 1", "proven L"]
    )
    rows = []
    for a, m in result["metrics"].items():
        cells = [{"maxmin": "MaxMin", "n": "N-activation"}[a], mean_std(m["accuracy"])]
        cells += [f"{mean_std(m[f'cra@{r}'])} / {mean_std(m[f'proven@{r}'])}" for r in RADII]
        cells += [", ".join(m["layers_proven"]), f"{max(m['lipschitz_bound']):.9f}"]
        rows.append(cells)
    print(table(header, rows))
    publish(args.out, "digits", {"epochs": epochs, "seeds": seeds, **result}, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
