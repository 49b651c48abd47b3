"""Vector activations acting on groups of channels: MaxMin, GroupSort, Householder."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from gmpy2 import mpq

from cpwl import _intarrays, _refine
from cpwl.activations.base import ActivationLayer
from cpwl.errors import InvalidArgument, ShapeError
from cpwl.layer import LipschitzBound, linear_hull, norm_name
from cpwl.rationals import _to_fraction, as_rational

__all__ = ["GroupSort", "Householder", "MaxMin", "SortingLayer"]


def _adjacent_groups(k: int, size: int) -> np.ndarray:
    return np.arange(k).reshape(k // size, size)


def _pairs(G: np.ndarray) -> list:
    """Every pair of channels that share a group."""
    return [(g[a], g[b]) for g in G for a in range(len(g)) for b in range(a + 1, len(g))]


def _zero_levels(n: int) -> tuple:
    return _intarrays.ints([0] * n, (1, n)), _intarrays.ints([1] * n, (1, n)), np.ones((1, n), dtype=bool)


def _refine_at_zeros(F, form_A, form_C) -> tuple:
    """Refine ``F`` where any of the linear forms (columns of ``form_A, form_C``) crosses 0."""
    lev_n, lev_d, valid = _zero_levels(form_A.shape[1])
    new = _refine.crossings(F._bps, form_A, form_C, F._D, F._domain, lev_n, lev_d, valid)
    return _refine.refine(F._bps, F._A, F._C, F._domain, new, F._D)


class SortingLayer(ActivationLayer):
    """Base of the layers that sort disjoint groups of channels (:class:`MaxMin`,
    :class:`GroupSort`): :meth:`groups` lists the groups, ``descending`` the order."""

    descending = False

    def groups(self, k: int) -> np.ndarray:
        """The groups of channels sorted together for ``k`` channels: an int array
        ``(groups, size)``; within a group the output is sorted in the listed order."""
        raise NotImplementedError

    def jacobian_hull(self, lo, hi) -> tuple:
        """Every output of a group is one of the group's inputs (a convex combination of them
        at ties): the group's smallest ``lo`` and largest ``hi``."""
        low, high = lo.copy(), hi.copy()
        for group in self.groups(len(lo)):
            low[group] = np.minimum.reduce(lo[group])
            high[group] = np.maximum.reduce(hi[group])
        return low, high

    def lipschitz_bound(self, norm=2) -> LipschitzBound:
        """1 in every norm: on every piece the layer permutes coordinates.

        Examples:
            >>> GroupSort(3).lipschitz_bound().value
            Fraction(1, 1)
        """
        norm_name(norm)
        return LipschitzBound(Fraction(1), "a permutation of coordinates on every piece")

    def _forward(self, vals: list) -> list:
        out = list(vals)
        for group in self.groups(len(vals)):
            ordered = sorted((vals[i] for i in group), reverse=self.descending)
            for pos, i in enumerate(group):
                out[i] = ordered[pos]
        return out

    def apply_map(self, F):
        from cpwl.cpwl_map import CPWLMap

        G = self.groups(F.dim)
        if G.shape[1] == 1:
            return F
        first, second = (np.array(ix) for ix in zip(*_pairs(G)))
        bps, A, C, samples = _refine_at_zeros(F, F._A[:, first] - F._A[:, second], F._C[:, first] - F._C[:, second])
        N, _ = _refine.numerators_at(A, C, np.arange(len(samples)), samples)
        order = np.argsort(N[:, G], axis=2, kind="stable")
        if self.descending:
            order = order[:, :, ::-1]
        source = np.take_along_axis(np.broadcast_to(G, order.shape), order, axis=2).reshape(len(samples), -1)
        A_out, C_out = A.copy(), C.copy()
        A_out[:, G.ravel()] = np.take_along_axis(A, source, axis=1)
        C_out[:, G.ravel()] = np.take_along_axis(C, source, axis=1)
        return CPWLMap._raw(bps, A_out, C_out, F._D, F._domain)


