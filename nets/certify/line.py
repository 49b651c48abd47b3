"""Exact certificates along a segment: the distance to the first label change, and the exact
Lipschitz constant of the outputs along the segment.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(1, 2))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.tensor([[-1.0], [1.0]])), model[0].bias.zero_()
    >>> line_certificate(model, [-1.0], [1.0]).t      # the scores cross at x = 0
    Fraction(1, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from torch import nn

from cpwl import sqrt_upper
from cpwl.errors import InvalidArgument
from nets._graph import importer_for
from nets.certify._recent import Recent
from nets.export import exact_point, line_points, restrict_to_line
from nets.graph_model import GraphModel

__all__ = ["LineCertificate", "line_certificate"]


@dataclass(frozen=True)
class LineCertificate:
    """Exact facts about a model along the segment ``start + t (end - start)``, ``t`` in
    ``[0, 1]``: the label at ``t = 0`` (``None`` if the top score is tied there), the first
    ``t`` at which the exact argmax stops being that label (a tie counts as a change;
    ``None`` if it never does on the segment), ``||end - start||^2`` (the distance to the
    change is ``t * sqrt(length_squared)``), and the exact squared Lipschitz constant of the
    outputs along the line: the largest ``||dF/dx||^2`` over the pieces, per unit of input
    distance (``None`` when it was not asked for: ``line_certificate(..., lipschitz=False)``)."""

    label: Optional[int]
    t: Optional[Fraction]
    length_squared: Fraction
    lipschitz_squared: Optional[Fraction]

    @property
    def lipschitz_upper(self) -> Optional[Fraction]:
        """A rational upper bound (within ``2**-40``) of the exact Lipschitz constant of the
        outputs along the segment, ``sqrt(lipschitz_squared)`` (``None`` if not asked for)."""
        return None if self.lipschitz_squared is None else sqrt_upper(self.lipschitz_squared)

    @property
    def distance_squared(self) -> Optional[Fraction]:
        """Squared Euclidean distance from ``start`` to the first label change (exact)."""
        return None if self.t is None else self.t * self.t * self.length_squared


def first_loss(F, label: int) -> Optional[Fraction]:
    """The first parameter of the exact map ``F``'s domain (bounded below) where output
    ``label`` stops being the strict argmax (a tie counts), or ``None``: the first point where
    one of the differences ``F_label - F_i``, all formed at once by one exact affine map, is
    ``<= 0`` (:meth:`cpwl.CPWLMap.first_nonpositive`).

    Examples:
        >>> from cpwl import CPWLMap
        >>> first_loss(CPWLMap.line([0, 1], [1, 0]), 1)      # (t, 1 - t): tied at 1/2
        Fraction(1, 2)
    """
    if F.dim == 1:
        return None
    W = [[(1 if j == label else 0) - (1 if j == i else 0) for j in range(F.dim)] for i in range(F.dim) if i != label]
    return F.affine(W).first_nonpositive()


def line_certificate(model, start, end, *, lipschitz: bool = True) -> LineCertificate:
    """Exact distance, along a segment, to the nearest change of the predicted label, and
    the exact Lipschitz constant of the outputs along it.  ``model`` is a torch module or the
    path of an ONNX (``.onnx``) or torch.export (``.pt2``) file; ``start`` and ``end`` are
    taken exactly, as by :func:`nets.export.restrict_to_line` (a graph file's points are one
    input's values, without a batch dimension).

    The Lipschitz constant needs the slopes of every piece, so the exact engine restricts
    the model to the whole segment.  With ``lipschitz=False`` the certificate has none, and
    the exact engine runs only on the stretch of the segment where the label may first
    change (:class:`nets.certify.LineCertifier`: a float64 screen with proven error bounds
    covers the rest; a graph file must then be a chain of layers with residual additions);
    the label and ``t`` are the same, exactly.  The certifier prepared for a module is
    reused by the next calls while nothing its translation reads has changed (as
    :func:`nets.certify.certified_robust_accuracy` reuses its certifier; the last two models'
    are kept)."""
    if not lipschitz:
        module = GraphModel(model) if importer_for(model) is not None else model
        if not isinstance(module, nn.Module):
            raise InvalidArgument(
                f"line_certificate takes a torch module or an .onnx/.pt2 path, got {type(model).__name__} {model!r}"
            )
        return _line_certifier(module, line_points(module, start, end)[2]).certificate(start, end)
    if isinstance(model, nn.Module):
        F_line = restrict_to_line(model, start, end)
    elif importer_for(model) is not None:
        F_line = importer_for(model).restrict_to_line(model, start, end)
    else:
        raise InvalidArgument(
            f"line_certificate takes a torch module or an .onnx/.pt2 path, got {type(model).__name__} {model!r}"
        )
    return certificate_of(F_line, start, end)


#: The line certifiers of the last two models ``line_certificate(..., lipschitz=False)`` saw
#: (each keeps its network, and with it the weights' residues: hundreds of MB for a wide net).
_RECENT = Recent(2)


def _line_certifier(module: nn.Module, shape: tuple):
    from nets.certify.first_change import LineCertifier
    from nets.certify.rigorous import fingerprint

    return _RECENT.get(
        module, (shape,), lambda: LineCertifier(module, shape), lambda made: made._fingerprint == fingerprint(module)
    )


def certificate_of(F_line, start, end) -> LineCertificate:
    """The :class:`LineCertificate` of the exact outputs ``F_line`` of a model along
    ``start + t (end - start)``, ``t`` in ``[0, 1]`` (whatever computed them).

    Examples:
        >>> from cpwl import CPWLMap
        >>> certificate_of(CPWLMap.line([0, 1], [1, 0]), [0, 1], [1, 0]).t     # (t, 1 - t) cross at 1/2
        Fraction(1, 2)
    """
    a, _ = exact_point(start, "start")
    b, _ = exact_point(end, "end")
    length_squared = Fraction(sum((y - x) ** 2 for x, y in zip(a, b)))
    lipschitz_squared = F_line.max_slope_norm_squared() / length_squared if length_squared else Fraction(0)
    scores = F_line(0)
    top = max(scores)
    if scores.count(top) > 1:
        return LineCertificate(None, Fraction(0), length_squared, lipschitz_squared)
    label = scores.index(top)
    return LineCertificate(label, first_loss(F_line, label), length_squared, lipschitz_squared)
