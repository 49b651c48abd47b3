"""Private: the proven certification rule for a whole batch at float speed.

For every sample the exact rule (:func:`nets.certify.robustness.margin_certifies` on
:func:`nets.certify.robustness.proven_margin`) compares ``M = (y_l - e_l) - max_{i != l}
(y_i + e_i)``, taken exactly from the float scores ``y`` and their error bounds ``e``, with
``T = c L eps``.  Here ``M`` is computed in float64 with a proven bound ``delta`` on its
rounding (three operations, each within a relative ``2**-53``, plus an absolute term for
subnormals; ``delta`` is four times that), and ``T`` is bracketed by two floats checked
exactly once.  A sample is decided in float when ``M - delta`` clears the upper end of
``T``'s bracket or ``M + delta`` stays below its lower end, with every rounding of those two
comparisons covered by a relative ``2**-49``; the rest (ties, near-ties, non-finite values)
go through the exact rule.  The answers are the exact rule's, sample for sample.

:func:`screen_decisions` does the same for the float32 screen (:mod:`nets.certify.screen`),
whose bound ``E`` is one number per sample for every output: the margin lies within ``2E``
of the float one, so its lower end decides certification and its upper end rejection.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Optional

import torch

from cpwl._floats import subnormal

_REL = 2.0**-49  # covers the roundings of the decision's own float operations, generously
_TINY = subnormal(-1060)  # absolute slack for subnormal results


def threshold_bracket(lipschitz: Fraction, eps: Fraction, factor: Optional[int]) -> Optional[tuple]:
    """Floats ``lo <= c L eps <= hi`` (``factor`` ``c``; ``None`` for ``sqrt(2)``), checked
    exactly; ``None`` when no finite bracket exists."""
    exact = 2 * lipschitz * lipschitz * eps * eps if factor is None else factor * lipschitz * eps
    try:
        t = math.sqrt(float(exact)) if factor is None else float(exact)
    except OverflowError:
        return None
    lo, hi = math.nextafter(t * (1 - 2.0**-50), -math.inf), math.nextafter(t * (1 + 2.0**-50), math.inf)
    lo = max(lo, 0.0)
    if not math.isfinite(hi):
        return None
    if factor is None:
        ok = Fraction(lo) ** 2 <= exact <= Fraction(hi) ** 2
    else:
        ok = Fraction(lo) <= exact <= Fraction(hi)
    return (lo, hi) if ok else None


def _margins(y: torch.Tensor, err: torch.Tensor, labels: torch.Tensor) -> tuple:
    """``(M, delta, finite)``: the float64 margin ``(y_l - e_l) - max_{i != l} (y_i + e_i)``, a
    bound on its rounding, and where both are finite."""
    y, err = y.double(), err.double()
    index = labels.to(y.device)[:, None]
    a = (y.gather(1, index) - err.gather(1, index))[:, 0]
    others = (y + err).scatter(1, index, -math.inf)
    b = others.max(dim=1).values
    M = a - b
    delta = 2.0**-50 * (a.abs() + b.abs() + M.abs()) + _TINY
    return M, delta, torch.isfinite(M) & torch.isfinite(delta)


def _above(M, delta, finite, hi: float) -> torch.Tensor:
    return (M - delta - _REL * (M.abs() + delta + hi) - _TINY > hi) & finite


def _below(M, delta, finite, lo: float) -> torch.Tensor:
    return (M + delta + _REL * (M.abs() + delta + lo) + _TINY < lo) & finite


def float_decisions(y: torch.Tensor, err: torch.Tensor, labels: torch.Tensor, bracket: tuple) -> tuple:
    """``(certified, decided)`` boolean tensors over the batch: where ``decided``, ``certified``
    is the exact rule's answer."""
    lo, hi = bracket
    M, delta, finite = _margins(y, err, labels)
    certified = _above(M, delta, finite, hi)
    rejected = _below(M, delta, finite, lo)
    return certified.cpu(), (certified | rejected).cpu()


def screen_decisions(y: torch.Tensor, E: torch.Tensor, labels: torch.Tensor, bracket: tuple) -> tuple:
    """``(certified, decided)`` from scores ``y`` within ``E`` (one bound per sample, every
    output) of the exact ones: certified where the margin's lower end ``M - 2E`` clears the
    threshold, rejected where its upper end ``M + 2E`` stays below it (then no sound lower
    bound of the margin can clear it, so the exact rule on any bounds rejects too)."""
    lo, hi = bracket
    y = y.double()
    index = labels.to(y.device)[:, None]
    a = y.gather(1, index)[:, 0]
    b = y.scatter(1, index, -math.inf).max(dim=1).values
    M = a - b
    twice = 2 * E.double()  # exact; the roundings of M -/+ twice are the decision's own (_REL)
    delta = 2.0**-50 * (a.abs() + b.abs() + M.abs() + twice) + _TINY
    finite = torch.isfinite(M) & torch.isfinite(delta)
    certified = _above(M - twice, delta, finite, hi)
    rejected = _below(M + twice, delta, finite, lo)
    return certified.cpu(), (certified | rejected).cpu()
