"""docs/theory.md §2.3 (Lemma A): MaxMin is a rotated abs/identity; GroupSort is a sorting network
of compare-exchange stages."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from cpwl import CPWLMap, maximum, minimum, strategies
from cpwl import activations as act
from proofs.harness import Checker, Result

STATEMENT = (
    "For every CPWL map u = (a, b): R -> R^2, MaxMin(u) = M2 AbsId(M1 u) exactly, with "
    "M1 = [[1, -1], [1, 1]] and M2 = 1/2 [[1, 1], [-1, 1]]; since M1 = sqrt(2) R^T and "
    "M2 = R / sqrt(2) for the 45-degree rotation R, this is MaxMin = R AbsId R^T. "
    "GroupSort with group size k equals k stages of odd-even transposition sort, each stage a "
    "compare-exchange (min, max) of neighbouring channels."
)

M1 = [[1, -1], [1, 1]]
M2 = [[Fraction(1, 2), Fraction(1, 2)], [Fraction(-1, 2), Fraction(1, 2)]]


def rotation_identity_holds(F: CPWLMap, layer=None) -> bool:
    """``layer(F) == M2 AbsId(M1 F)`` for a 2-component map (``layer``: MaxMin by default).

    Examples:
        >>> rotation_identity_holds(CPWLMap.line([1, -1], [-1, 2]))
        True
    """
    layer = layer or act.MaxMin()
    absid = act.Elementwise([act.abs_(), act.identity()])
    return F.apply(layer) == F.affine(M1).apply(absid).affine(M2)


def sorting_network_holds(F: CPWLMap, group_size: int, stages: int = None) -> bool:
    """``GroupSort(group_size)(F)`` equals odd-even transposition sort (``stages`` stages,
    ``group_size`` by default) done with the scalar lattice operations, an independent code
    path.

    Examples:
        >>> sorting_network_holds(CPWLMap.line([3, 1, 2], [0, 2, 1]), 3)
        True
    """
    comps = list(F.components)
    for start in range(0, len(comps), group_size):
        for stage in range(group_size if stages is None else stages):
            for i in range(start + stage % 2, start + group_size - 1, 2):
                comps[i], comps[i + 1] = minimum(comps[i], comps[i + 1]), maximum(comps[i], comps[i + 1])
    return F.apply(act.GroupSort(group_size)) == CPWLMap.from_components(comps)


def _maps(k: int):
    fns = strategies.cpwl_functions(domain=(-3, 3), max_breakpoints=4)
    return st.lists(fns, min_size=k, max_size=k).map(CPWLMap.from_components)


def _crossing(F: CPWLMap) -> bool:
    """Two components meet somewhere on the domain (the sort changes order there)."""
    comps = F.components
    for i in range(len(comps)):
        for j in range(i + 1, len(comps)):
            low, high = (comps[i] - comps[j]).value_range()
            if low <= 0 <= high:
                return True
    return False


def check(c: Checker) -> None:
    crossing = ("components that cross", _crossing, 0.3)
    c.for_all("MaxMin = M2 AbsId M1", _maps(2), rotation_identity_holds, reached=crossing)
    c.falsifiable(
        "the identity rejects min-first MaxMin",
        _maps(2),
        lambda F: rotation_identity_holds(F, act.MaxMin(order="min_first")),
    )
    for k in (2, 3, 4):
        c.for_all(
            f"GroupSort({k}) = odd-even transposition sort",
            _maps(k),
            lambda F, k=k: sorting_network_holds(F, k),
            scale=0.5,
            reached=crossing,
        )
    c.falsifiable(
        "the check rejects a sorting network one stage short", _maps(3), lambda F: sorting_network_holds(F, 3, stages=2)
    )


RESULT = Result("maxmin_rotation", "lemma", "2.3", STATEMENT, check)
