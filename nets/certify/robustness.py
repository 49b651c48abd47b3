"""Certified robust accuracy with every rounding of the margin bounded.

Examples:
    >>> import torch
    >>> import nets
    >>> model = nets.LipschitzMLP([2, 4, 3], activation="maxmin", layer="aol")
    >>> report = certified_robust_accuracy(model, torch.randn(8, 2), torch.zeros(8, dtype=torch.long), 0.1)
    >>> 0 <= report.certified <= 1
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import torch
from torch import nn

from cpwl.errors import InvalidArgument, ShapeError
from cpwl.layer import norm_name
from cpwl.rationals import as_fraction
from nets.certify._decide import float_decisions, screen_decisions, threshold_bracket
from nets.certify._recent import Recent
from nets.certify.lipschitz import lipschitz_certificate
from nets.certify.rigorous import BoundedModel
from nets.certify.screen import Screen, Unscreenable
from nets.semantics import evaluation_mode

__all__ = ["Certifier", "RobustnessReport", "certified_robust_accuracy", "margin_certifies", "proven_margin"]


@dataclass(frozen=True)
class RobustnessReport:
    """Certified robust accuracy, proven (``certified``) and by the naive float rule
    (``naive``; ``None`` when the report was made without it), the Lipschitz bound used (in
    ``norm``, the norm of the radius ``eps``), and the samples where the two rules disagree."""

    eps: Fraction
    lipschitz: Fraction
    certified: float
    naive: Optional[float]
    certified_mask: tuple
    naive_mask: Optional[tuple]
    norm: object = 2

    @classmethod
    def from_masks(cls, eps, lipschitz, certified_mask, naive_mask, norm) -> RobustnessReport:
        """The report whose per-sample verdicts are the two masks (the accuracies follow).

        Examples:
            >>> RobustnessReport.from_masks(Fraction(1, 10), Fraction(1), (True, False), (True, True), 2).certified
            0.5
        """
        certified_mask = tuple(certified_mask)
        n = max(1, len(certified_mask))
        if naive_mask is None:
            return cls(eps, lipschitz, sum(certified_mask) / n, None, certified_mask, None, norm)
        naive_mask = tuple(naive_mask)
        return cls(eps, lipschitz, sum(certified_mask) / n, sum(naive_mask) / n, certified_mask, naive_mask, norm)

    @property
    def disagreements(self) -> list:
        """Indices where the naive rule certifies and the proof does not (or the reverse)."""
        if self.naive_mask is None:
            raise InvalidArgument("this report was made without the naive rule (naive=False)")
        return [i for i, (a, b) in enumerate(zip(self.certified_mask, self.naive_mask)) if a != b]


def proven_margin(scores: list, bounds: list, label: int) -> Fraction:
    """A lower bound of the exact margin ``f_label - max_{i != label} f_i`` from float scores
    and their error bounds, exactly (0 for a single output).

    Examples:
        >>> proven_margin([3.0, 1.0], [0.5, 0.25], 0)
        Fraction(5, 4)
    """
    low = Fraction(scores[label]) - Fraction(bounds[label])
    others = [Fraction(s) + Fraction(b) for i, (s, b) in enumerate(zip(scores, bounds)) if i != label]
    return low - max(others) if others else Fraction(0)


#: ``c`` in the rule ``M > c L eps`` for l-infinity and l1: a perturbation of norm ``eps``
#: moves the outputs by at most ``L eps`` in that norm, and two outputs' difference by at most
#: ``c`` times that (l2's ``c = sqrt(2)`` is compared through squares).
_MARGIN_FACTOR = {"inf": 2, 1: 1}


def margin_certifies(margin: Fraction, lipschitz: Fraction, eps: Fraction, norm=2) -> bool:
    """The rule, exactly: ``margin > c L eps`` strictly (``c = sqrt(2)`` in l2, compared
    through squares; 2 in l-infinity; 1 in l1), so an exact tie is never certified.

    Examples:
        >>> two, one = Fraction(2), Fraction(1)
        >>> margin_certifies(two, one, one, "inf"), margin_certifies(two, one, one, 1)
        (False, True)
        >>> margin_certifies(Fraction(2), Fraction(1), Fraction(2, 3))     # 4 > 2 * 4/9
        True
    """
    norm = norm_name(norm)
    if norm == 2:
        return margin > 0 and margin * margin > 2 * lipschitz * lipschitz * eps * eps
    return margin > _MARGIN_FACTOR[norm] * lipschitz * eps


def _proven_rule(
    y: torch.Tensor, err: torch.Tensor, labels: torch.Tensor, lipschitz: Fraction, eps: Fraction, norm
) -> list:
    """:func:`margin_certifies` of every sample's :func:`proven_margin`: decided in float64
    where the rounding of the comparison provably cannot change the answer
    (:mod:`nets.certify._decide`), exactly for the rest."""
    certified = [False] * len(labels)
    undecided = list(range(len(labels)))
    bracket = threshold_bracket(lipschitz, eps, None if norm == 2 else _MARGIN_FACTOR[norm])
    if bracket is not None and y.shape[1] > 1 and len(labels):
        floats, decided = float_decisions(y, err, labels, bracket)
        certified = floats.tolist()
        undecided = (~decided).nonzero()[:, 0].tolist()
    if undecided:
        rows, bounds, chosen = y[undecided].tolist(), err[undecided].tolist(), labels[undecided].tolist()
        for i, scores, errors, label in zip(undecided, rows, bounds, chosen):
            certified[i] = margin_certifies(proven_margin(scores, errors, label), lipschitz, eps, norm)
    return certified


class Certifier:
    """A model prepared once for certified robust accuracy in one ``norm``: its translation,
    its proven Lipschitz bound (or ``lipschitz``, if given) and its rigorous float steps, so
    that each :meth:`report` runs only float passes and the batched rule.  It speaks of the
    weights as they were when it was built and refuses to report once any parameter or buffer
    has changed.

    Examples:
        >>> import nets
        >>> model = nets.LipschitzMLP([2, 4, 3], activation="maxmin", layer="aol")
        >>> certifier = Certifier(model, (2,))
        >>> x, y = torch.randn(8, 2), torch.zeros(8, dtype=torch.long)
        >>> [certifier.report(x, y, eps).certified <= 1 for eps in ("1/10", "1/4")]
        [True, True]
    """

    def __init__(self, module: nn.Module, input_shape=None, norm=2, lipschitz: Optional[Fraction] = None, device=None):
        self.module, self.norm = module, norm_name(norm)
        self.bounded = BoundedModel(module, input_shape, device)
        try:
            self._screen = Screen(self.bounded.translation, self.bounded.device)
        except Unscreenable:
            self._screen = None
        shape = self.bounded.input_shape
        self.lipschitz = (
            lipschitz_certificate(module, shape, self.norm).bound if lipschitz is None else as_fraction(lipschitz)
        )

    def report(self, inputs: torch.Tensor, labels: torch.Tensor, eps, naive: bool = True) -> RobustnessReport:
        """The proven and (unless ``naive=False``) the naive certified accuracy of ``inputs``
        with ``labels`` at radius ``eps`` (see :func:`certified_robust_accuracy`)."""
        return self.reports(inputs, labels, [eps], naive=naive)[0]

    def reports(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        radii,
        batch_size: Optional[int] = None,
        progress=False,
        naive: bool = True,
    ) -> list:
        """One :meth:`report` per radius in ``radii``, from a single rigorous and (unless
        ``naive=False``, which leaves the naive rule out of the reports) a single native
        forward pass per batch (the margins do not depend on the radius).  With
        ``batch_size``, the samples go through in batches of that size (bounded memory), with
        progress shown when ``progress`` is true or names it.

        Examples:
            >>> import nets
            >>> certifier = Certifier(nets.LipschitzMLP([2, 4, 3], activation="maxmin", layer="aol"), (2,))
            >>> x, y = torch.randn(8, 2), torch.zeros(8, dtype=torch.long)
            >>> [r.eps for r in certifier.reports(x, y, ["1/10", 0.5])]
            [Fraction(1, 10), Fraction(1, 2)]
            >>> certifier.reports(x, y, [0.5], batch_size=3)[0] == certifier.reports(x, y, [0.5])[0]
            True
            >>> certifier.report(x, y, 0.5, naive=False).naive is None
            True
        """
        if batch_size is None or len(inputs) <= batch_size:
            return self._reports(inputs, labels, radii, naive)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument(f"batch_size must be a positive int, got {batch_size!r}")
        from nets.progress import progress as show

        starts = range(0, len(inputs), batch_size)
        label = progress if isinstance(progress, str) else f"certifying {len(inputs)} samples: batches"
        parts = [
            self._reports(inputs[k : k + batch_size], labels[k : k + batch_size], radii, naive)
            for k in show(starts, label, enabled=bool(progress))
        ]
        return [
            RobustnessReport.from_masks(
                batches[0].eps,
                batches[0].lipschitz,
                sum((r.certified_mask for r in batches), ()),
                sum((r.naive_mask for r in batches), ()) if naive else None,
                batches[0].norm,
            )
            for batches in zip(*parts)
        ]

    def _proven(self, x: torch.Tensor, labels: torch.Tensor, radii: list, classes: int) -> list:
        """The proven rule's verdicts on the checked inputs ``x``, one list per radius: the
        float32 screen decides what it can (:mod:`nets.certify.screen`), the float64 pass and
        the exact rule the rest."""
        n = len(labels)
        verdicts = [[False] * n for _ in radii]
        undecided = [range(n) for _ in radii]
        if self._screen is not None and classes > 1 and n:
            y, E = self._screen(x)
            for k, eps in enumerate(radii):
                bracket = threshold_bracket(self.lipschitz, eps, None if self.norm == 2 else _MARGIN_FACTOR[self.norm])
                if bracket is not None:
                    certified, decided = screen_decisions(y, E, labels, bracket)
                    verdicts[k] = certified.tolist()
                    undecided[k] = (~decided).nonzero()[:, 0].tolist()
        rest = sorted(set().union(*undecided))
        if rest:
            y, err = self.bounded.evaluate(x[rest])
            row = {i: j for j, i in enumerate(rest)}
            for k, eps in enumerate(radii):
                if undecided[k]:
                    rows = [row[i] for i in undecided[k]]
                    exact = _proven_rule(y[rows], err[rows], labels[list(undecided[k])], self.lipschitz, eps, self.norm)
                    for i, verdict in zip(undecided[k], exact):
                        verdicts[k][i] = verdict
        return verdicts

    def _reports(self, inputs: torch.Tensor, labels: torch.Tensor, radii, naive: bool) -> list:
        radii = [as_fraction(eps) for eps in radii]
        for eps in radii:
            if eps < 0:
                raise InvalidArgument(f"eps must be a non-negative radius, got {eps}")
        if (
            not isinstance(labels, torch.Tensor)
            or labels.dim() != 1
            or len(labels) != len(inputs)
            or labels.dtype.is_floating_point
        ):
            raise ShapeError(
                f"labels must be a 1-D integer tensor with one label per input ({len(inputs)}), got "
                f"{getattr(labels, 'shape', labels)}"
            )
        x = self.bounded.checked_inputs(inputs)
        out_shape = self.bounded.translation.out_shape
        if len(out_shape) != 1:
            raise ShapeError(
                f"the model's outputs must be class scores [batch, classes], got per-sample shape {tuple(out_shape)}"
            )
        classes = out_shape[0]
        if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < classes):
            raise InvalidArgument(
                f"labels must lie in [0, {classes}), got values from {int(labels.min())} to {int(labels.max())}"
            )
        proven = self._proven(x, labels, radii, classes)
        naive_masks = self._naive(inputs, labels, radii) if naive else [None] * len(radii)
        return [
            RobustnessReport.from_masks(eps, self.lipschitz, p, m, self.norm)
            for eps, p, m in zip(radii, proven, naive_masks)
        ]

    def _naive(self, inputs: torch.Tensor, labels: torch.Tensor, radii: list) -> list:
        """The naive rule's verdicts, one list per radius: the model in its own precision,
        float margins against ``c L eps`` in floats."""
        module = self.module
        parameter = next(module.parameters(), None)
        with evaluation_mode(module):
            native = module(inputs if parameter is None else inputs.to(parameter.dtype))
        true = native.gather(1, labels[:, None].to(native.device))[:, 0]
        others = native.clone()
        others.scatter_(1, labels[:, None].to(native.device), float("-inf"))
        native_margin = true - others.max(dim=1).values
        factor = math.sqrt(2) if self.norm == 2 else _MARGIN_FACTOR[self.norm]
        return [(native_margin > factor * float(self.lipschitz) * float(eps)).tolist() for eps in radii]


def certified_robust_accuracy(
    module: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    eps,
    lipschitz: Optional[Fraction] = None,
    norm=2,
    naive: bool = True,
) -> RobustnessReport:
    """A sample is certified against every perturbation of ``norm`` at most ``eps`` (l2 by
    default; 1 or ``"inf"``) iff the exact function's margin ``M`` provably satisfies
    ``M > c L eps``, strictly, with ``c = sqrt(2)`` in l2, ``2`` in l-infinity and ``1`` in l1
    (``f_y - f_j`` changes by at most ``|d_y| + |d_j|`` for an output change ``d``), and ``L``
    the proven bound in that norm of :func:`lipschitz_certificate` unless given.  A float32
    pass with one proven error bound per sample decides every sample whose margin clears (or
    misses) the threshold by more than its rounding (:mod:`nets.certify.screen`); for the
    rest, the lower bound of ``M`` from :func:`nets.certify.bounded_forward` is compared
    exactly (in l2: ``M_lo > 0`` and ``M_lo^2 > 2 L^2 eps^2``), so exact ties are never
    certified.  The naive rule (left out with ``naive=False``) evaluates the model in its own
    precision and compares floats.  ``eps`` is a
    non-negative radius, taken exactly (``"1/10"`` or ``0.1``, which is the float).  A call on
    a model whose state has not changed since an earlier call (every tensor's exact contents,
    every attribute, see :mod:`nets.semantics.snapshot`) reuses that call's translation,
    proven bound and prepared float passes; any change, a write through a numpy view included,
    translates the model again.  For many radii at once, :class:`Certifier` reports them from
    one pass.

    Examples:
        >>> import nets
        >>> model = nets.LipschitzMLP([2, 3], activation="maxmin", layer="aol")
        >>> x, y = torch.randn(4, 2), torch.zeros(4, dtype=torch.long)
        >>> report = certified_robust_accuracy(model, x, y, "1/100", norm="inf")
        >>> report.norm
        'inf'
    """
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 2:
        raise ShapeError(
            "inputs must be a batch tensor [batch, *input_shape], got "
            f"{getattr(inputs, 'shape', type(inputs).__name__)}"
        )
    return _certifier(module, tuple(inputs.shape[1:]), norm, lipschitz, inputs.device).report(
        inputs, labels, eps, naive=naive
    )


#: The certifiers of the last few models :func:`certified_robust_accuracy` saw.
_RECENT = Recent(4)


def _certifier(module: nn.Module, shape: tuple, norm, lipschitz, device) -> Certifier:
    """A :class:`Certifier` of ``module``: the one made by an earlier call when nothing the
    translation reads has changed since (:class:`nets.certify._recent.Recent`) and the call
    asks for the same shape, norm, bound and device; a new one otherwise."""
    settings = (shape, norm_name(norm), None if lipschitz is None else as_fraction(lipschitz), str(device))
    return _RECENT.get(module, settings, lambda: Certifier(module, shape, norm, lipschitz, device), _current)


def _current(certifier: Certifier) -> bool:
    """Whether the certifier's own check still accepts its module (tensors not replaced)."""
    try:
        certifier.bounded.check_unchanged()
    except InvalidArgument:
        return False
    return True
