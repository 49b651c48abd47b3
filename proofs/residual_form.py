"""docs/theory.md §2.5: the N-activation is an explicit Euler step of size 2/L on a convex L-smooth
potential (the Murari et al. / CPL link), hence non-expansive."""

from __future__ import annotations

from hypothesis import strategies as st

from cpwl import CPWL, maximum, minimum, strategies
from cpwl import activations as act
from proofs.harness import Checker, Result

STATEMENT = (
    "For theta1 <= theta2, clip(y) = min(max(y, theta1), theta2) is non-decreasing and "
    "1-Lipschitz (the derivative of a convex, 1-smooth Huber-type potential), and "
    "N_theta(y) = y - 2 clip(y): a gradient step of size 2 = 2/L, so Lip(N_theta) <= 1. "
    "A step of size 3 > 2/L is expansive."
)


def residual_step(theta1, theta2, step) -> CPWL:
    """``y - step * clip(y, theta1, theta2)`` as an exact CPWL."""
    y = CPWL.identity()
    clip = minimum(maximum(y, CPWL.constant(theta1)), CPWL.constant(theta2))
    return y - step * clip


def _holds(theta) -> bool:
    t1, t2 = theta
    clip = minimum(maximum(CPWL.identity(), CPWL.constant(t1)), CPWL.constant(t2))
    step = residual_step(t1, t2, 2)
    return clip.is_monotone() and clip.is_lipschitz(1) and step == act.n_activation(t1, t2) and step.is_lipschitz(1)


def check(c: Checker) -> None:
    q = strategies.rationals(-3, 3, max_denominator=16)
    thetas = st.one_of(st.tuples(q, q).map(sorted), q.map(lambda v: [v, v]))  # ties in about half
    tied = ("tied thresholds theta1 = theta2", lambda t: t[0] == t[1], 0.3)
    c.for_all("N_theta = y - 2 clip, clip monotone and 1-Lipschitz, N non-expansive", thetas, _holds, reached=tied)
    c.falsifiable("a step of 3 is expansive", thetas, lambda t: residual_step(t[0], t[1], 3).is_lipschitz(1))


RESULT = Result("residual_form", "lemma", "2.5", STATEMENT, check)