class MaxMin(SortingLayer):
    """MaxMin on channel pairs, with an explicit convention (DESIGN.md principle 5).

    ``pairing="adjacent"`` pairs channels ``(2j, 2j+1)`` (Prach & Lampert);
    ``pairing="halves"`` pairs ``j`` with ``j + k/2`` (orthogonium's ``cat(max, min)``).
    ``order="max_first"`` writes the max to the first channel of the pair, ``"min_first"``
    the min.  An odd channel count raises :class:`cpwl.ShapeError`.

    Examples:
        >>> MaxMin(pairing="halves")([1, 5, 4, 2])
        (Fraction(4, 1), Fraction(5, 1), Fraction(1, 1), Fraction(2, 1))
    """

    def __init__(self, pairing: str = "adjacent", order: str = "max_first"):
        if pairing not in ("adjacent", "halves"):
            raise InvalidArgument(f"pairing must be 'adjacent' or 'halves', got {pairing!r}")
        if order not in ("max_first", "min_first"):
            raise InvalidArgument(f"order must be 'max_first' or 'min_first', got {order!r}")
        self.pairing, self.order = pairing, order
        self.descending = order == "max_first"

    def check_width(self, k: int) -> int:
        if k % 2:
            raise ShapeError(f"MaxMin pairs channels, so it needs an even channel count, got {k}")
        return k

    def groups(self, k: int) -> np.ndarray:
        self.check_width(k)
        if self.pairing == "adjacent":
            return _adjacent_groups(k, 2)
        return np.stack([np.arange(k // 2), np.arange(k // 2, k)], axis=1)

    def __repr__(self) -> str:
        return f"MaxMin(pairing={self.pairing!r}, order={self.order!r})"


class GroupSort(SortingLayer):
    """Sort consecutive groups of ``group_size`` channels (group *size*, as in
    deel-torchlip; ascending by default, as in LNets).  ``GroupSort(2, descending=True)`` is
    ``MaxMin("adjacent", "max_first")``.

    Examples:
        >>> GroupSort(3)([3, 1, 2, 0, 9, 8])
        (Fraction(1, 1), Fraction(2, 1), Fraction(3, 1), Fraction(0, 1), Fraction(8, 1), Fraction(9, 1))
    """

    def __init__(self, group_size: int, descending: bool = False):
        if not isinstance(group_size, int) or isinstance(group_size, bool) or group_size < 1:
            raise InvalidArgument(f"group_size must be a positive int, got {group_size!r}")
        self.group_size, self.descending = group_size, bool(descending)

    def check_width(self, k: int) -> int:
        if k % self.group_size:
            raise ShapeError(
                f"GroupSort({self.group_size}) needs a channel count divisible by {self.group_size}, got {k}"
            )
        return k

    def groups(self, k: int) -> np.ndarray:
        self.check_width(k)
        return _adjacent_groups(k, self.group_size)

    def __repr__(self) -> str:
        return f"GroupSort({self.group_size}, descending={self.descending})"


def _reflection(V, n) -> np.ndarray:
    """The exact matrix ``I - 2 V V^T / n`` (object array of mpq) of one group."""
    V = np.array([mpq(x) for x in V], dtype=object)
    return np.eye(len(V), dtype=int).astype(object) - np.outer(V, V) * mpq(2, n)


class Householder(ActivationLayer):
    """The Householder activation on consecutive groups of ``g`` channels: ``z`` if
    ``v·z >= 0``, else its reflection ``z - 2 (v·z) v / (v·v)``.  ``v`` is any non-zero
    rational vector (the reflection is exactly orthogonal without normalising ``v``), shared
    by all groups; or a list of such vectors, one per group (fixed width).
    ``Householder([1, -1])`` is ``MaxMin("adjacent", "max_first")``.

    ``normalized=False`` drops the division: ``z - 2 min(0, v·z) v``, the formula a float
    implementation evaluates with a normal it *assumes* to be a unit vector.  With a float
    normal ``v·v`` is ``1`` only up to rounding, so that map is orthogonal only up to rounding
    too; its exact Lipschitz constant is ``max(1, |1 - 2 v·v|)``.

    Examples:
        >>> Householder([1, -1])([1, 3])
        (Fraction(3, 1), Fraction(1, 1))
        >>> Householder([[1, -1], [-1, 1]])([1, 3, 1, 3])
        (Fraction(3, 1), Fraction(1, 1), Fraction(1, 1), Fraction(3, 1))
        >>> Householder(["3/5", "-4/5"], normalized=False)([0, 1])
        (Fraction(24, 25), Fraction(-7, 25))
    """

    def __init__(self, v, normalized: bool = True):
        rows = [list(r) for r in v] if v and isinstance(v[0], (list, tuple)) else [list(v)]
        self._shared = not (v and isinstance(v[0], (list, tuple)))
        exact = [[as_rational(x) for x in r] for r in rows]
        if any(len(r) < 2 or all(x == 0 for x in r) for r in exact):
            raise InvalidArgument("Householder needs non-zero normals with at least 2 entries")
        if len({len(r) for r in exact}) != 1:
            raise InvalidArgument("every Householder normal must have the same length")
        if not isinstance(normalized, bool):
            raise InvalidArgument(f"normalized must be True or False, got {normalized!r}")
        self.normalized = normalized
        scales = [math.lcm(*(int(x.denominator) for x in r)) for r in exact]
        self._vs = [[int(x * s) for x in r] for r, s in zip(exact, scales)]
        # the reflection subtracts 2 (V·z) V / n with V = s v integer: n = V·V, or s^2 unnormalized
        self._norms = [sum(x * x for x in V) if normalized else s * s for V, s in zip(self._vs, scales)]
        self.v = tuple(tuple(_to_fraction(x) for x in r) for r in exact)
        if self._shared:
            self.v = self.v[0]
        self.group_size = len(self._vs[0])
        self.width = None if self._shared else self.group_size * len(self._vs)

    def check_width(self, k: int) -> int:
        if k % self.group_size:
            raise ShapeError(
                f"Householder on groups of {self.group_size} needs a channel count divisible by it, got {k}"
            )
        return super().check_width(k)

    def normals(self, k: int) -> tuple:
        """``(V, n)`` for ``k`` channels: integer normals ``V`` (one row per group, a positive
        multiple of ``v``) and the integers ``n`` such that a reflected group becomes
        ``z - 2 (V·z) V / n``."""
        self.check_width(k)
        repeat = k // self.group_size if self._shared else 1
        return self._vs * repeat, self._norms * repeat

    def float_normals(self, k: int) -> tuple:
        """``(v, c, exact)`` for rigorous float evaluation over ``k`` channels: float64 normals
        ``v`` ``(groups, g)`` and factors ``c`` ``(groups,)`` with the reflection
        ``z - c (v·z) v`` exactly the layer's for the exact values of ``v`` and ``c``; each float
        within a relative ``2**-52`` (or ``2**-1074`` absolutely) of its exact value, equal to
        it when ``exact``."""
        from cpwl._floats import ratio_to_float

        vs, norms = self.normals(k)
        scales = [1 if self.normalized else math.isqrt(n) for n in norms]  # unnormalized: n = s^2, v = V / s
        V = np.array([[x for x in row] for row in vs], dtype=object)
        v, exact_v = ratio_to_float(V, np.array([[s] * V.shape[1] for s in scales], dtype=object))
        factors = [Fraction(2 * s * s, n) for s, n in zip(scales, norms)]
        c, exact_c = ratio_to_float(
            np.array([f.numerator for f in factors], dtype=object),
            np.array([f.denominator for f in factors], dtype=object),
        )
        return v, c, exact_v and exact_c

    def jacobian_hull(self, lo, hi) -> tuple:
        """Per group, the box itself (piece ``I``) joined with its exact image under
        ``H = I - 2 V V^T / n`` (a Jacobian at the boundary lies between the two)."""
        low, high = lo.copy(), hi.copy()
        g = self.group_size
        vs, norms = self.normals(len(lo))
        for start, V, n in zip(range(0, len(lo), g), vs, norms):
            H = _reflection(V, n)
            h_lo, h_hi = linear_hull(H, lo[start : start + g], hi[start : start + g])
            low[start : start + g] = np.minimum(lo[start : start + g], h_lo)
            high[start : start + g] = np.maximum(hi[start : start + g], h_hi)
        return low, high

    def lipschitz_bound(self, norm=2) -> LipschitzBound:
        """The exact largest norm of the layer's two pieces ``I`` and ``H = I - 2 V V^T / n``:
        in l2, 1 for the exact reflection (orthogonal) and ``max(1, |1 - 2 v·v|)`` for the
        unnormalized formula; in l1 and l-infinity (``H`` is symmetric, so both agree) the
        largest row sum of ``|H|``.

        Examples:
            >>> Householder(["3/5", "4/5"], normalized=False).lipschitz_bound().value
            Fraction(1, 1)
            >>> Householder([1, 1], normalized=False).lipschitz_bound().value
            Fraction(3, 1)
            >>> Householder(["3/5", "4/5"]).lipschitz_bound("inf").value     # rows (7 + 24) / 25
            Fraction(31, 25)
        """
        if norm_name(norm) != 2:
            rows = (np.abs(_reflection(V, n)).sum(axis=1).max() for V, n in zip(self._vs, self._norms))
            worst = max(Fraction(1), *(_to_fraction(r) for r in rows))
            return LipschitzBound(worst, "exact largest row sum of |I - 2 V V^T / n| (and 1 for I)")
        if self.normalized:
            return LipschitzBound(Fraction(1), "exact reflection (orthogonal) on every piece")
        worst = max(abs(1 - Fraction(2 * sum(x * x for x in V), n)) for V, n in zip(self._vs, self._norms))
        return LipschitzBound(max(Fraction(1), worst), "exact max(1, |1 - 2 v.v|): the norms of I and I - 2 v v^T")

    def _forward(self, vals: list) -> list:
        out = list(vals)
        g = self.group_size
        vs, norms = self.normals(len(vals))
        for start, v, n in zip(range(0, len(vals), g), vs, norms):
            z = vals[start : start + g]
            proj = sum(a * b for a, b in zip(v, z))
            if proj < 0:
                for j in range(g):
                    out[start + j] = z[j] - 2 * proj * v[j] / n
        return out

    def apply_map(self, F):
        from cpwl.cpwl_map import CPWLMap

        vs, norms = self.normals(F.dim)
        G = _adjacent_groups(F.dim, self.group_size)
        V = _intarrays.ints([x for v in vs for x in v], G.shape)
        project = lambda M: sum(M[:, G[:, j]] * V[:, j][None, :] for j in range(G.shape[1]))  # noqa: E731
        bps, A, C, samples = _refine_at_zeros(F, project(F._A), project(F._C))
        N, _ = _refine.numerators_at(A, C, np.arange(len(samples)), samples)
        reflect = project(N) < 0
        common = math.lcm(*norms)
        factor = _intarrays.ints([2 * common // n for n in norms])
        outs = []
        for M in (A, C):
            out = M * common
            proj = project(M) * factor[None, :]
            for j in range(G.shape[1]):
                out[:, G[:, j]] -= np.where(reflect, proj * V[:, j][None, :], 0)
            outs.append(out)
        return CPWLMap._raw(bps, outs[0], outs[1], F._D * common, F._domain)

    def __repr__(self) -> str:
        extra = "" if self.normalized else ", normalized=False"
        return f"Householder({self.v!r}{extra})" if self._shared else f"Householder(<{len(self._vs)} groups>{extra})"
