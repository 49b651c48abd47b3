"""Hypothesis strategies for exact objects: rationals, CPWL functions, exact orthogonal
matrices and contractions, and whole exact networks of every activation family.

All strategies shrink toward small, simple examples (few breakpoints, small denominators,
narrow and shallow networks).

Example:
    >>> from hypothesis import given
    >>> from cpwl import strategies
    >>> @given(strategies.cpwl_functions(lipschitz=1))
    ... def test_lipschitz(f):
    ...     assert f.is_lipschitz(1)
    >>> test_lipschitz()
"""

from __future__ import annotations

from fractions import Fraction
from typing import Optional

from hypothesis import strategies as st

from cpwl import activations as act
from cpwl.function import CPWL
from cpwl.interval import Interval
from cpwl.network import Affine, Network
from cpwl.numbers import RationalLike, as_fraction

__all__ = [
    "rationals",
    "cpwl_functions",
    "orthogonal_matrices",
    "contractions",
    "matrices",
    "networks",
    "ACTIVATIONS",
]

#: Activation families understood by :func:`networks`.
ACTIVATIONS = ("relu", "abs", "leaky_relu", "two_piece", "maxmin", "groupsort", "householder", "n", "identity")


def rationals(
    min_value: Optional[RationalLike] = None,
    max_value: Optional[RationalLike] = None,
    max_denominator: int = 16,
    dyadic: bool = False,
) -> st.SearchStrategy:
    """Fractions in ``[min_value, max_value]``; ``dyadic=True`` gives denominators that are
    powers of two (like the float weights of trained networks).

    Example:
        >>> from hypothesis import find
        >>> find(rationals(1, 2), lambda q: q.denominator > 1)
        Fraction(3, 2)
    """
    lo = None if min_value is None else as_fraction(min_value)
    hi = None if max_value is None else as_fraction(max_value)
    if not dyadic:
        return st.fractions(min_value=lo, max_value=hi, max_denominator=max_denominator)
    exponents = st.integers(0, max(0, max_denominator.bit_length() - 1))

    def in_range(k: int):
        den = 2**k
        n_lo = None if lo is None else -((-lo.numerator * den) // lo.denominator)
        n_hi = None if hi is None else (hi.numerator * den) // hi.denominator
        return st.integers(n_lo, n_hi).map(lambda n: Fraction(n, den))

    return exponents.flatmap(in_range)


def cpwl_functions(
    lipschitz: Optional[RationalLike] = None,
    domain=None,
    max_breakpoints: int = 6,
    max_denominator: int = 16,
) -> st.SearchStrategy:
    """CPWL functions on ``domain`` (default: the real line, breakpoints in ``[-4, 4]``),
    with every ``|slope| <= lipschitz`` when given.

    Example:
        >>> from hypothesis import find
        >>> f = find(cpwl_functions(lipschitz=1, domain=(0, 1)), lambda f: len(f.breakpoints) >= 2)
        >>> f.domain, f.is_lipschitz(1)
        (Interval(0, 1), True)
    """
    dom = Interval.coerce(domain)
    lo = dom.lo if dom.lo is not None else (dom.hi - 8 if dom.hi is not None else Fraction(-4))
    hi = dom.hi if dom.hi is not None else lo + 8
    bound = 4 if lipschitz is None else as_fraction(lipschitz)
    slope = rationals(-bound, bound, max_denominator)
    point = rationals(lo, hi, max_denominator)

    @st.composite
    def build(draw):
        raw = draw(st.lists(point, max_size=max_breakpoints, unique=True))
        bps = sorted(t for t in raw if (dom.lo is None or t > dom.lo) and (dom.hi is None or t < dom.hi))
        slopes = draw(st.lists(slope, min_size=len(bps) + 1, max_size=len(bps) + 1))
        anchor_x = lo if dom.lo is not None else (hi if dom.hi is not None else Fraction(0))
        value = draw(rationals(-4, 4, max_denominator))
        return CPWL.from_slopes(bps, slopes, anchor=(anchor_x, value), domain=dom)

    return build()


def _solve(A: list, B: list) -> list:
    """Exact ``A^{-1} B`` by Gauss-Jordan elimination (small matrices)."""
    n = len(A)
    M = [list(A[i]) + list(B[i]) for i in range(n)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if M[r][col] != 0)
        M[col], M[pivot] = M[pivot], M[col]
        inv = 1 / M[col][col]
        M[col] = [v * inv for v in M[col]]
        for r in range(n):
            if r != col and M[r][col] != 0:
                factor = M[r][col]
                M[r] = [a - factor * b for a, b in zip(M[r], M[col])]
    return [row[n:] for row in M]


def orthogonal_matrices(n: int, max_denominator: int = 8) -> st.SearchStrategy:
    """Exact rational orthogonal ``n x n`` matrices (lists of rows of Fractions): the Cayley
    transform ``(I - S)(I + S)^{-1}`` of a rational skew-symmetric ``S``, times a diagonal
    sign matrix (so reflections occur too).  Shrinks toward the identity.

    Example:
        >>> from hypothesis import find
        >>> Q = find(orthogonal_matrices(2), lambda Q: Q[0][1] != 0)
        >>> sum(v * v for v in Q[0])
        Fraction(1, 1)
    """

    @st.composite
    def build(draw):
        entries = draw(st.lists(rationals(-2, 2, max_denominator), min_size=n * (n - 1) // 2, max_size=n * (n - 1) // 2))
        S = [[Fraction(0)] * n for _ in range(n)]
        it = iter(entries)
        for i in range(n):
            for j in range(i + 1, n):
                S[i][j] = next(it)
                S[j][i] = -S[i][j]
        eye = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
        plus = [[eye[i][j] + S[i][j] for j in range(n)] for i in range(n)]
        minus = [[eye[i][j] - S[i][j] for j in range(n)] for i in range(n)]
        Q = _solve(plus, minus)  # (I+S)^{-1}(I-S) = (I-S)(I+S)^{-1} (they commute)
        signs = draw(st.lists(st.sampled_from([1, -1]), min_size=n, max_size=n))
        return [[Q[i][j] * signs[j] for j in range(n)] for i in range(n)]

    return build()


def contractions(m: int, n: int, max_denominator: int = 8) -> st.SearchStrategy:
    """Exact ``m x n`` rational matrices with spectral norm ``<= 1``: ``U diag(s) V`` with
    exact orthogonal ``U, V`` and singular values ``s`` in ``[0, 1]`` (1 occurs often, so
    tight layers are exercised).

    Example:
        >>> from hypothesis import find
        >>> from cpwl import operator_norm_at_most
        >>> W = find(contractions(2, 3), lambda W: True)
        >>> operator_norm_at_most(W)
        True
    """
    r = min(m, n)
    singular = st.one_of(st.just(Fraction(1)), rationals(0, 1, max_denominator))

    @st.composite
    def build(draw):
        U = draw(orthogonal_matrices(m, max_denominator))
        V = draw(orthogonal_matrices(n, max_denominator))
        s = draw(st.lists(singular, min_size=r, max_size=r))
        return [[sum(U[i][k] * s[k] * V[k][j] for k in range(r)) for j in range(n)] for i in range(m)]

    return build()


def matrices(m: int, n: int, max_value: RationalLike = 2, max_denominator: int = 8) -> st.SearchStrategy:
    """Arbitrary exact ``m x n`` rational matrices with entries in ``[-max_value, max_value]``.

    Example:
        >>> from hypothesis import find
        >>> len(find(matrices(2, 3), lambda W: True)[0])
        3
    """
    entry = rationals(-as_fraction(max_value), as_fraction(max_value), max_denominator)
    return st.lists(st.lists(entry, min_size=n, max_size=n), min_size=m, max_size=m)


def _activation_layer(name: str, width: int):
    """Strategy for one activation layer of the family ``name`` on ``width`` channels."""
    unit = rationals(-1, 1, 8)
    if name == "relu":
        return st.just(act.Elementwise(act.relu()))
    if name == "abs":
        return st.just(act.Elementwise(act.abs_()))
    if name == "identity":
        return st.just(act.Elementwise(act.identity()))
    if name == "leaky_relu":
        return rationals(-1, 1, 8).filter(lambda a: a != 1).map(lambda a: act.Elementwise(act.leaky_relu(a)))
    if name == "two_piece":
        return st.tuples(rationals(-2, 2, 8), unit, unit).filter(lambda t: t[1] != t[2]).map(
            lambda t: act.Elementwise(act.two_piece(*t))
        )
    if name == "maxmin":
        return st.builds(act.MaxMin, st.sampled_from(["adjacent", "halves"]), st.sampled_from(["max_first", "min_first"]))
    if name == "groupsort":
        return st.builds(act.GroupSort, st.sampled_from([g for g in (2, 3, 4) if width % g == 0] or [1]), st.booleans())
    if name == "householder":
        return st.lists(rationals(-2, 2, 8), min_size=2, max_size=2).filter(any).map(act.Householder)
    if name == "n":
        pair = st.tuples(rationals(-2, 2, 8), rationals(-2, 2, 8))
        return st.lists(pair, min_size=width, max_size=width).map(act.NLayer)
    raise ValueError(f"unknown activation family {name!r}; choose from {ACTIVATIONS}")


def networks(
    activation: str = "relu",
    width=st.integers(1, 4),
    depth=st.integers(1, 3),
    input_dim: int = 1,
    output_dim: int = 1,
    lipschitz: bool = True,
) -> st.SearchStrategy:
    """Exact networks ``Affine, activation, ..., Affine`` of the given family (one of
    :data:`ACTIVATIONS`), ``depth`` hidden layers of width ``width`` (ints or strategies).
    With ``lipschitz=True`` every weight matrix is an exact contraction (``||W||_2 <= 1``).
    Pairing activations get an even width; Householder a width divisible by 2.

    Example:
        >>> from hypothesis import find
        >>> net = find(networks("n", depth=2), lambda net: True)
        >>> [c.ok for c in net.layer_norm_report()]
        [True, True, True]
    """
    widths = width if isinstance(width, st.SearchStrategy) else st.just(width)
    depths = depth if isinstance(depth, st.SearchStrategy) else st.just(depth)
    paired = activation in ("maxmin", "householder")

    @st.composite
    def build(draw):
        w = draw(widths)
        w = 2 * max(1, (w + 1) // 2) if paired else w
        d = draw(depths)
        dims = [input_dim] + [w] * d + [output_dim]
        layers = []
        for k in range(len(dims) - 1):
            m, n = dims[k + 1], dims[k]
            W = draw(contractions(m, n) if lipschitz else matrices(m, n))
            b = draw(st.lists(rationals(-2, 2, 8), min_size=m, max_size=m))
            layers.append(Affine(W, b))
            if k < len(dims) - 2:
                layers.append(draw(_activation_layer(activation, m)))
        return Network(layers)

    return build()
