"""The toy experiment of Prach & Lampert (docs/theory.md §7.1): fit the N-function on [-3, 3] with
an unconstrained ReLU network and with MaxMin, abs and N-activation networks of AOL layers.

Each Lipschitz model of seed 0 is also exported exactly (``nets.export.to_cpwl``): its exact
breakpoints, exact Lipschitz constant and exact sup distance to the target on [-3, 3].

Run ``python -m nets.experiments.toy_fit`` (``--quick`` for a smoke test).  Defaults follow the
paper: 1000 epochs of SGD (lr 0.01, momentum 0.9, batch 100) on 1000 points, width 40.  Writes
``toy_fit.json`` and ``toy_fit.png`` and prints the table of final training MSE.
"""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import torch

import cpwl
from nets.experiments._report import mean_std, parser, publish, subplots, table
from nets.export import to_cpwl
from nets.models import LipschitzMLP
from nets.progress import progress as progress_of
from nets.train import fit

#: name -> (activation, layer): the four runs of the paper's toy experiment.
RUNS = {
    "ReLU (unconstrained)": ("relu", "plain"),
    "MaxMin + AOL": ("maxmin", "aol"),
    "abs + AOL": ("abs", "aol"),
    "N-activation + AOL": ("n", "aol"),
}


def n_function(x: torch.Tensor) -> torch.Tensor:
    """The target ``n(x) = x - 2 clip(x, -1/2, 1/2)``."""
    return x - 2 * x.clamp(-0.5, 0.5)


def run(epochs: int, seeds: int, width: int = 40, points: int = 1000, progress: bool = True, device=None) -> dict:
    """Train every run for every seed; returns final MSEs and the seed-0 fits on a grid."""
    grid = torch.linspace(-3, 3, 1000)[:, None]
    results = {name: [] for name in RUNS}
    curves, exact = {}, {}
    target = cpwl.activations.n_function().restrict(-3, 3)
    jobs = [(name, seed) for seed in range(seeds) for name in RUNS]
    for name, seed in progress_of(jobs, "toy fit: models trained", enabled=progress):
        activation, layer = RUNS[name]
        rng = np.random.default_rng(seed)
        x = torch.tensor(rng.uniform(-3, 3, size=(points, 1)), dtype=torch.float32)
        torch.manual_seed(seed)
        model = LipschitzMLP([1, width, width, 1], activation=activation, layer=layer, embed=True)
        history = fit(
            model,
            x,
            n_function(x),
            loss="mse",
            epochs=epochs,
            batch_size=100,
            optimizer="sgd",
            lr=0.01,
            momentum=0.9,
            seed=seed,
            progress=False,
            device=device,
        )
        results[name].append(history.losses[-1])
        if seed == 0:
            model.eval()
            with torch.no_grad():
                curves[name] = model.cpu()(grid)[:, 0].tolist()
            if layer != "plain":
                f = to_cpwl(model, domain=(-3, 3))
                exact[name] = {
                    "breakpoints": len(f.breakpoints),
                    "lipschitz_constant": str(f.lipschitz_constant()),
                    "sup_distance_to_target": float(cpwl.sup_distance(f, target)),
                }
    return {"final_mse": results, "exact_seed0": exact, "grid": grid[:, 0].tolist(), "curves": curves}


def plot(result: dict):
    """The fitted functions of seed 0 over the target (the paper's Figure 3 layout)."""
    grid = np.array(result["grid"])
    fig, axes = subplots(1, len(result["curves"]), figsize=(4 * len(result["curves"]), 3.2), sharey=True)
    for ax, (name, ys) in zip(np.atleast_1d(axes), result["curves"].items()):
        ax.plot(grid, n_function(torch.tensor(grid)).numpy(), color="0.7", lw=3, label="target n(x)")
        ax.plot(grid, ys, color="C1", lw=1.5, label="fit")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("x")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    return fig


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0], epochs=1000, seeds=3).parse_args(argv)
    epochs, seeds = (5, 1) if args.quick else (args.epochs, args.seeds)
    result = run(epochs, seeds, progress=not args.quiet, device=args.device)
    rows = [(name, mean_std(v)) for name, v in result["final_mse"].items()]
    print(table(["model", f"final training MSE ({seeds} seeds, {epochs} epochs)"], rows))
    exact_rows = [
        (
            name,
            e["breakpoints"],
            f"{float(Fraction(e['lipschitz_constant'])):.9f}",
            f"{e['sup_distance_to_target']:.3g}",
        )
        for name, e in result["exact_seed0"].items()
    ]
    print()
    print(
        table(
            ["model (seed 0, exported exactly)", "breakpoints", "exact Lipschitz constant", "exact sup distance to n"],
            exact_rows,
        )
    )
    publish(args.out, "toy_fit", {"epochs": epochs, "seeds": seeds, **result}, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
