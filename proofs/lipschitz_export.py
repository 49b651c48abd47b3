"""docs/theory.md §6.1: exact contractions and 1-Lipschitz activations export a function
with every slope in [-1, 1]."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from cpwl import Affine, Network, strategies
from proofs.boundary import FOLDING_FAMILIES, folds
from proofs.harness import Checker, Result

STATEMENT = (
    "If every weight matrix has exact spectral norm <= 1 (I - W^T W PSD) and every activation "
    "is 1-Lipschitz (ReLU, abs, leaky ReLU, 2-piece with slopes in [-1, 1], N, MaxMin, "
    "GroupSort, Householder, identity), the exported CPWL has all slopes in [-1, 1]."
)

_FAMILIES = ("relu", "abs", "leaky_relu", "two_piece", "maxmin", "groupsort", "householder", "n", "absid")


def inflate(net: Network, factor=Fraction(101, 100)) -> Network:
    """The same network with its first weight matrix scaled by ``factor`` (norm 1.01)."""
    first = net.layers[0]
    return Network([Affine([[w * factor for w in row] for row in first.weight], first.bias), *net.layers[1:]])


def _exports_lipschitz(net: Network) -> bool:
    return all(ch.ok for ch in net.layer_norm_report()) and net.to_cpwl().is_lipschitz(1)


def _steepest_is_one(net: Network) -> bool:
    return net.to_cpwl().lipschitz_constant() == 1


def check(c: Checker) -> None:
    tight = ("an exported slope of magnitude exactly 1", _steepest_is_one)
    for family in _FAMILIES:
        nets = strategies.networks(family, width=st.integers(1, 4), depth=st.integers(1, 3))
        c.for_all(
            f"{family} nets export 1-Lipschitz functions", nets, _exports_lipschitz, scale=0.5, reached=(*tight, 0)
        )
    for family in FOLDING_FAMILIES:
        c.for_all(f"... aimed: {family} folds", folds(family), _exports_lipschitz, scale=0.25, reached=(*tight, 0.3))
    c.falsifiable(
        "a layer of norm 1.01 can export slope > 1",
        strategies.networks("relu", width=st.integers(1, 2), depth=1).map(inflate),
        lambda net: net.to_cpwl().is_lipschitz(1),
    )


RESULT = Result("lipschitz_export", "lemma", "6.1", STATEMENT, check)
