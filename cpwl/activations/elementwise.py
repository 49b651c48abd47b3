"""Elementwise activation layers: one scalar CPWL per channel (``Elementwise``, ``NLayer``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Union

import numpy as np

from cpwl import _intarrays, _refine
from cpwl._floats import UNDERFLOW, ratio_to_float
from cpwl.activations.base import ActivationLayer
from cpwl.activations.scalar import _n_sorted
from cpwl.errors import DomainError, InvalidArgument, ShapeError
from cpwl.function import CPWL
from cpwl.layer import LipschitzBound, norm_name
from cpwl.limits import check_memory
from cpwl.rationals import RationalLike, as_rational

__all__ = ["Elementwise", "FloatTables", "NLayer"]


@dataclass(frozen=True)
class FloatTables:
    """Float64 tables of an elementwise layer over ``k`` channels, for rigorous float
    evaluation: ``levels`` ``(m, k)`` (the breakpoints, ``+inf`` where a channel has fewer),
    ``slopes`` and ``intercepts`` ``(m + 1, k)`` (piece ``j`` of channel ``i`` is
    ``slopes[j, i] * y + intercepts[j, i]``), each float within a relative ``2**-52`` (or
    ``2**-1074`` absolutely) of the exact rational, equal to it when ``exact``, and
    ``lipschitz`` ``(k,)``: float upper bounds of each channel's exact Lipschitz constant."""

    levels: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray
    exact: bool
    lipschitz: np.ndarray


