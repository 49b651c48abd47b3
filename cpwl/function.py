"""The scalar CPWL function: exact breakpoints, exact affine pieces, exact algebra."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any, Optional

import numpy as np
from gmpy2 import mpq

from cpwl import _pieces
from cpwl.errors import BreakpointError, DomainError, InvalidArgument, NumberError
from cpwl.interval import Interval
from cpwl.rationals import RationalLike, _to_fraction, as_rational

__all__ = ["CPWL"]


def _is_scalar(value: Any) -> bool:
    try:
        as_rational(value)
    except NumberError:
        return False
    return True


class CPWL:
    """A continuous piecewise-linear function of one real variable, exactly.

    Stored as sorted rational breakpoints ``t_1 < ... < t_k`` strictly inside the domain
    (:class:`cpwl.Interval`: the real line by default) and one affine piece
    ``slopes[j] * x + intercepts[j]`` per gap.  All arithmetic is exact; every public number
    is a ``fractions.Fraction``.  Results of the algebra are canonical (collinear neighbours
    merged); constructors keep the breakpoints they are given until :meth:`canonical`.

    Examples:
        >>> from fractions import Fraction
        >>> from cpwl import CPWL
        >>> f = CPWL.from_points([(-1, 0), (0, 1), (1, 0)], left_slope=1, right_slope=-1)
        >>> f(Fraction(1, 3))
        Fraction(2, 3)
        >>> f.breakpoints
        (Fraction(-1, 1), Fraction(0, 1), Fraction(1, 1))
        >>> (f + CPWL.identity()).slopes
        (Fraction(2, 1), Fraction(0, 1))
    """

    __slots__ = ("_bps", "_s", "_c", "_domain", "_hash")
    __array_priority__ = 1000  # numpy scalars on the left defer to CPWL arithmetic

    def __init__(self, *args, **kwargs):
        raise InvalidArgument(
            "build a CPWL with CPWL.from_points, from_pieces, from_slopes, linear, identity or constant"
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def _trusted(cls, bps: Sequence, slopes: Sequence, intercepts: Sequence, domain: Interval):
        """Internal constructor: the caller guarantees sorted interior breakpoints and continuity."""
        self = object.__new__(cls)
        self._bps = tuple(bps)
        self._s = tuple(slopes)
        self._c = tuple(intercepts)
        self._domain = domain
        self._hash = None
        return self

    @classmethod
    def from_pieces(
        cls,
        breakpoints: Sequence[RationalLike],
        slopes: Sequence[RationalLike],
        intercepts: Sequence[RationalLike],
        domain: Interval | tuple | None = None,
    ) -> CPWL:
        """Build from breakpoints and the affine piece ``slopes[j]*x + intercepts[j]`` of each
        gap; continuity at every breakpoint is checked exactly.

        Examples:
            >>> CPWL.from_pieces([0], [-1, 1], [0, 0])(-3)   # |x|
            Fraction(3, 1)
        """
        dom = Interval.coerce(domain)
        bps = _checked_breakpoints(breakpoints, dom)
        s = [as_rational(v) for v in slopes]
        c = [as_rational(v) for v in intercepts]
        if not len(s) == len(c) == len(bps) + 1:
            raise BreakpointError(
                f"{len(bps)} breakpoints need {len(bps) + 1} slopes and intercepts, "
                f"got {len(s)} slopes and {len(c)} intercepts"
            )
        for j, t in enumerate(bps):
            if s[j] * t + c[j] != s[j + 1] * t + c[j + 1]:
                raise BreakpointError(
                    f"pieces {j} and {j + 1} do not meet at breakpoint {t}: "
                    f"{s[j] * t + c[j]} != {s[j + 1] * t + c[j + 1]} (the function must be continuous)"
                )
        return cls._trusted(bps, s, c, dom)

    @classmethod
    def from_points(
        cls,
        points: Iterable[tuple],
        left_slope: Optional[RationalLike] = None,
        right_slope: Optional[RationalLike] = None,
    ) -> CPWL:
        """Interpolate points ``(x, y)`` with strictly increasing ``x``.

        Without ``left_slope`` the domain starts at the first point; with it the function
        continues to ``-inf`` with that slope (likewise ``right_slope``).

        Examples:
            >>> f = CPWL.from_points([(0, 0), (1, 1), (2, 0)])
            >>> f.domain, f.breakpoints
            (Interval(0, 2), (Fraction(1, 1),))
        """
        pts = [(as_rational(x), as_rational(y)) for x, y in _as_pairs(points)]
        if not pts:
            raise BreakpointError("from_points needs at least one point")
        xs = [p[0] for p in pts]
        for j in range(len(xs) - 1):
            if not xs[j] < xs[j + 1]:
                raise BreakpointError(
                    f"point x-coordinates must be strictly increasing; x[{j}] = {xs[j]} and "
                    f"x[{j + 1}] = {xs[j + 1]} are not (sort them and drop repeats)"
                )
        if len(xs) == 1 and left_slope is None and right_slope is None:
            raise DomainError("one point without end slopes spans a zero-length domain; add a point or an end slope")
        domain = Interval(None if left_slope is not None else xs[0], None if right_slope is not None else xs[-1])
        slopes = [(pts[j + 1][1] - pts[j][1]) / (xs[j + 1] - xs[j]) for j in range(len(xs) - 1)]
        if left_slope is not None:
            slopes.insert(0, as_rational(left_slope))
        if right_slope is not None:
            slopes.append(as_rational(right_slope))
        bps = [x for x in xs if domain._interior(x)]
        intercepts = [pts[j][1] - slopes[j + (left_slope is not None)] * pts[j][0] for j in range(len(xs) - 1)]
        if left_slope is not None:
            intercepts.insert(0, pts[0][1] - slopes[0] * pts[0][0])
        if right_slope is not None:
            intercepts.append(pts[-1][1] - slopes[-1] * pts[-1][0])
        return cls._trusted(bps, slopes, intercepts, domain)

    @classmethod
    def from_slopes(
        cls,
        breakpoints: Sequence[RationalLike],
        slopes: Sequence[RationalLike],
        anchor: tuple,
        domain: Interval | tuple | None = None,
    ) -> CPWL:
        """Build from breakpoints, the slope of every piece, and one point ``anchor = (x, y)``
        on the graph (``x`` in the domain).

        Examples:
            >>> f = CPWL.from_slopes([0], [-1, 1], anchor=(0, 0))
            >>> f(-2), f(3)
            (Fraction(2, 1), Fraction(3, 1))
        """
        dom = Interval.coerce(domain)
        bps = _checked_breakpoints(breakpoints, dom)
        s = [as_rational(v) for v in slopes]
        if len(s) != len(bps) + 1:
            raise BreakpointError(f"{len(bps)} breakpoints need {len(bps) + 1} slopes, got {len(s)}")
        try:
            ax, ay = anchor
        except (TypeError, ValueError) as err:
            raise InvalidArgument(f"anchor must be one point (x, y) on the graph, got {anchor!r}") from err
        ax, ay = as_rational(ax), as_rational(ay)
        if not dom.contains(ax):
            raise DomainError(f"anchor x = {ax} lies outside the domain {dom}")
        k = _pieces.piece_index(bps, ax)
        c = [mpq(0)] * len(s)
        c[k] = ay - s[k] * ax
        for j in range(k, len(bps)):
            c[j + 1] = c[j] + (s[j] - s[j + 1]) * bps[j]
        for j in range(k - 1, -1, -1):
            c[j] = c[j + 1] + (s[j + 1] - s[j]) * bps[j]
        return cls._trusted(bps, s, c, dom)

    @classmethod
    def linear(cls, slope: RationalLike, intercept: RationalLike = 0, domain=None) -> CPWL:
        """The affine function ``slope * x + intercept``.

        Examples:
            >>> CPWL.linear(Fraction(1, 2), 1)(4)
            Fraction(3, 1)
        """
        return cls._trusted((), (as_rational(slope),), (as_rational(intercept),), Interval.coerce(domain))

    @classmethod
    def identity(cls, domain=None) -> CPWL:
        """``x -> x``.

        Examples:
            >>> CPWL.identity()(7)
            Fraction(7, 1)
        """
        return cls.linear(1, 0, domain)

    @classmethod
    def constant(cls, value: RationalLike, domain=None) -> CPWL:
        """``x -> value``.

        Examples:
            >>> CPWL.constant("2/3")(100)
            Fraction(2, 3)
        """
        return cls.linear(0, value, domain)

    # ------------------------------------------------------------------ reading
    @property
    def domain(self) -> Interval:
        """The domain (an :class:`cpwl.Interval`)."""
        return self._domain

    @property
    def breakpoints(self) -> tuple:
        """Breakpoints strictly inside the domain, increasing, as Fractions."""
        return tuple(_to_fraction(t) for t in self._bps)

    @property
    def slopes(self) -> tuple:
        """Slope of every piece, left to right (``len(breakpoints) + 1`` Fractions)."""
        return tuple(_to_fraction(s) for s in self._s)

    @property
    def intercepts(self) -> tuple:
        """Intercept of every piece's affine extension (value at 0), as Fractions."""
        return tuple(_to_fraction(c) for c in self._c)

    @property
    def values(self) -> tuple:
        """Values at the breakpoints, as Fractions."""
        return tuple(_to_fraction(self._s[j] * t + self._c[j]) for j, t in enumerate(self._bps))

    def pieces(self) -> list:
        """List of ``(lo, hi, slope, intercept)``, one per piece; ``None`` marks infinite ends.

        Examples:
            >>> CPWL.from_points([(0, 0), (1, 1)]).pieces()
            [(Fraction(0, 1), Fraction(1, 1), Fraction(1, 1), Fraction(0, 1))]
        """
        ends = [None if q is None else _to_fraction(q) for q in (self._domain._lo, *self._bps, self._domain._hi)]
        return [
            (ends[j], ends[j + 1], _to_fraction(s), _to_fraction(c)) for j, (s, c) in enumerate(zip(self._s, self._c))
        ]

    def _eval(self, q: mpq) -> mpq:
        j = _pieces.piece_index(self._bps, q)
        return self._s[j] * q + self._c[j]

    def _piece_at(self, q: mpq) -> tuple:
        j = _pieces.piece_index(self._bps, q)
        return self._s[j], self._c[j]

    def __call__(self, x):
        """Exact value at a rational ``x`` (a Fraction), or the composition if ``x`` is a CPWL."""
        if isinstance(x, CPWL):
            return self.compose(x)
        q = as_rational(x)
        if not self._domain.contains(q):
            raise DomainError(f"x = {q} lies outside the domain {self._domain}")
        return _to_fraction(self._eval(q))

    def evaluate(self, x) -> np.ndarray:
        """Vectorised float64 evaluation (for plots and quick checks; not exact).

        Each value is computed from the nearest breakpoint, so large intercepts cause no
        cancellation.  Points outside the domain raise :class:`DomainError`.

        Examples:
            >>> CPWL.from_pieces([0], [-1, 1], [0, 0]).evaluate([-2.0, 0.5]).tolist()
            [2.0, 0.5]
        """
        xs = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(xs)):
            raise NumberError("evaluate needs finite inputs")
        lo, hi = self._domain._lo, self._domain._hi
        if (lo is not None and np.any(xs < float(lo))) or (hi is not None and np.any(xs > float(hi))):
            raise DomainError(f"some points lie outside the domain {self._domain}")
        t = np.array([float(b) for b in self._bps], dtype=np.float64)
        j = np.searchsorted(t, xs, side="right")
        anchors = np.concatenate([t[:1], t]) if len(t) else np.zeros(1)
        vals = np.array([float(self._eval(b)) for b in self._bps] or [float(self._c[0])])
        anchor_vals = np.concatenate([vals[:1], vals])
        s = np.array([float(v) for v in self._s])
        return anchor_vals[j] + s[j] * (xs - anchors[j])

    # ------------------------------------------------------------------ algebra
    def _binary(self, other, op) -> CPWL:
        if isinstance(other, CPWL):
            domain = self._domain.intersect(other._domain)
            bps = _pieces.merge_breakpoints(domain, self._bps, other._bps)
            return _pieces.assemble(domain, bps, lambda m: op(self._piece_at(m), other._piece_at(m)))
        if _is_scalar(other):
            k = as_rational(other)
            return _pieces.assemble(self._domain, list(self._bps), lambda m: op(self._piece_at(m), (0, k)))
        return NotImplemented

    def __add__(self, other):
        return self._binary(other, lambda p, q: (p[0] + q[0], p[1] + q[1]))

    __radd__ = __add__

    def __sub__(self, other):
        return self._binary(other, lambda p, q: (p[0] - q[0], p[1] - q[1]))

    def __rsub__(self, other):
        return self._binary(other, lambda p, q: (q[0] - p[0], q[1] - p[1]))

    def _scaled(self, k: mpq) -> CPWL:
        return _pieces.assemble(self._domain, list(self._bps), lambda m: tuple(k * v for v in self._piece_at(m)))

    def __mul__(self, other):
        if isinstance(other, CPWL) or not _is_scalar(other):
            return NotImplemented
        return self._scaled(as_rational(other))

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, CPWL) or not _is_scalar(other):
            return NotImplemented
        k = as_rational(other)
        if k == 0:
            raise ZeroDivisionError("division of a CPWL function by zero")
        return self._scaled(1 / k)

    def __neg__(self) -> CPWL:
        return self._scaled(mpq(-1))

    def __pos__(self) -> CPWL:
        return self

    def __abs__(self) -> CPWL:
        from cpwl.lattice import maximum

        return maximum(self, -self)

    def compose(self, inner: CPWL) -> CPWL:
        """``self ∘ inner``: the function ``x -> self(inner(x))`` on ``inner``'s domain.

        Raises :class:`DomainError` unless ``inner`` maps its domain into ``self.domain``
        (restrict ``inner`` first).

        Examples:
            >>> relu = CPWL.from_pieces([0], [0, 1], [0, 0])
            >>> relu.compose(CPWL.linear(-1, 1))(3)
            Fraction(0, 1)
        """
        if not isinstance(inner, CPWL):
            raise InvalidArgument(f"compose needs a CPWL, got {type(inner).__name__}")
        lo, hi = inner._range()
        out = self._domain
        if (out._lo is not None and (lo is None or lo < out._lo)) or (
            out._hi is not None and (hi is None or hi > out._hi)
        ):
            raise DomainError(
                f"the inner function's values span {_fmt_range(lo, hi)}, which leaves the outer "
                f"domain {out}; restrict the inner function so its values stay inside"
            )
        ends = [inner._domain._lo, *inner._bps, inner._domain._hi]
        extra = []
        for j, (s, c) in enumerate(zip(inner._s, inner._c)):
            for beta in self._bps:
                x = _pieces.affine_crossing(s, c - beta, ends[j], ends[j + 1])
                if x is not None:
                    extra.append(x)
        bps = _pieces.merge_breakpoints(inner._domain, inner._bps, extra)

        def piece_at(m):
            s_in, c_in = inner._piece_at(m)
            s_out, c_out = self._piece_at(s_in * m + c_in)
            return s_out * s_in, s_out * c_in + c_out

        return _pieces.assemble(inner._domain, bps, piece_at)

    def _range(self) -> tuple:
        """Exact ``(min, max)`` of the values on the domain; ``None`` where unbounded."""
        ends = [self._domain._lo, *self._bps, self._domain._hi]
        finite = [self._eval(t) for t in ends if t is not None] or [self._c[0]]
        lo, hi = min(finite), max(finite)
        if self._domain._lo is None:
            lo = None if self._s[0] > 0 else lo
            hi = None if self._s[0] < 0 else hi
        if self._domain._hi is None:
            lo = None if self._s[-1] < 0 else lo
            hi = None if self._s[-1] > 0 else hi
        return lo, hi

    def value_range(self) -> tuple:
        """Exact ``(min, max)`` of the function on its domain; ``None`` where unbounded.

        Examples:
            >>> CPWL.from_points([(0, 0), (1, 2), (3, -1)]).value_range()
            (Fraction(-1, 1), Fraction(2, 1))
        """
        return tuple(None if v is None else _to_fraction(v) for v in self._range())

    def restrict(self, a: Optional[RationalLike], b: Optional[RationalLike]) -> CPWL:
        """The same function on ``[a, b]`` (``None`` for an infinite end), which must lie in
        the domain.

        Examples:
            >>> CPWL.identity().restrict(0, 1).domain
            Interval(0, 1)
        """
        new = Interval(a, b)
        if not self._domain.contains_interval(new):
            raise DomainError(f"cannot restrict to {new}: it is not inside the domain {self._domain}")
        kept = [t for t in self._bps if new._interior(t)]
        first = _pieces.piece_index(self._bps, _pieces.sample_points(kept, new)[0])
        pieces = range(first, first + len(kept) + 1)
        return CPWL._trusted(kept, [self._s[j] for j in pieces], [self._c[j] for j in pieces], new)

    def canonical(self) -> CPWL:
        """The same function with every breakpoint removed where the slope does not change;
        equal functions have equal canonical forms (and compare and hash equal).

        Examples:
            >>> CPWL.from_points([(0, 0), (1, 1), (2, 2)]).canonical().breakpoints
            ()
        """
        keep = [j for j in range(len(self._bps)) if self._s[j] != self._s[j + 1]]
        if len(keep) == len(self._bps):
            return self
        return CPWL._trusted(
            [self._bps[j] for j in keep],
            [self._s[0]] + [self._s[j + 1] for j in keep],
            [self._c[0]] + [self._c[j + 1] for j in keep],
            self._domain,
        )

    def __eq__(self, other: object) -> bool:
        """Exact functional equality *on the same domain* (see :meth:`agrees_with` for the
        common part of two domains)."""
        if not isinstance(other, CPWL):
            return NotImplemented
        a, b = self.canonical(), other.canonical()
        return a._domain == b._domain and a._bps == b._bps and a._s == b._s and a._c == b._c

    def __hash__(self) -> int:
        if self._hash is None:
            a = self.canonical()
            self._hash = hash((a._domain, a._bps, a._s, a._c))
        return self._hash

    def agrees_with(self, other: CPWL) -> bool:
        """Exact equality on the common part of the two domains.

        Examples:
            >>> relu = CPWL.from_pieces([0], [0, 1], [0, 0])
            >>> relu.agrees_with(CPWL.identity(domain=(0, 5)))
            True
        """
        domain = self._domain.intersect(other._domain)
        return (self - other).restrict(domain._lo, domain._hi) == CPWL.constant(0, domain)

    # ------------------------------------------------------------------ properties
    def lipschitz_constant(self) -> Fraction:
        """Exact Lipschitz constant: the largest ``|slope|``.

        Examples:
            >>> CPWL.from_points([(0, 0), (1, 3), (2, 2)]).lipschitz_constant()
            Fraction(3, 1)
        """
        return _to_fraction(max(abs(s) for s in self._s))

    def is_lipschitz(self, constant: RationalLike = 1) -> bool:
        """Whether every ``|slope| <= constant`` (exactly).

        Examples:
            >>> CPWL.identity().is_lipschitz(1)
            True
        """
        bound = as_rational(constant)
        return all(abs(s) <= bound for s in self._s)

    def is_monotone(self, strict: bool = False) -> bool:
        """Whether the function is non-decreasing or non-increasing (``strict``: increasing or
        decreasing).

        Examples:
            >>> CPWL.from_pieces([0], [0, 1], [0, 0]).is_monotone(), CPWL.constant(1).is_monotone(strict=True)
            (True, False)
        """
        if strict:
            return all(s > 0 for s in self._s) or all(s < 0 for s in self._s)
        return all(s >= 0 for s in self._s) or all(s <= 0 for s in self._s)

    def is_convex(self) -> bool:
        """Whether slopes never decrease (exactly).

        Examples:
            >>> CPWL.from_pieces([0], [-1, 1], [0, 0]).is_convex()
            True
        """
        return all(a <= b for a, b in zip(self._s, self._s[1:]))

    def is_concave(self) -> bool:
        """Whether slopes never increase (exactly)."""
        return all(a >= b for a, b in zip(self._s, self._s[1:]))

    # ------------------------------------------------------------------ interop
    def to_json(self) -> str:
        """Lossless JSON text (rationals as ``"p/q"`` strings); see :meth:`from_json`.

        Examples:
            >>> f = CPWL.from_points([(0, 0), (1, "1/3")])
            >>> CPWL.from_json(f.to_json()) == f
            True
        """
        from cpwl.serialize import cpwl_to_json

        return cpwl_to_json(self)

    @classmethod
    def from_json(cls, text: str) -> CPWL:
        """Read the JSON written by :meth:`to_json`; malformed input raises
        :class:`cpwl.SerializationError`."""
        from cpwl.serialize import cpwl_from_json

        return cpwl_from_json(text)

    def to_sympy(self, x):
        """A sympy ``Piecewise`` in the symbol ``x`` (exact ``Rational`` coefficients).

        Examples:
            >>> import sympy
            >>> x = sympy.Symbol("x")
            >>> CPWL.from_pieces([0], [-1, 1], [0, 0]).to_sympy(x)
            Piecewise((-x, x <= 0), (x, True))
        """
        from cpwl.sympy_interop import to_sympy

        return to_sympy(self, x)

    @classmethod
    def from_sympy(cls, expr, x, domain=None) -> CPWL:
        """Read a piecewise-linear sympy expression in ``x`` (``Piecewise``, ``Abs``,
        ``Max``, ``Min``, sums and rational multiples) on ``domain``.

        Examples:
            >>> import sympy
            >>> x = sympy.Symbol("x")
            >>> CPWL.from_sympy(sympy.Abs(x - 1), x)(3)
            Fraction(2, 1)
        """
        from cpwl.sympy_interop import from_sympy

        return from_sympy(expr, x, domain)

    def plot(self, ax=None, **kwargs):
        """Plot with matplotlib, breakpoints marked; returns the axes. Keyword arguments go to
        ``ax.plot``.

        Examples:
            >>> import matplotlib; matplotlib.use("Agg")
            >>> ax = CPWL.from_pieces([0], [-1, 1], [0, 0]).plot()
        """
        from cpwl.plotting import plot_cpwl

        return plot_cpwl(self, ax=ax, **kwargs)

    def __repr__(self) -> str:
        bps = ", ".join(str(t) for t in self._bps)
        sl = ", ".join(str(s) for s in self._s)
        vals = ", ".join(str(v) for v in self.values) if self._bps else f"intercept {self._c[0]}"
        return f"CPWL(breakpoints=[{bps}], slopes=[{sl}], values=[{vals}], domain={self._domain})"


def _as_pairs(points: Iterable) -> list:
    pairs = []
    for p in points:
        try:
            x, y = p
        except (TypeError, ValueError) as err:
            raise BreakpointError(f"each point is a pair (x, y), got {p!r}") from err
        pairs.append((x, y))
    return pairs


def _checked_breakpoints(breakpoints: Sequence, domain: Interval) -> list:
    bps = [as_rational(t) for t in breakpoints]
    for j in range(len(bps) - 1):
        if not bps[j] < bps[j + 1]:
            raise BreakpointError(
                f"breakpoints must be strictly increasing; positions {j} and {j + 1} hold "
                f"{bps[j]} and {bps[j + 1]} (sort them and drop repeats)"
            )
    for t in bps:
        if not domain._interior(t):
            raise BreakpointError(f"breakpoint {t} is not strictly inside the domain {domain}")
    return bps


def _fmt_range(lo, hi) -> str:
    return f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
