"""docs/theory.md §6.2: the AOL rescaling gives spectral norm <= 1, exactly, also with rational
square-root upper bounds."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from cpwl import is_psd, operator_norm_at_most, sqrt_upper, strategies
from proofs.harness import Checker, Result

STATEMENT = (
    "For a rational P (m x n) let r_j = sum_k |(P^T P)_jk|. Then diag(r) - P^T P is diagonally "
    "dominant with non-negative diagonal, hence PSD, so ||P D||_2 <= 1 for D = diag(r_j^(-1/2)); "
    "with rational q_j >= sqrt(r_j) and D~ = diag(1/q_j) also ||P D~||_2 <= 1 (checked exactly)."
)


def row_sums(P: list) -> tuple:
    """``(P^T P, r)`` with ``r_j = sum_k |(P^T P)_jk|``, exactly."""
    n = len(P[0])
    gram = [[sum(row[i] * row[j] for row in P) for j in range(n)] for i in range(n)]
    return gram, [sum(abs(v) for v in gram[j]) for j in range(n)]


def rescaled(P: list, shrink: Fraction = Fraction(1)) -> list:
    """``P D~`` with ``q_j = shrink * sqrt_upper(r_j)`` (``shrink < 1`` breaks the bound)."""
    _, r = row_sums(P)
    q = [shrink * sqrt_upper(v) if v else Fraction(1) for v in r]
    return [[row[j] / q[j] for j in range(len(row))] for row in P]


def _diagonally_dominant_gap_is_psd(P: list) -> bool:
    gram, r = row_sums(P)
    n = len(r)
    return is_psd([[(r[i] if i == j else 0) - gram[i][j] for j in range(n)] for i in range(n)])


def _coupled(P: list) -> bool:
    gram, _ = row_sums(P)
    return any(gram[i][j] for i in range(len(gram)) for j in range(len(gram)) if i != j)


def check(c: Checker) -> None:
    shapes = st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(lambda mn: strategies.matrices(*mn))
    coupled = ("columns that are not orthogonal (off-diagonal Gram mass)", _coupled, 0.3)
    c.for_all("diag(r) - P^T P is PSD", shapes, _diagonally_dominant_gap_is_psd, reached=coupled)
    c.for_all("||P D~||_2 <= 1", shapes, lambda P: operator_norm_at_most(rescaled(P)))
    orthogonal_columns = st.integers(1, 4).flatmap(strategies.orthogonal_matrices)
    c.falsifiable(
        "q_j below sqrt(r_j) breaks the bound",
        orthogonal_columns,
        lambda Q: operator_norm_at_most(rescaled(Q, Fraction(99, 100))),
    )


RESULT = Result("aol_bound", "lemma", "6.2", STATEMENT, check)