class Elementwise(ActivationLayer):
    """Apply scalar activations channel by channel.

    ``Elementwise(sigma)`` applies one CPWL to every channel of any width;
    ``Elementwise([s0, s1, ...])`` applies ``s_i`` to channel ``i`` (fixed width), and with
    ``repeat=r`` to the ``r`` consecutive channels ``i r .. i r + r - 1`` (a per-channel
    activation over a feature map of ``r`` pixels, in row-major ``(C, H, W)`` order).  Each
    activation must be defined on the whole real line.

    Examples:
        >>> from cpwl.activations import Elementwise, relu, abs_
        >>> Elementwise([relu(), abs_()])([-2, -2])
        (Fraction(0, 1), Fraction(2, 1))
        >>> Elementwise([relu(), abs_()], repeat=2)([-2, -2, -2, -2])
        (Fraction(0, 1), Fraction(0, 1), Fraction(2, 1), Fraction(2, 1))
    """

    def __init__(self, functions: Union[CPWL, Sequence[CPWL]], repeat: int = 1):
        fns = [functions] if isinstance(functions, CPWL) else list(functions)
        if not fns or not all(isinstance(f, CPWL) for f in fns):
            raise InvalidArgument("Elementwise needs a CPWL or a non-empty sequence of CPWL functions")
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise InvalidArgument(f"repeat must be a positive int, got {repeat!r}")
        for f in fns:
            if f.domain._lo is not None or f.domain._hi is not None:
                raise DomainError(f"an activation must be defined on the whole real line, got domain {f.domain}")
        self._broadcast = isinstance(functions, CPWL)
        if self._broadcast and repeat != 1:
            raise InvalidArgument(
                "repeat applies to a sequence of per-channel functions, not to one broadcast function"
            )
        self.functions = tuple(fns)
        self.repeat = repeat
        self.width = None if self._broadcast else len(fns) * repeat

    def _per_channel(self, k: int) -> tuple:
        self.check_width(k)
        if self._broadcast:
            return self.functions * k
        return tuple(f for f in self.functions for _ in range(self.repeat))

    def _forward(self, vals: list) -> list:
        return [f._eval(v) for f, v in zip(self._per_channel(len(vals)), vals)]

    def jacobian_hull(self, lo, hi) -> tuple:
        """Each channel's box times the range ``[s_min, s_max]`` of its function's slopes."""
        functions = self._per_channel(len(lo))
        s_lo = np.array([[min(f._s)] for f in functions], dtype=object)
        s_hi = np.array([[max(f._s)] for f in functions], dtype=object)
        corners = [s_lo * lo, s_lo * hi, s_hi * lo, s_hi * hi]
        return np.minimum.reduce(corners), np.maximum.reduce(corners)

    def lipschitz_bound(self, norm=2) -> LipschitzBound:
        """The exact largest ``|slope|`` of the channels' functions (the exact Lipschitz
        constant of the layer in every l_p norm).

        Examples:
            >>> from cpwl.activations import leaky_relu
            >>> Elementwise(leaky_relu(-2)).lipschitz_bound().value
            Fraction(2, 1)
        """
        norm_name(norm)
        return LipschitzBound(
            max(f.lipschitz_constant() for f in self.functions), "exact max |slope| of the activation"
        )

    def _tables(self, k: int) -> tuple:
        """Levels, validity, slopes and intercepts for ``k`` channels (cached: both engines and
        the fast engine's size bound read them)."""
        cache = self.__dict__.setdefault("_table_cache", {})
        if k not in cache:
            cache[k] = self._build_tables(k)
        return cache[k]

    def _build_tables(self, k: int) -> tuple:
        self.check_width(k)
        fns = self.functions
        copies = k if self._broadcast else self.repeat
        check_memory(40.0 * k * (2 + 3 * max(len(f._bps) for f in fns)), f"the tables of {self!r} over {k} channels")
        m = max(len(f._bps) for f in fns)
        n = len(fns)
        lev_n = _intarrays.ints([0] * (m * n), (m, n))
        lev_d = _intarrays.ints([1] * (m * n), (m, n))
        valid = np.zeros((m, n), dtype=bool)
        slopes = [[f._s[min(r, len(f._bps))] for f in fns] for r in range(m + 1)]
        intercepts = [[f._c[min(r, len(f._bps))] for f in fns] for r in range(m + 1)]
        for i, f in enumerate(fns):
            for r, t in enumerate(f._bps):
                lev_n[r, i], lev_d[r, i], valid[r, i] = int(t.numerator), int(t.denominator), True
        S, I, den = _intarrays.over_common_denominator(slopes, intercepts)
        spread = [np.repeat(a, copies, axis=1) for a in (lev_n, lev_d, valid, S, I)]
        return (*spread, den)

    def float_tables(self, k: int) -> FloatTables:
        """The float64 tables of the layer over ``k`` channels (see :class:`FloatTables`).

        Examples:
            >>> from cpwl.activations import relu
            >>> t = Elementwise(relu()).float_tables(2)
            >>> t.levels.tolist(), t.slopes.tolist(), t.exact
            ([[0.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]], True)
        """
        lev_n, lev_d, valid, S, I, den = self._tables(k)
        levels, exact_levels = ratio_to_float(lev_n, lev_d)
        levels[~valid] = np.inf
        slopes, exact_s = ratio_to_float(S, den)
        intercepts, exact_i = ratio_to_float(I, den)
        exact = exact_levels and exact_s and exact_i
        lipschitz = np.abs(slopes).max(axis=0) * (1 + 2.0**-50) + (0.0 if exact else UNDERFLOW)
        return FloatTables(levels, slopes, intercepts, exact, lipschitz)

    def apply_map(self, F):
        from cpwl.cpwl_map import CPWLMap

        lev_n, lev_d, valid, S, I, den = self._tables(F.dim)
        new = _refine.crossings(F._bps, F._A, F._C, F._D, F._domain, lev_n, lev_d, valid)
        bps, A, C, samples = _refine.refine(F._bps, F._A, F._C, F._domain, new, F._D)
        N, d = _refine.numerators_at(A, C, np.arange(len(samples)), samples)
        piece = _refine.level_index(N, d, F._D, lev_n, lev_d, valid)
        cols = np.arange(F.dim)[None, :]
        slope, offset = S[piece, cols], I[piece, cols]
        return CPWLMap._raw(bps, slope * A, slope * C + offset * F._D, F._D * den, F._domain)

    def __repr__(self) -> str:
        if self._broadcast:
            return f"Elementwise({self.functions[0]!r})"
        extra = f", repeat={self.repeat}" if self.repeat != 1 else ""
        return f"Elementwise(<{len(self.functions)} channels>{extra})"


class NLayer(Elementwise):
    """A layer of N-activations, one pair ``(theta1, theta2)`` per channel (sorted, as in
    :func:`cpwl.activations.n_activation`), each repeated over ``repeat`` consecutive
    channels.

    Examples:
        >>> from cpwl.activations import NLayer
        >>> NLayer([("-1/2", "1/2"), (0, 0)])([0, 5])
        (Fraction(0, 1), Fraction(5, 1))
    """

    def __init__(self, thetas: Sequence[Sequence[RationalLike]], repeat: int = 1):
        pairs = [tuple(p) for p in thetas]
        if not pairs or any(len(p) != 2 for p in pairs):
            raise ShapeError("NLayer needs one (theta1, theta2) pair per channel")
        exact = [sorted((as_rational(a), as_rational(b))) for a, b in pairs]
        super().__init__([_n_sorted(a, b) for a, b in exact], repeat=repeat)
        #: The sorted pairs ``(theta1, theta2)`` as Fractions, one per channel.
        self.thetas = tuple(
            (Fraction(int(a.numerator), int(a.denominator)), Fraction(int(b.numerator), int(b.denominator)))
            for a, b in exact
        )

    def __repr__(self) -> str:
        return f"NLayer(<{len(self.thetas)} channels>)"
