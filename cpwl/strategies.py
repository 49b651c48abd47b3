"""Hypothesis strategies for exact objects: rationals, CPWL functions, exact orthogonal
matrices and contractions, and whole exact networks of every activation family.

All strategies shrink toward small, simple examples (few breakpoints, small denominators,
narrow and shallow networks).

Examples:
    >>> from hypothesis import given
    >>> from cpwl import strategies
    >>> @given(strategies.cpwl_functions(lipschitz=1))
    ... def test_lipschitz(f):
    ...     assert f.is_lipschitz(1)
    >>> test_lipschitz()
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache, lru_cache
from typing import Optional

from hypothesis import strategies as st

from cpwl import activations as act
from cpwl.errors import InvalidArgument
from cpwl.function import CPWL
from cpwl.interval import Interval
from cpwl.network import Affine, Network
from cpwl.rationals import RationalLike, as_fraction

__all__ = [
    "rationals",
    "cpwl_functions",
    "orthogonal_matrices",
    "contractions",
    "matrices",
    "networks",
    "near_degenerate_networks",
    "FAMILIES",
]

#: Activation families understood by :func:`networks`.
FAMILIES = ("relu", "abs", "leaky_relu", "two_piece", "maxmin", "groupsort", "householder", "n", "identity", "absid")


def _check_int(function: str, name: str, value, minimum: int) -> None:
    """Refuse a non-integer or too small argument with :class:`InvalidArgument`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"{function} needs {name} to be an int >= {minimum}, got {value!r}")


def _check_bool(function: str, name: str, value) -> None:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{function} needs {name} to be True or False, got {value!r}")


def _sizes(function: str, name: str, value, minimum: int) -> st.SearchStrategy:
    """A size given as an int (checked) or as a strategy of ints (taken as it is)."""
    if isinstance(value, st.SearchStrategy):
        return value
    _check_int(function, name, value, minimum)
    return st.just(value)


@cache
def rationals(
    min_value: Optional[RationalLike] = None,
    max_value: Optional[RationalLike] = None,
    *,
    max_denominator: int = 16,
    dyadic: bool = False,
) -> st.SearchStrategy:
    """Fractions in ``[min_value, max_value]``; ``dyadic=True`` gives denominators that are
    powers of two (like the float weights of trained networks).

    Examples:
        >>> from hypothesis import find
        >>> find(rationals(1, 2), lambda q: q.denominator > 1)
        Fraction(3, 2)
    """
    _check_int("rationals", "max_denominator", max_denominator, 1)
    _check_bool("rationals", "dyadic", dyadic)
    lo = None if min_value is None else as_fraction(min_value)
    hi = None if max_value is None else as_fraction(max_value)
    if lo is not None and hi is not None and lo > hi:
        raise InvalidArgument(f"rationals needs min_value <= max_value, got {lo} > {hi}")
    if dyadic:
        dens = st.integers(0, max(0, max_denominator.bit_length() - 1)).map(lambda k: 2**k)
    else:
        dens = st.integers(1, max_denominator)
    return _rational(dens, lo, hi)


