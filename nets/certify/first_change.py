"""The first label change along a segment, exactly, running the exact engine only near it.

:func:`nets.certify.line_certificate` restricts the model exactly to the whole segment and
reads the first change of the predicted label off it.  A :class:`LineCertifier` finds the same
``(label, t)`` and materialises exact pieces only where the answer needs them:

1. the float64 screen (:mod:`nets.certify.screen`) evaluates the model at points ``t_k`` of
   the segment in one batch, each with a proven bound on its output error (the points' own
   rounding to floats included, through the Lipschitz bound);
2. where the label's proven margin ``m_k`` is positive, the label holds for every ``t`` with
   ``|t - t_k| < m_k / (sqrt(2) L ||end - start||)``: a move of the input by ``delta`` moves
   each score difference by at most ``sqrt(2) L delta`` (``L`` the model's proven l2
   Lipschitz bound).  These radii are computed with ``Fraction``s, rounded toward safety;
3. the segment is covered from ``t = 0`` up to the first point ``u`` the cover misses, and
   the first point ``w`` where another label provably wins closes the search on the right
   (``w = 1`` if there is none).  The first change lies in ``[u, w]``;
4. the exact engine restricts the model to that stretch alone, with a breakpoint budget
   that makes the pass cost about what the next round of the screen would (16 points per
   breakpoint): a stretch with more breakpoints stops the pass at the first layer that
   exceeds the budget, and the next round places four times as many points in ``[u, w]``
   (around a change both ends close in on it).  The last round's stretch is restricted
   without a budget.

Whenever the screen cannot settle the label at ``t = 0`` (a tie or near-tie), has no
coverage for the model, or the model has no finite Lipschitz bound, the whole segment is
restricted exactly, as :func:`line_certificate` does.  The answers are always
:func:`line_certificate`'s (tested, ties included).

Examples:
    >>> import torch
    >>> from torch import nn
    >>> scores = nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = scores.weight.copy_(torch.eye(2)), scores.bias.zero_()
    >>> change = LineCertifier(scores, (2,)).first_change([1.0, 0.0], [0.0, 3.0])  # (1 - t, 3t)
    >>> change.label, change.t
    (0, Fraction(1, 4))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import numpy as np
import torch
from torch import nn

import cpwl
from cpwl import sqrt_upper
from cpwl.errors import InvalidArgument, ShapeError
from cpwl.rationals import as_fraction
from nets.certify.line import LineCertificate, first_loss
from nets.certify.lipschitz import lipschitz_certificate
from nets.certify.rigorous import fingerprint
from nets.certify.screen import FLOAT64, Screen, Unscreenable
from nets.export import exact_point
from nets.semantics import translate

__all__ = ["FirstChange", "LineCertifier"]

#: A stretch of the segment this short is restricted exactly without refining further (the
#: exact pass then costs about its fixed part, reading the weights' residues).
_SHORT = Fraction(1, 2**10)
#: Screen points that cost about as much as one breakpoint of an exact pass (one residue row
#: per prime, a dozen primes, against one float64 row per point).
_POINTS_PER_BREAKPOINT = 16
#: What an exact pass over a stretch answers when the stretch has more breakpoints than the
#: pass was allowed.
_TOO_MANY = object()


@dataclass(frozen=True)
class FirstChange:
    """The label at ``t = 0`` of ``start + t (end - start)`` (``None`` if the top score is
    tied there), the first ``t`` in ``[0, 1]`` where it stops being the exact argmax (a tie
    counts; ``None`` if never), ``||end - start||^2``, and ``exact_window``: the stretches of
    ``t`` the exact engine restricted the model to."""

    label: Optional[int]
    t: Optional[Fraction]
    length_squared: Fraction
    exact_window: tuple

    @property
    def distance_squared(self) -> Optional[Fraction]:
        """Squared Euclidean distance from ``start`` to the first label change (exact)."""
        return None if self.t is None else self.t * self.t * self.length_squared


class LineCertifier:
    """A model prepared once for many :meth:`first_change` calls: its exact network, its
    float64 screen and a proven l2 Lipschitz bound of the model (``lipschitz`` if given — it
    must be proven, as :func:`lipschitz_certificate`'s is — else the screen's own bound,
    :meth:`nets.certify.screen.Screen.lipschitz_bound`).  The screen runs in float64: along a
    segment the margins that matter are small, and float32's rounding bound on a wide layer
    (``gamma_n |W| |y|``) can exceed them.  The cover takes ``points`` screen points in its
    first round (``points >= 2``) and four times as many in each of the ``rounds - 1``
    refinements of the gap; after each round the gap is tried exactly within a breakpoint
    budget, after the last one without.  It refuses to answer once the model's parameters or
    buffers changed."""

    def __init__(self, module: nn.Module, input_shape=None, lipschitz=None, points: int = 64, rounds: int = 4):
        translation = translate(module, input_shape)
        if len(translation.out_shape) != 1:
            raise ShapeError(f"the model's outputs must be class scores, got per-sample shape {translation.out_shape}")
        self.module, self.in_shape = module, translation.in_shape
        self.network = translation.network()
        try:
            self._screen = Screen(translation, torch.device("cpu"), FLOAT64)  # margins far below float32's reach
        except Unscreenable:
            self._screen = None
        if lipschitz is not None:
            bound = as_fraction(lipschitz)
        elif self._screen is not None and math.isfinite(self._screen.lipschitz_bound()):  # cheap for wide layers
            bound = Fraction(self._screen.lipschitz_bound())
        else:
            bound = lipschitz_certificate(module, self.in_shape).bound
        if bound < 0:
            raise InvalidArgument(f"lipschitz must be a bound >= 0, got {bound}")
        self.lipschitz = bound
        if int(points) < 2 or int(rounds) < 1:
            raise InvalidArgument(f"points must be >= 2 and rounds >= 1, got points={points}, rounds={rounds}")
        self.points, self.rounds = int(points), int(rounds)
        self._fingerprint = fingerprint(module)

    def first_change(self, start, end) -> FirstChange:
        """The first label change along ``start + t (end - start)`` (points taken exactly)."""
        if fingerprint(self.module) != self._fingerprint:
            raise InvalidArgument("the model's parameters or buffers changed since it was prepared; prepare it again")
        a, shape_a = exact_point(start, "start")
        b, shape_b = exact_point(end, "end")
        width = math.prod(self.in_shape)
        if len(a) != width or len(b) != width:
            raise ShapeError(f"the model takes inputs of shape {self.in_shape}, got {shape_a} and {shape_b}")
        a, b = [Fraction(v) for v in a], [Fraction(v) for v in b]
        d = [y - x for x, y in zip(a, b)]
        length_squared = sum(v * v for v in d)
        scale = sqrt_upper(2 * self.lipschitz**2 * length_squared)  # sqrt(2) L ||d||, rounded up
        if self._screen is None or length_squared == 0:
            return self._exact(a, d, [(Fraction(0), Fraction(1))], None, length_squared)
        a64, b64 = np.array([float(v) for v in a]), np.array([float(v) for v in b])
        label, start_covered, _ = self._cover(a64, b64, [Fraction(0)], None, scale)
        if not start_covered:
            return self._exact(a, d, [(Fraction(0), Fraction(1))], None, length_squared)
        u, right = Fraction(0), Fraction(1)
        for round_ in range(self.rounds):
            count = self.points * 4**round_  # a gap the cover keeps missing gets denser points
            u, right = self._narrowed(a64, b64, label, scale, u, right, count)
            if u > 1:  # covered to the end
                return FirstChange(label, None, length_squared, ())
            window = _on_grid(u, right)
            last = round_ == self.rounds - 1 or right - u <= _SHORT
            # an exact pass with at most this many breakpoints costs about what the next round would
            budget = None if last else 4 * count // _POINTS_PER_BREAKPOINT
            t = self._change_in(a, d, *window, label, budget)
            if t is not _TOO_MANY:  # always so in the last round
                break
        return FirstChange(label, t, length_squared, (window,))

    def certificate(self, start, end) -> LineCertificate:
        """:meth:`first_change` as a :class:`nets.certify.LineCertificate` without the
        Lipschitz constant along the segment (``lipschitz_squared`` is ``None``): what
        ``line_certificate(model, start, end, lipschitz=False)`` gives.

        Examples:
            >>> from torch import nn
            >>> LineCertifier(nn.Linear(2, 2), (2,)).certificate([1.0, 0.0], [1.0, 0.0]).lipschitz_squared is None
            True
        """
        change = self.first_change(start, end)
        return LineCertificate(change.label, change.t, change.length_squared, None)

    # ------------------------------------------------------------------ the screen's cover
    def _margins(self, a64, b64, ts: list, label: Optional[int]) -> tuple:
        """``(label, lower, upper)``: the label (``label`` or the top score at the first point)
        and, per point, proven lower and upper ends of its margin (label minus best other)."""
        t = np.array([float(v) for v in ts])
        x = a64[None, :] + t[:, None] * (b64 - a64)[None, :]
        size = float(np.abs(a64).sum() + np.abs(b64).sum())
        # the float point vs the exact one: a64, b64 within 2**-53 of a, b; x within a few roundings
        delta = 2.0**-48 * (np.sqrt((x * x).sum(axis=1)) + size) + 2.0**-1000 * math.sqrt(x.shape[1])
        y, E = self._screen(torch.from_numpy(x.reshape(len(x), *self.in_shape)))
        y, E = y.double().numpy(), E.numpy()
        if label is None:
            top = np.argsort(-y[0])
            label = int(top[0])
        others = np.delete(y, label, axis=1).max(axis=1) if y.shape[1] > 1 else np.full(len(y), -math.inf)
        margin = y[:, label] - others
        error = 2 * (E + float(self.lipschitz) * (1 + 2.0**-40) * delta)
        slack = 2.0**-40 * (np.abs(y[:, label]) + np.abs(others) + error) + 2.0**-1000
        return label, margin - error - slack, margin + error + slack

    def _cover(self, a64, b64, ts: list, label, scale) -> tuple:
        """``(label, covered at ts[0], intervals)``: the open intervals ``(lo, hi)`` of ``t``
        where the label provably holds, and the points where it provably does not (``lo ==
        hi``)."""
        label, lower, upper = self._margins(a64, b64, ts, label)
        intervals = []
        for t, lo, hi in zip(ts, lower.tolist(), upper.tolist()):
            if math.isfinite(lo) and lo > 0:
                r = Fraction(lo) / scale if scale else Fraction(2)
                intervals.append((t - r, t + r))
            elif math.isfinite(hi) and hi < 0:
                intervals.append((t, t))  # another label provably wins at t
        start_covered = any(lo < ts[0] < hi for lo, hi in intervals)
        return label, start_covered, intervals

    def _narrowed(self, a64, b64, label, scale, u: Fraction, right: Fraction, count: int) -> tuple:
        """``(u, right)`` after ``count`` screen points in ``[u, right]``: the label holds on
        ``[0, u)`` (the cover; ``u > 1`` when it reaches past the end) and provably not at
        ``right`` (or ``right`` is 1), so the first change lies in ``[u, right]``."""
        ts = [u + (right - u) * Fraction(k, count - 1) for k in range(count)]
        _, _, intervals = self._cover(a64, b64, ts, label, scale)
        u = _reach(u, [iv for iv in intervals if iv[0] < iv[1]])
        if u > right:
            return u, right
        return u, min([lo for lo, hi in intervals if lo == hi and lo >= u] + [right])

    # ------------------------------------------------------------------ exact stretches
    def _change_in(self, a, d, u: Fraction, right: Fraction, label: int, budget: Optional[int] = None):
        """The first ``t`` in ``[u, right]`` where ``label`` stops being the exact argmax
        (``None``: nowhere), or ``_TOO_MANY`` when the stretch has more than ``budget``
        breakpoints (the pass then stops at the first layer that exceeds it)."""
        points = [x + u * v for x, v in zip(a, d)], [x + right * v for x, v in zip(a, d)]
        if budget is None:
            F = self.network.restrict_to_line(*points, canonical=False)
        else:
            limit = cpwl.limits.current_breakpoint_limit()
            try:
                with cpwl.breakpoint_limit(budget if limit is None else min(budget, limit)):
                    F = self.network.restrict_to_line(*points, canonical=False)
            except cpwl.BreakpointLimitError:
                return _TOO_MANY
        s = first_loss(F, label)
        return None if s is None else u + s * (right - u)

    def _exact(self, a, d, windows, label, length_squared) -> FirstChange:
        """The whole segment restricted exactly (what :func:`line_certificate` does)."""
        F = self.network.restrict_to_line(a, [x + v for x, v in zip(a, d)], canonical=False)
        scores = F(0)
        top = max(scores)
        if scores.count(top) > 1:
            return FirstChange(None, Fraction(0), length_squared, tuple(windows))
        label = scores.index(top)
        return FirstChange(label, first_loss(F, label), length_squared, tuple(windows))


def _on_grid(u: Fraction, right: Fraction) -> tuple:
    """``[u, right]`` widened to points of the ``2**-24`` grid: ``[u', u)`` is covered and
    past ``right`` the label has already failed, so the first change stays inside, and short
    endpoints keep the exact engine's integers (and its number of primes) small."""
    return Fraction(math.floor(u * 2**24), 2**24), min(Fraction(1), Fraction(math.ceil(right * 2**24), 2**24))


def _reach(u: Fraction, intervals: list) -> Fraction:
    """The end of the stretch from ``u`` (covered itself) covered by the open ``intervals``."""
    reach = u
    for lo, hi in sorted(intervals):
        if lo < reach < hi:
            reach = hi
        elif lo >= reach:
            break
    return reach
