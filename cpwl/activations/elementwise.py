"""Elementwise activation layers: one scalar CPWL per channel (``Elementwise``, ``NLayer``)."""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from cpwl import _intarrays, _refine
from cpwl.activations.base import ActivationLayer
from cpwl.activations.scalar import n_activation
from cpwl.errors import DomainError, ShapeError
from cpwl.function import CPWL
from cpwl.numbers import RationalLike, as_fraction

__all__ = ["Elementwise", "NLayer"]


class Elementwise(ActivationLayer):
    """Apply scalar activations channel by channel.

    ``Elementwise(sigma)`` applies one CPWL to every channel of any width;
    ``Elementwise([s0, s1, ...])`` applies ``s_i`` to channel ``i`` (fixed width).  Each
    activation must be defined on the whole real line.

    Example:
        >>> from cpwl.activations import Elementwise, relu, abs_
        >>> Elementwise([relu(), abs_()])([-2, -2])
        (Fraction(0, 1), Fraction(2, 1))
    """

    def __init__(self, functions: Union[CPWL, Sequence[CPWL]]):
        fns = [functions] if isinstance(functions, CPWL) else list(functions)
        if not fns or not all(isinstance(f, CPWL) for f in fns):
            raise ShapeError("Elementwise needs a CPWL or a non-empty sequence of CPWL functions")
        for f in fns:
            if f.domain._lo is not None or f.domain._hi is not None:
                raise DomainError(f"an activation must be defined on the whole real line, got domain {f.domain}")
        self._broadcast = isinstance(functions, CPWL)
        self.functions = tuple(fns)
        self.width = None if self._broadcast else len(fns)

    def _per_channel(self, k: int) -> tuple:
        self.check_width(k)
        return self.functions * k if self._broadcast else self.functions

    def _forward(self, vals: list) -> list:
        return [f._eval(v) for f, v in zip(self._per_channel(len(vals)), vals)]

    def _tables(self, k: int) -> tuple:
        """Levels, validity, slopes and intercepts for ``k`` channels (cached: both engines and
        the fast engine's size bound read them)."""
        cache = self.__dict__.setdefault("_table_cache", {})
        if k not in cache:
            cache[k] = self._build_tables(k)
        return cache[k]

    def _build_tables(self, k: int) -> tuple:
        fns = self._per_channel(k)
        m = max(len(f._bps) for f in fns)
        lev_n = _intarrays.ints([0] * (m * k), (m, k))
        lev_d = _intarrays.ints([1] * (m * k), (m, k))
        valid = np.zeros((m, k), dtype=bool)
        slopes, intercepts = [], []
        for r in range(m + 1):
            slopes.append([f._s[min(r, len(f._bps))] for f in fns])
            intercepts.append([f._c[min(r, len(f._bps))] for f in fns])
        for i, f in enumerate(fns):
            for r, t in enumerate(f._bps):
                lev_n[r, i], lev_d[r, i], valid[r, i] = int(t.numerator), int(t.denominator), True
        S, I, den = _intarrays.over_common_denominator(slopes, intercepts)
        return lev_n, lev_d, valid, S, I, den

    def apply_map(self, F):
        from cpwl.cpwl_map import CPWLMap

        lev_n, lev_d, valid, S, I, den = self._tables(F.dim)
        new = _refine.crossings(F._bps, F._A, F._C, F._D, F._domain, lev_n, lev_d, valid)
        bps, A, C, samples = _refine.refine(F._bps, F._A, F._C, F._domain, new)
        N, d = _refine.numerators_at(A, C, np.arange(len(samples)), samples)
        piece = _refine.level_index(N, d, F._D, lev_n, lev_d, valid)
        cols = np.arange(F.dim)[None, :]
        slope, offset = S[piece, cols], I[piece, cols]
        return CPWLMap._raw(bps, slope * A, slope * C + offset * F._D, F._D * den, F._domain)

    def __repr__(self) -> str:
        if self._broadcast:
            return f"Elementwise({self.functions[0]!r})"
        return f"Elementwise(<{len(self.functions)} channels>)"


class NLayer(Elementwise):
    """A layer of N-activations, one pair ``(theta1, theta2)`` per channel (sorted, as in
    :func:`cpwl.activations.n_activation`).

    Example:
        >>> from cpwl.activations import NLayer
        >>> NLayer([("-1/2", "1/2"), (0, 0)])([0, 5])
        (Fraction(0, 1), Fraction(5, 1))
    """

    def __init__(self, thetas: Sequence[Sequence[RationalLike]]):
        pairs = [tuple(p) for p in thetas]
        if not pairs or any(len(p) != 2 for p in pairs):
            raise ShapeError("NLayer needs one (theta1, theta2) pair per channel")
        super().__init__([n_activation(a, b) for a, b in pairs])
        #: The sorted pairs ``(theta1, theta2)`` as Fractions, one per channel.
        self.thetas = tuple(tuple(sorted(as_fraction(t) for t in p)) for p in pairs)

    def __repr__(self) -> str:
        return f"NLayer(<{self.width} channels>)"
