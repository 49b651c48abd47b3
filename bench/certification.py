"""Part 6: proven certified robust accuracy against the naive float rule, same model, same
data: a 1-Lipschitz MLP (AOL layers, N-activations) and a ``SimplifiedConvNet`` (MaxMin),
each trained briefly on scikit-learn's digits, certified on the held-out digits.

Contenders, interleaved round by round (each round runs every contender once, in turn):

* ``naive``: the model's own forward pass and the float rule ``margin > sqrt(2) L eps``;
* ``proven``: a prepared :class:`nets.certify.Certifier`, the proven rule alone
  (``naive=False``): the float32 screen and, for the samples it leaves undecided, the float64
  pass and the exact rule;
* ``proven_and_naive``: the same report with the naive rule beside it (what ``lipcpwl
  certify`` prints);
* ``float64_path``: the proven rule with the screen switched off (the path before the screen);
* ``one_call``: :func:`nets.certify.certified_robust_accuracy` with the proven bound given
  (``naive=False``), called again on the unchanged model: it recognises the model
  (:mod:`nets.semantics.snapshot`) and reuses the first call's translation;
* ``first_call``: a new ``Certifier`` and its report (``naive=False``): what a call costs on a
  model it has not seen or that changed (translation and preparation included).
"""

from __future__ import annotations

import math
import statistics
import time
from fractions import Fraction

import torch

from nets import LipschitzMLP, SimplifiedConvNet
from nets.certify import Certifier, certified_robust_accuracy, lipschitz_certificate
from nets.certify._decide import screen_decisions, threshold_bracket
from nets.experiments.digits import load
from nets.train import certified_robust_accuracy_float, fit, offset_cross_entropy

EPS = 0.25
CONTENDERS = ("naive", "proven", "proven_and_naive", "float64_path", "one_call", "first_call")


def _trained(kind: str, epochs: int, x_train, y_train):
    torch.manual_seed(0)
    if kind == "mlp":
        model = LipschitzMLP([64, 128, 128, 10], activation="n", layer="aol")
    else:
        model = SimplifiedConvNet(1, 10, base_width=16, blocks=3, layers_per_block=2, activation="maxmin")
    loss = lambda s, y: offset_cross_entropy(s, y, offset=2 * math.sqrt(2) * EPS, temperature=0.25)  # noqa: E731
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
    return model.eval()


def _interleaved(calls: dict, rounds: int) -> dict:
    """Median seconds per contender, each round calling every contender once in turn."""
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def row(kind: str, epochs: int = 10, rounds: int = 15) -> dict:
    """Train one model; certify the held-out digits at ``EPS`` with every contender."""
    x_train, y_train, x_test, y_test = load()
    if kind == "mlp":
        x_train, x_test, shape = x_train.flatten(1), x_test.flatten(1), (64,)
    else:
        shape = (1, 8, 8)
    model = _trained(kind, epochs, x_train, y_train)
    start = time.perf_counter()
    certificate = lipschitz_certificate(model, shape)
    certificate_s = time.perf_counter() - start
    L = certificate.bound
    start = time.perf_counter()
    certifier = Certifier(model, shape, lipschitz=L)
    prepare_s = time.perf_counter() - start
    plain = Certifier(model, shape, lipschitz=L)
    plain._screen = None

    def naive():
        with torch.no_grad():
            return certified_robust_accuracy_float(model(x_test), y_test, EPS, float(L))

    calls = {
        "naive": naive,
        "proven": lambda: certifier.report(x_test, y_test, EPS, naive=False),
        "proven_and_naive": lambda: certifier.report(x_test, y_test, EPS),
        "float64_path": lambda: plain.report(x_test, y_test, EPS, naive=False),
        "one_call": lambda: certified_robust_accuracy(model, x_test, y_test, EPS, lipschitz=L, naive=False),
        "first_call": lambda: Certifier(model, shape, lipschitz=L).report(x_test, y_test, EPS, naive=False),
    }
    seconds = _interleaved(calls, rounds)
    report, before = certifier.report(x_test, y_test, EPS), plain.report(x_test, y_test, EPS)
    y, E = certifier._screen(certifier.bounded.checked_inputs(x_test))
    _, decided = screen_decisions(y, E, y_test, threshold_bracket(Fraction(L), Fraction(EPS), None))
    return {
        "model": (
            "LipschitzMLP 64-128-128-10 (N, AOL)"
            if kind == "mlp"
            else "SimplifiedConvNet 1x8x8, base 16, 3 blocks (MaxMin, AOL)"
        ),
        "samples": len(y_test),
        "eps": EPS,
        "lipschitz_bound": float(L),
        "layers_proven": f"{sum(c.ok for c in certificate.layers)}/{len(certificate.layers)}",
        "certificate_s": certificate_s,
        "prepare_s": prepare_s,
        "proven": report.certified,
        "naive_accuracy": report.naive,
        "disagreements": len(report.disagreements),
        "same_verdicts_as_float64_path": report.certified_mask == before.certified_mask,
        "screen_decided": float(decided.float().mean()),
        "largest_E": float(E.max()),
        **{f"{name}_s": seconds[name] for name in CONTENDERS},
        **{f"{name}_over_naive": seconds[name] / seconds["naive"] for name in CONTENDERS if name != "naive"},
    }


def compare(epochs: int = 10, rounds: int = 15) -> dict:
    """Both models' rows."""
    return {"eps": EPS, "rows": [row(kind, epochs, rounds) for kind in ("mlp", "conv")]}
