"""Part 6: proven certified robust accuracy against the naive float rule, same model, same
data: a 1-Lipschitz MLP (AOL layers) trained briefly on scikit-learn's digits."""

from __future__ import annotations

import math

import torch

from bench._timing import median_time
from nets import LipschitzMLP
from nets.certify import certified_robust_accuracy, lipschitz_certificate
from nets.experiments.digits import load
from nets.train import certified_robust_accuracy_float, fit, offset_cross_entropy

RADII = (0.1, 0.25, 0.5)


def compare(epochs: int = 10, activation: str = "n", repeats: int = 3) -> dict:
    """Train once; time the proven Lipschitz certificate once, then both rules at every radius
    on the held-out digits (the proven rule given the proven bound)."""
    x_train, y_train, x_test, y_test = (t.flatten(1) if t.dtype.is_floating_point else t for t in load())
    torch.manual_seed(0)
    model = LipschitzMLP([64, 128, 128, 10], activation=activation, layer="aol")
    loss = lambda s, y: offset_cross_entropy(s, y, offset=2 * math.sqrt(2) * 0.25, temperature=0.25)  # noqa: E731
    fit(
        model,
        x_train,
        y_train,
        loss=loss,
        epochs=epochs,
        batch_size=64,
        optimizer="adam",
        lr=3e-3,
        seed=0,
        progress=False,
    )
    model.eval()
    certificate_s, certificate = median_time(lambda: lipschitz_certificate(model), repeats)
    rows = []
    for eps in RADII:
        proven_s, report = median_time(
            lambda: certified_robust_accuracy(model, x_test, y_test, eps, lipschitz=certificate.bound), repeats
        )

        def naive():
            with torch.no_grad():
                return certified_robust_accuracy_float(model(x_test), y_test, eps)

        naive_s, naive_acc = median_time(naive, repeats)
        rows.append(
            {
                "eps": eps,
                "proven": report.certified,
                "naive": naive_acc,
                "disagreements": len(report.disagreements),
                "proven_s": proven_s,
                "naive_s": naive_s,
                "proven_over_naive": proven_s / naive_s,
            }
        )
    return {
        "model": f"LipschitzMLP 64-128-128-10 ({activation}, AOL), {epochs} epochs",
        "samples": len(y_test),
        "lipschitz_bound": float(certificate.bound),
        "layers_proven": f"{sum(c.ok for c in certificate.layers)}/{len(certificate.layers)}",
        "certificate_s": certificate_s,
        "rows": rows,
    }