@st.composite
def _rational(draw, dens, lo, hi):
    den = draw(dens)
    n_lo = None if lo is None else -((-lo.numerator * den) // lo.denominator)
    n_hi = None if hi is None else (hi.numerator * den) // hi.denominator
    if n_lo is not None and n_hi is not None and n_lo > n_hi:
        den, n_lo, n_hi = lo.denominator, lo.numerator, lo.numerator  # no fraction of this denominator fits
    return Fraction(draw(_integers(n_lo, n_hi)), den)


@lru_cache(maxsize=4096)
def _integers(lo, hi) -> st.SearchStrategy:
    return st.integers(lo, hi)


@st.composite
def _cpwl_function(draw, dom, point, slope, value, lo, hi, max_breakpoints):
    raw = draw(st.lists(point, max_size=max_breakpoints, unique=True))
    bps = sorted(t for t in raw if (dom.lo is None or t > dom.lo) and (dom.hi is None or t < dom.hi))
    slopes = draw(st.lists(slope, min_size=len(bps) + 1, max_size=len(bps) + 1))
    anchor_x = lo if dom.lo is not None else (hi if dom.hi is not None else Fraction(0))
    return CPWL.from_slopes(bps, slopes, anchor=(anchor_x, draw(value)), domain=dom)


def cpwl_functions(
    lipschitz: Optional[RationalLike] = None,
    *,
    domain=None,
    max_breakpoints: int = 6,
    max_denominator: int = 16,
) -> st.SearchStrategy:
    """CPWL functions on ``domain`` (default: the real line, breakpoints in ``[-4, 4]``),
    with every ``|slope| <= lipschitz`` when given.

    Examples:
        >>> from hypothesis import find
        >>> f = find(cpwl_functions(lipschitz=1, domain=(0, 1)), lambda f: len(f.breakpoints) >= 2)
        >>> f.domain, f.is_lipschitz(1)
        (Interval(0, 1), True)
    """
    _check_int("cpwl_functions", "max_breakpoints", max_breakpoints, 0)
    _check_int("cpwl_functions", "max_denominator", max_denominator, 1)
    if lipschitz is not None and as_fraction(lipschitz) < 0:
        raise InvalidArgument(f"cpwl_functions needs lipschitz >= 0, got {lipschitz}")
    dom = Interval.coerce(domain)
    lo = dom.lo if dom.lo is not None else (dom.hi - 8 if dom.hi is not None else Fraction(-4))
    hi = dom.hi if dom.hi is not None else lo + 8
    bound = 4 if lipschitz is None else as_fraction(lipschitz)
    slope = rationals(-bound, bound, max_denominator=max_denominator)
    point = rationals(lo, hi, max_denominator=max_denominator)

    return _cpwl_function(dom, point, slope, rationals(-4, 4, max_denominator=max_denominator), lo, hi, max_breakpoints)


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


@st.composite
def _orthogonal(draw, n: int, max_denominator: int):
    k = n * (n - 1) // 2
    entries = draw(st.lists(rationals(-2, 2, max_denominator=max_denominator), min_size=k, max_size=k))
    S = [[Fraction(0)] * n for _ in range(n)]
    it = iter(entries)
    for i in range(n):
        for j in range(i + 1, n):
            S[i][j] = next(it)
            S[j][i] = -S[i][j]
    plus = [[int(i == j) + S[i][j] for j in range(n)] for i in range(n)]
    minus = [[int(i == j) - S[i][j] for j in range(n)] for i in range(n)]
    Q = _solve(plus, minus)  # (I+S)^{-1}(I-S) = (I-S)(I+S)^{-1} (they commute)
    signs = draw(st.lists(st.sampled_from([1, -1]), min_size=n, max_size=n))
    return [[Fraction(Q[i][j] * signs[j]) for j in range(n)] for i in range(n)]


@cache
def orthogonal_matrices(n: int, *, max_denominator: int = 8) -> st.SearchStrategy:
    """Exact rational orthogonal ``n x n`` matrices (lists of rows of Fractions): the Cayley
    transform ``(I - S)(I + S)^{-1}`` of a rational skew-symmetric ``S``, times a diagonal
    sign matrix (so reflections occur too).  Shrinks toward the identity.

    Examples:
        >>> from hypothesis import find
        >>> Q = find(orthogonal_matrices(2), lambda Q: Q[0][1] != 0)
        >>> sum(v * v for v in Q[0])
        Fraction(1, 1)
    """
    _check_int("orthogonal_matrices", "n", n, 1)
    _check_int("orthogonal_matrices", "max_denominator", max_denominator, 1)
    return _orthogonal(n, max_denominator)


@st.composite
def _contraction(draw, m: int, n: int, max_denominator: int):
    r = min(m, n)
    U = draw(orthogonal_matrices(m, max_denominator=max_denominator))
    V = draw(orthogonal_matrices(n, max_denominator=max_denominator))
    s = draw(
        st.lists(
            st.one_of(st.just(Fraction(1)), rationals(0, 1, max_denominator=max_denominator)), min_size=r, max_size=r
        )
    )
    return [[sum(U[i][k] * s[k] * V[k][j] for k in range(r)) for j in range(n)] for i in range(m)]


@cache
def contractions(m: int, n: int, *, max_denominator: int = 8) -> st.SearchStrategy:
    """Exact ``m x n`` rational matrices with spectral norm ``<= 1``: ``U diag(s) V`` with
    exact orthogonal ``U, V`` and singular values ``s`` in ``[0, 1]`` (1 occurs often, so
    tight layers are exercised).

    Examples:
        >>> from hypothesis import find
        >>> from cpwl import operator_norm_at_most
        >>> W = find(contractions(2, 3), lambda W: True)
        >>> operator_norm_at_most(W)
        True
    """
    _check_int("contractions", "m", m, 1)
    _check_int("contractions", "n", n, 1)
    _check_int("contractions", "max_denominator", max_denominator, 1)
    return _contraction(m, n, max_denominator)


@cache
def matrices(m: int, n: int, *, max_value: RationalLike = 2, max_denominator: int = 8) -> st.SearchStrategy:
    """Arbitrary exact ``m x n`` rational matrices with entries in ``[-max_value, max_value]``.

    Examples:
        >>> from hypothesis import find
        >>> len(find(matrices(2, 3), lambda W: True)[0])
        3
    """
    _check_int("matrices", "m", m, 1)
    _check_int("matrices", "n", n, 1)
    _check_int("matrices", "max_denominator", max_denominator, 1)
    if as_fraction(max_value) < 0:
        raise InvalidArgument(f"matrices needs max_value >= 0, got {max_value}")
    entry = rationals(-as_fraction(max_value), as_fraction(max_value), max_denominator=max_denominator)
    return st.lists(st.lists(entry, min_size=n, max_size=n), min_size=m, max_size=m)


@cache
def _activation_layer(name: str, width: int):
    """Strategy for one activation layer of the family ``name`` on ``width`` channels."""
    unit = rationals(-1, 1, max_denominator=8)
    if name == "relu":
        return st.just(act.Elementwise(act.relu()))
    if name == "abs":
        return st.just(act.Elementwise(act.abs_()))
    if name == "identity":
        return st.just(act.Elementwise(act.identity()))
    if name == "leaky_relu":
        return (
            rationals(-1, 1, max_denominator=8)
            .filter(lambda a: a != 1)
            .map(lambda a: act.Elementwise(act.leaky_relu(a)))
        )
    if name == "two_piece":
        return (
            st.tuples(rationals(-2, 2, max_denominator=8), unit, unit)
            .filter(lambda t: t[1] != t[2])
            .map(lambda t: act.Elementwise(act.two_piece(*t)))
        )
    if name == "maxmin":
        return st.builds(
            act.MaxMin, st.sampled_from(["adjacent", "halves"]), st.sampled_from(["max_first", "min_first"])
        )
    if name == "groupsort":
        return st.builds(act.GroupSort, st.sampled_from([g for g in (2, 3, 4) if width % g == 0] or [1]), st.booleans())
    if name == "householder":
        return st.lists(rationals(-2, 2, max_denominator=8), min_size=2, max_size=2).filter(any).map(act.Householder)
    if name == "absid":
        return st.lists(st.sampled_from([act.abs_(), act.identity()]), min_size=width, max_size=width).map(
            act.Elementwise
        )
    if name == "n":
        pair = st.tuples(rationals(-2, 2, max_denominator=8), rationals(-2, 2, max_denominator=8))
        return st.lists(pair, min_size=width, max_size=width).map(act.NLayer)
    raise InvalidArgument(f"unknown activation family {name!r}; choose from {FAMILIES}")


@st.composite
def _network(draw, activation, widths, depths, input_dim, output_dim, lipschitz):
    w = draw(widths)
    if isinstance(activation, str) and activation in ("maxmin", "householder"):
        w = 2 * max(1, (w + 1) // 2)
    dims = [input_dim] + [w] * draw(depths) + [output_dim]
    layers = []
    for k in range(len(dims) - 1):
        m, n = dims[k + 1], dims[k]
        layers.append(Affine(draw(contractions(m, n) if lipschitz else matrices(m, n)), draw(_biases(m))))
        if k < len(dims) - 2:
            family = activation if isinstance(activation, st.SearchStrategy) else _activation_layer(activation, m)
            layers.append(draw(family))
    return Network(layers)


@cache
def _biases(m: int) -> st.SearchStrategy:
    return st.lists(rationals(-2, 2, max_denominator=8), min_size=m, max_size=m)


def networks(
    activation: str = "relu",
    *,
    width=st.integers(1, 4),
    depth=st.integers(1, 3),
    input_dim: int = 1,
    output_dim: int = 1,
    lipschitz: bool = True,
) -> st.SearchStrategy:
    """Exact networks ``Affine, activation, ..., Affine`` of the given family (one of
    :data:`FAMILIES`, or a strategy of width-agnostic activation layers such as
    ``Elementwise(sigma)``), ``depth`` hidden layers of width ``width`` (ints or strategies).
    With ``lipschitz=True`` every weight matrix is an exact contraction (``||W||_2 <= 1``).
    Pairing activations get an even width; Householder a width divisible by 2.

    Examples:
        >>> from hypothesis import find
        >>> net = find(networks("n", depth=2), lambda net: True)
        >>> [c.ok for c in net.layer_norm_report()]
        [True, True, True]
    """
    if isinstance(activation, str) and activation not in FAMILIES:
        raise InvalidArgument(f"unknown activation family {activation!r}; choose from {FAMILIES}")
    if not isinstance(activation, (str, st.SearchStrategy)):
        raise InvalidArgument(
            f"activation must be a family name or a strategy of layers, got {type(activation).__name__}"
        )
    _check_int("networks", "input_dim", input_dim, 1)
    _check_int("networks", "output_dim", output_dim, 1)
    _check_bool("networks", "lipschitz", lipschitz)
    return _network(
        activation,
        _sizes("networks", "width", width, 1),
        _sizes("networks", "depth", depth, 0),
        input_dim,
        output_dim,
        lipschitz,
    )


@st.composite
def _near_degenerate(draw, width, depth):
    net = draw(networks("relu", width=width, depth=depth, lipschitz=draw(st.booleans())))
    first, rest = net.layers[0], list(net.layers[1:])
    W = [list(row) for row in first.weight]
    b = list(first.bias)
    x0 = draw(rationals(-2, 2, max_denominator=16))
    delta = Fraction(draw(st.sampled_from([1, -1, 0])), 2 ** draw(st.integers(20, 60)))
    j = draw(st.integers(0, len(W) - 1))
    b[j] = delta - W[j][0] * x0  # neuron j sits delta away from zero at x0 (or exactly on it)
    if len(W) > 1:  # a second neuron crossing at (nearly) the same point
        j2 = (j + 1) % len(W)
        W[j2] = list(W[j])
        b[j2] = b[j] + draw(st.sampled_from([0, delta, -delta]))
    return Network([Affine(W, b), *rest]), x0


def near_degenerate_networks(*, width=st.integers(1, 4), depth=st.integers(1, 3)) -> st.SearchStrategy:
    """Pairs ``(network, x0)`` of scalar-input ReLU networks tuned to defeat float decisions:
    at ``x0`` one neuron's pre-activation is ``0`` or ``±2**-k`` (k in 20..60) away from it,
    and a second neuron crosses zero at the same point or within ``2**-k`` of it (the
    floating-point attacks of Jia & Rinard, in 1-D).

    Examples:
        >>> from hypothesis import find
        >>> net, x0 = find(near_degenerate_networks(width=2), lambda pair: True)
        >>> net.layers[0].out_features
        2
    """
    return _near_degenerate(
        _sizes("near_degenerate_networks", "width", width, 1), _sizes("near_degenerate_networks", "depth", depth, 1)
    )
