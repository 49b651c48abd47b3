"""Maps ``R -> R^k`` whose components share one list of breakpoints (a network layer
restricted to a line), stored exactly as integer matrices over one common denominator."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Optional

import numpy as np
from gmpy2 import mpq

from cpwl import _intarrays, _pieces, _refine
from cpwl.errors import DomainError, InvalidArgument, NumberError, ShapeError
from cpwl.function import CPWL
from cpwl.interval import Interval
from cpwl.limits import check_memory
from cpwl.rationals import RationalLike, _to_fraction, as_rational

__all__ = ["CPWLMap", "exact_matrix", "exact_vector"]


def exact_matrix(W, name: str = "W") -> list:
    """Rows of exact rationals (mpq) from a nested sequence or a 2-D array; checks shape.

    Examples:
        >>> exact_matrix([[0.5, "1/3"]])[0][1] == as_rational("1/3")
        True
    """
    arr = W.tolist() if hasattr(W, "tolist") and not isinstance(W, list) else W
    try:
        rows = [list(r) for r in arr]
    except TypeError as err:
        raise ShapeError(f"{name} must be a 2-D matrix (a list of rows), got {type(W).__name__}") from err
    if not rows or not rows[0]:
        raise ShapeError(f"{name} must have at least one row and one column")
    if any(len(r) != len(rows[0]) for r in rows):
        raise ShapeError(f"{name} is ragged: its rows have lengths {sorted({len(r) for r in rows})}")
    try:
        return [[as_rational(v) for v in r] for r in rows]
    except NumberError as err:
        raise NumberError(f"{name}: {err}") from err


def exact_vector(v, length: int, name: str = "b") -> list:
    """Exact rational vector (mpq) of the given length; ``None`` means zeros.

    Examples:
        >>> exact_vector(None, 2) == [0, 0]
        True
    """
    if v is None:
        return [mpq(0)] * length
    vals = v.tolist() if hasattr(v, "tolist") else list(v)
    if len(vals) != length or any(isinstance(x, (list, tuple)) for x in vals):
        raise ShapeError(f"{name} must be a vector of length {length}, got {v!r}")
    try:
        return [as_rational(x) for x in vals]
    except NumberError as err:
        raise NumberError(f"{name}: {err}") from err


class CPWLMap:
    """A continuous piecewise-linear map ``R -> R^k`` with shared breakpoints.

    On piece ``j`` the map is ``x -> (A[j] * x + C[j]) / D`` with integer rows ``A[j], C[j]``
    and one positive integer ``D``, so affine layers are exact integer matrix products.

    Examples:
        >>> from cpwl import CPWL, CPWLMap
        >>> F = CPWLMap.from_components([CPWL.identity(), CPWL.from_pieces([0], [0, 1], [0, 0])])
        >>> F.breakpoints, F(-2)
        ((Fraction(0, 1),), (Fraction(-2, 1), Fraction(0, 1)))
        >>> G = F.affine([[1, -1]])          # x - relu(x) = min(x, 0)
        >>> G[0](3), G[0](-3)
        (Fraction(0, 1), Fraction(-3, 1))
    """

    __slots__ = ("_bps", "_A", "_C", "_D", "_domain")

    def __init__(self, *args, **kwargs):
        raise InvalidArgument("build a CPWLMap with CPWLMap.from_components or CPWLMap.line, or from a Network")

    @classmethod
    def _raw(cls, bps, A, C, D, domain) -> CPWLMap:
        self = object.__new__(cls)
        self._bps, self._A, self._C, self._D, self._domain = tuple(bps), A, C, int(D), domain
        return self

    @classmethod
    def _from_rational_rows(cls, bps, slope_rows, intercept_rows, domain) -> CPWLMap:
        A, C, den = _intarrays.over_common_denominator(slope_rows, intercept_rows)
        return cls._raw(bps, A, C, den, domain)

    @classmethod
    def _from_component_pieces(cls, bps, comps, domain) -> CPWLMap:
        samples = _pieces.sample_points(bps, domain)
        pieces = [[f._piece_at(m) for f in comps] for m in samples]
        return cls._from_rational_rows(
            bps, [[p[0] for p in row] for row in pieces], [[p[1] for p in row] for row in pieces], domain
        )

    @classmethod
    def from_components(cls, components: Sequence[CPWL]) -> CPWLMap:
        """Stack scalar CPWL functions into one map on their common domain; the breakpoints
        are the union of theirs.

        Examples:
            >>> from cpwl import CPWL, CPWLMap
            >>> CPWLMap.from_components([CPWL.identity(), CPWL.constant(1)]).dim
            2
        """
        comps = list(components)
        if not comps or not all(isinstance(f, CPWL) for f in comps):
            raise ShapeError("from_components needs a non-empty sequence of CPWL functions")
        domain = comps[0].domain
        for f in comps[1:]:
            domain = domain.intersect(f.domain)
        bps = _pieces.merge_breakpoints(domain, *(f._bps for f in comps))
        return cls._from_component_pieces(bps, comps, domain)

    @classmethod
    def identity(cls, domain=None) -> CPWLMap:
        """The one-component map ``x -> x`` on ``domain`` (the real line by default): the input
        of a scalar-input network.

        Examples:
            >>> CPWLMap.identity((0, 2))(1)
            (Fraction(1, 1),)
        """
        one = as_rational(1)
        return cls._from_rational_rows([], [[one]], [[one - one]], Interval.coerce(domain))

    @classmethod
    def stack(cls, maps: Sequence[CPWLMap]) -> CPWLMap:
        """The components of several maps on one domain side by side (breakpoints merged).

        Examples:
            >>> F = CPWLMap.stack([CPWLMap.line([0], [1]), CPWLMap.line([1, 2], [0, 0])])
            >>> F.dim, F("1/2")
            (3, (Fraction(1, 2), Fraction(1, 2), Fraction(1, 1)))
        """
        maps = list(maps)
        if not maps or not all(isinstance(m, CPWLMap) for m in maps):
            raise ShapeError("stack needs a non-empty sequence of CPWLMap")
        domain = maps[0]._domain
        if any(m._domain != domain for m in maps):
            raise DomainError("stack needs maps on the same domain")
        bps = _pieces.merge_breakpoints(domain, *(m._bps for m in maps))
        samples = _pieces.sample_points(bps, domain)
        D = math.lcm(*(m._D for m in maps))
        parts = []
        for m in maps:
            rows = np.array([_pieces.piece_index(m._bps, x) for x in samples])
            parts.append((m._A[rows] * (D // m._D), m._C[rows] * (D // m._D)))
        return cls._raw(
            bps, np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1), D, domain
        )

    @classmethod
    def line(cls, start: Sequence[RationalLike], end: Sequence[RationalLike]) -> CPWLMap:
        """The segment ``t -> start + t (end - start)`` for ``t`` in ``[0, 1]``: the input of a
        network restricted to a line.

        Examples:
            >>> CPWLMap.line([0, 1], [2, 1])("1/2")
            (Fraction(1, 1), Fraction(1, 1))
        """
        a = exact_vector(start, len(list(start)), "start")
        b = exact_vector(end, len(a), "end")
        return cls._from_rational_rows([], [[y - x for x, y in zip(a, b)]], [a], Interval(0, 1))

    # ------------------------------------------------------------------ reading
    @property
    def domain(self) -> Interval:
        """The common domain."""
        return self._domain

    @property
    def dim(self) -> int:
        """Number of output components ``k``."""
        return self._A.shape[1]

    @property
    def breakpoints(self) -> tuple:
        """Shared breakpoints (Fractions), increasing."""
        return tuple(_to_fraction(t) for t in self._bps)

    @property
    def components(self) -> tuple:
        """The components as CPWL functions (each keeps the shared breakpoints; call
        ``.canonical()`` to drop those where it does not bend)."""
        return tuple(self[i] for i in range(self.dim))

    def __getitem__(self, i: int) -> CPWL:
        if not -self.dim <= i < self.dim:
            raise IndexError(f"component {i} of a map with {self.dim} outputs")
        s = [mpq(int(a), self._D) for a in self._A[:, i]]
        c = [mpq(int(v), self._D) for v in self._C[:, i]]
        return CPWL._trusted(self._bps, s, c, self._domain)

    def _rows(self) -> tuple:
        D = self._D
        return (
            [[mpq(int(a), D) for a in row] for row in self._A],
            [[mpq(int(c), D) for c in row] for row in self._C],
        )

    def __call__(self, x: RationalLike) -> tuple:
        """Exact value (a tuple of Fractions) at a rational point of the domain."""
        q = as_rational(x)
        if not self._domain.contains(q):
            raise DomainError(f"x = {q} lies outside the domain {self._domain}")
        j = _pieces.piece_index(self._bps, q)
        return tuple(
            _to_fraction(mpq(int(a * q.numerator + c * q.denominator), self._D * int(q.denominator)))
            for a, c in zip(self._A[j], self._C[j])
        )

    def evaluate(self, x) -> np.ndarray:
        """Vectorised float64 values, shape ``(len(x), dim)`` (plots and quick checks only).

        Examples:
            >>> CPWLMap.line([0], [2]).evaluate([0.5]).tolist()
            [[1.0]]
        """
        return np.stack([f.evaluate(x) for f in self.components], axis=-1)

    # ------------------------------------------------------------------ exact queries
    def max_slope_norm_squared(self) -> Fraction:
        """The largest ``||F'(x)||^2`` (sum of the components' squared slopes) over the
        pieces, exactly; one integer sum per piece, no rational arithmetic.

        Examples:
            >>> CPWLMap.line([0, 0], [3, 4]).max_slope_norm_squared()
            Fraction(25, 1)
        """
        A = self._A.astype(object)
        largest = max((A * A).sum(axis=1).tolist()) if A.shape[1] else 0
        return Fraction(int(largest), self._D * self._D)

    def slope_bounds(self) -> tuple:
        """``(lower, upper)``: each component's smallest and largest slope over the pieces,
        exactly (tuples of Fractions, one integer minimum and maximum per component).

        Examples:
            >>> CPWLMap.line([0, 1], [2, 0]).slope_bounds()
            ((Fraction(2, 1), Fraction(-1, 1)), (Fraction(2, 1), Fraction(-1, 1)))
        """
        A = self._A.astype(object)
        return tuple(Fraction(int(v), self._D) for v in A.min(axis=0)), tuple(
            Fraction(int(v), self._D) for v in A.max(axis=0)
        )

    def first_nonpositive(self) -> Optional[Fraction]:
        """The first point of the domain where some component is ``<= 0`` (``None``: every
        component stays positive); the domain must be bounded below.  Signs are taken at the
        breakpoints and ends, all at once, in integers; one rational division per component
        that reaches 0 on the piece where the first one does.

        Examples:
            >>> CPWLMap.line([1, 2], [-1, 0]).first_nonpositive()     # (1 - 2t, 2 - 2t): first 0 at 1/2
            Fraction(1, 2)
        """
        lo, hi = self._domain._lo, self._domain._hi
        if lo is None:
            raise InvalidArgument(f"first_nonpositive needs a domain bounded below, got {self._domain}")
        points = [lo, *self._bps] + ([] if hi is None else [hi])
        pieces = [0, *range(len(self._bps))] + ([] if hi is None else [len(self._bps)])
        A_all = self._A.astype(object)
        A, C = A_all[pieces], self._C.astype(object)[pieces]
        num = _intarrays.ints([q.numerator for q in points])[:, None]
        den = _intarrays.ints([q.denominator for q in points])[:, None]
        down = (A * num + C * den <= 0).astype(bool)  # the sign of the value: D and den are positive
        hit = np.flatnonzero(down.any(axis=1))
        if len(hit) and hit[0] == 0:
            return _to_fraction(lo)
        if len(hit):
            piece, columns = hit[0] - 1, np.flatnonzero(down[hit[0]])
        elif hi is None:  # the last piece, out to +infinity: the components that fall
            piece = len(self._bps)
            columns = np.flatnonzero(A_all[piece] < 0)
            if not len(columns):
                return None
        else:
            return None
        return _to_fraction(min(mpq(-int(self._C[piece, i]), int(self._A[piece, i])) for i in columns))

    # ------------------------------------------------------------------ operations
    def affine(self, W, b=None) -> CPWLMap:
        """The map ``x -> W F(x) + b`` for an exact matrix ``W`` (``m x k``) and vector ``b``.

        Examples:
            >>> CPWLMap.line([1], [3]).affine([[2], [-1]], [0, 1])(1)
            (Fraction(6, 1), Fraction(-2, 1))
        """
        rows = exact_matrix(W)
        if len(rows[0]) != self.dim:
            raise ShapeError(f"W has {len(rows[0])} columns but the map has {self.dim} outputs")
        bias = exact_vector(b, len(rows))
        W_int, b_int, den = _intarrays.over_common_denominator(rows, [bias])
        return self._affine_int(W_int, b_int[0], den)

    def featurewise(self, scale, offset=None) -> CPWLMap:
        """The map ``x -> scale * F(x) + offset`` with one exact scale (and offset) per
        component: no dense matrix is formed.

        Examples:
            >>> CPWLMap.line([1, 1], [3, 3]).featurewise(["1/2", -1], [0, 5])(1)
            (Fraction(3, 2), Fraction(2, 1))
        """
        scales = exact_vector(scale, self.dim, "scale")
        offsets = exact_vector(offset, self.dim, "offset")
        s_int, o_int, den = _intarrays.over_common_denominator([scales], [offsets])
        return CPWLMap._raw(
            self._bps,
            self._A * s_int[0][None, :],
            self._C * s_int[0][None, :] + o_int[0][None, :] * self._D,
            self._D * den,
            self._domain,
        )

    def _affine_int(self, W_int, b_int, den: int) -> CPWLMap:
        P = self._A.shape[0]
        bits = self._D.bit_length() + int(den).bit_length() + 64
        check_memory(
            _intarrays.object_bytes(4 * P * (W_int.shape[0] + W_int.shape[1]), bits),
            f"an affine map of width {W_int.shape[0]} on {P} pieces",
        )
        stacked = np.concatenate([self._A, self._C], axis=0)
        prod = _intarrays.matmul(stacked, W_int.T)
        A, C = prod[:P], prod[P:] + b_int[None, :] * self._D
        return CPWLMap._raw(self._bps, A, C, self._D * den, self._domain)

    def gather(self, index: Sequence[Optional[int]]) -> CPWLMap:
        """The map whose component ``j`` is component ``index[j]`` of this one (``None``: the
        zero function): permutations, selections and zero padding, exactly.

        Examples:
            >>> F = CPWLMap.line([1, 2], [3, 4])
            >>> F.gather([1, None, 0])(0)
            (Fraction(2, 1), Fraction(0, 1), Fraction(1, 1))
        """
        index = list(index)
        if not index or any(
            i is not None and (not isinstance(i, (int, np.integer)) or not 0 <= i < self.dim) for i in index
        ):
            raise ShapeError(f"gather needs a non-empty index of components in [0, {self.dim}) or None")
        cols = [self.dim if i is None else int(i) for i in index]
        check_memory(
            24.0 * self._A.shape[0] * (len(cols) + self.dim),
            f"a gather of {len(cols)} outputs on {self._A.shape[0]} pieces",
        )
        zero = _intarrays.ints([0] * self._A.shape[0], (self._A.shape[0], 1))
        A = np.concatenate([self._A, zero], axis=1)[:, cols]
        C = np.concatenate([self._C, zero], axis=1)[:, cols]
        return CPWLMap._raw(self._bps, A, C, self._D, self._domain)

    def apply(self, activation) -> CPWLMap:
        """Apply an activation or any layer: a scalar :class:`CPWL` (elementwise), an
        activation layer of :mod:`cpwl.activations` (``Elementwise``, ``NLayer``, ``MaxMin``,
        ``GroupSort``, ``Householder``) or any :class:`cpwl.Layer`.

        Examples:
            >>> from cpwl import activations
            >>> F = CPWLMap.line([-1], [1]).apply(activations.relu())
            >>> F.breakpoints
            (Fraction(1, 2),)
        """
        from cpwl.activations.elementwise import Elementwise

        if isinstance(activation, CPWL):
            activation = Elementwise([activation] * self.dim)
        from cpwl.layer import Layer

        if not isinstance(activation, Layer):
            raise InvalidArgument(f"{type(activation).__name__} is not a CPWL or a layer of cpwl")
        return activation.apply_map(self)

    def restrict(self, a: Optional[RationalLike], b: Optional[RationalLike]) -> CPWLMap:
        """The same map on ``[a, b]`` (inside the domain)."""
        return CPWLMap.from_components([f.restrict(a, b) for f in self.components])

    def canonical(self) -> CPWLMap:
        """Drop breakpoints where no component bends.

        Examples:
            >>> from cpwl import CPWL
            >>> CPWLMap.from_components([CPWL.from_points([(0, 0), (1, 1), (2, 2)])]).canonical().breakpoints
            ()
        """
        if not self._bps:
            return self
        bends = (self._A[:-1] != self._A[1:]).any(axis=1)
        keep = [j for j in range(len(self._bps)) if bends[j]]
        if len(keep) == len(self._bps):
            return self
        pieces = [0] + [j + 1 for j in keep]
        return CPWLMap._raw([self._bps[j] for j in keep], self._A[pieces], self._C[pieces], self._D, self._domain)

    def __add__(self, other: CPWLMap) -> CPWLMap:
        """The componentwise sum of two maps with the same number of outputs on the same
        domain (breakpoints merged), exactly.

        Examples:
            >>> (CPWLMap.line([0, 1], [2, 1]) + CPWLMap.line([1, 1], [1, 3]))(1)
            (Fraction(3, 1), Fraction(4, 1))
        """
        if not isinstance(other, CPWLMap):
            return NotImplemented
        if other.dim != self.dim:
            raise ShapeError(f"cannot add a map with {other.dim} outputs to one with {self.dim}")
        n = self.dim
        both = CPWLMap.stack([self, other])  # shared breakpoints and denominator
        return CPWLMap._raw(
            both._bps, both._A[:, :n] + both._A[:, n:], both._C[:, :n] + both._C[:, n:], both._D, both._domain
        )

    def where_negative(self, condition: CPWLMap, other: CPWLMap, strict: bool = True) -> CPWLMap:
        """Component ``i`` is this map's where ``condition_i(t) < 0`` (``<= 0`` when not
        ``strict``), ``other``'s elsewhere — exactly, with breakpoints added where a condition
        crosses zero.  The result must be continuous (a graph's ``where`` of two pieces that
        meet at the switch); a jump raises :class:`cpwl.DomainError`.

        Examples:
            >>> x = CPWLMap.line([-1], [1])                                # x(t) = 2t - 1
            >>> relu = x.featurewise([0]).where_negative(x, x)             # 0 where x < 0, else x
            >>> relu.breakpoints, relu("3/4")
            ((Fraction(1, 2),), (Fraction(1, 2),))
        """
        n = self.dim
        if other.dim != n or condition.dim != n:
            raise ShapeError(f"where_negative needs maps of {n} outputs, got {other.dim} and {condition.dim}")
        S = CPWLMap.stack([self, other, condition])
        zeros = _intarrays.ints([0] * n, (1, n))
        ones = _intarrays.ints([1] * n, (1, n))
        valid = np.ones((1, n), dtype=bool)
        new = _refine.crossings(S._bps, S._A[:, 2 * n :], S._C[:, 2 * n :], S._D, S._domain, zeros, ones, valid)
        bps, A, C, samples = _refine.refine(S._bps, S._A, S._C, S._domain, new, S._D)
        N, _ = _refine.numerators_at(A, C, np.arange(len(samples)), samples)
        chosen = (N[:, 2 * n :] < 0) if strict else (N[:, 2 * n :] <= 0)
        A_out = np.where(chosen, A[:, :n], A[:, n : 2 * n])
        C_out = np.where(chosen, C[:, :n], C[:, n : 2 * n])
        if bps:
            pieces = np.arange(len(bps))
            left, _ = _refine.numerators_at(A_out, C_out, pieces, bps)
            right, _ = _refine.numerators_at(A_out, C_out, pieces + 1, bps)
            jumps = np.nonzero((left != right).any(axis=1))[0]
            if len(jumps):
                raise DomainError(
                    f"the selection jumps at t = {_to_fraction(bps[jumps[0]])}: the two branches differ where "
                    "the condition switches"
                )
        return CPWLMap._raw(bps, A_out, C_out, S._D, S._domain)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CPWLMap):
            return NotImplemented
        a, b = self.canonical(), other.canonical()
        if a._domain != b._domain or a.dim != b.dim or a._bps != b._bps:
            return False
        return bool(np.all(a._A * b._D == b._A * a._D) and np.all(a._C * b._D == b._C * a._D))

    def __hash__(self) -> int:
        return hash(tuple(self.canonical().components))

    def to_json(self) -> str:
        """Lossless JSON text; see :mod:`cpwl.serialize`."""
        from cpwl.serialize import map_to_json

        return map_to_json(self)

    @classmethod
    def from_json(cls, text: str) -> CPWLMap:
        """Read the JSON written by :meth:`to_json`."""
        from cpwl.serialize import map_from_json

        return map_from_json(text)

    def __repr__(self) -> str:
        return f"CPWLMap(dim={self.dim}, breakpoints={len(self._bps)}, domain={self._domain})"
