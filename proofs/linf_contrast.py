"""docs/theory.md §5: under infinity-norm constraints MaxMin represents the N-function exactly on
R, so the obstruction of Theorem 1 is specific to the spectral norm."""

from __future__ import annotations

from fractions import Fraction

from cpwl import Affine, Network
from cpwl import activations as act
from proofs.harness import Checker, Result

STATEMENT = (
    "With ||W||_inf <= 1 (row l1-norms <= 1) and MaxMin: n(x) = max(min(x + 1, -x), x - 1) "
    "exactly on R, through rows +-1 producing (x + 1, -x, x - 1, x - 1), MaxMin, selecting rows, "
    "MaxMin. The same network has a layer of spectral norm 2 > 1."
)

#: The infinity-norm MaxMin network computing the N-function on R.
NETWORK = Network(
    [
        Affine([[1], [-1], [1], [1]], [1, 0, -1, -1]),
        act.MaxMin(),
        Affine([[0, 1, 0, 0], [0, 0, 1, 0]]),
        act.MaxMin(),
        Affine([[1, 0]]),
    ]
)


def check(c: Checker) -> None:
    c.holds("the network equals n on R", NETWORK.to_cpwl() == act.n_function())
    c.holds("every layer has ||W||_inf <= 1", all(ch.ok for ch in NETWORK.layer_norm_report(norm="inf")))
    c.holds("the first layer has ||W||_2 > 1 (Theorem 1 does not apply)", not NETWORK.layer_norm_report(norm=2)[0].ok)
    # probes: the identity is not robust to changing the network, so checking it means something
    first, *rest = NETWORK.layers
    shifted = Network([Affine(first.weight, [1, 0, -1, -Fraction(1, 2)]), *rest])
    c.holds("moving one bias by 1/2 breaks the identity", shifted.to_cpwl() != act.n_function())
    halved = Network([Affine([[w / 2 for w in row] for row in first.weight], first.bias), *rest])
    c.holds(
        "halving the first layer (||W||_2 = 1) breaks it",
        halved.to_cpwl() != act.n_function() and halved.layer_norm_report(norm=2)[0].ok,
    )


RESULT = Result("linf_contrast", "corollary", "5", STATEMENT, check)
