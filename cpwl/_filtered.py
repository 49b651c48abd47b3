"""Private engine: exact line restriction of networks at float speed.

The map on each piece is ``(A x + C) / D`` with integers ``A, C`` (as in :class:`CPWLMap`).
The engine keeps

* ``Af, Cf``: float64 approximations of ``A / D`` and ``C / D`` on every piece, with proven
  per-piece bounds ``eA, eC`` on their error (the *filter*, here), and
* the integers themselves as residues modulo enough primes to recover them (see
  :mod:`cpwl._modular`), not piece by piece but as event sums (:mod:`cpwl._events`).

Every sign the refinement needs (a linear form of the neurons against a level, at a
breakpoint or inside a piece) is read from the floats when the value clears its error bound;
otherwise the integers of that one form on that one piece are rebuilt from their residues and
the sign is decided exactly.  Breakpoints, and the final map, always come from the exact
integers, so simultaneous crossings (ties) are merged exactly.  The result is the map the
reference engine (each layer's ``apply_map``) computes, bit for bit.

Each layer type the engine runs has one step, listed once in :data:`_STEPS` with the growth
of its integers (which fixes the primes); the steps for convolutions and for the vector
activations live in :mod:`cpwl._filtered_conv` and :mod:`cpwl._filtered_groups`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, Optional

import numpy as np
from gmpy2 import mpq

from cpwl import _intarrays, _modular, _pieces
from cpwl._floats import ratio_to_float, rationals_to_float
from cpwl.errors import ShapeError
from cpwl.limits import check_breakpoints, check_memory

_U = 2.0**-53  # unit roundoff of float64
_REL = 2.0**-51  # relative error of any float64 conversion of a rational, rounded or truncated
_SLACK = 1 + 2.0**-20  # covers the roundings made while computing the bounds themselves
_TINY = 2.0**-1000  # covers underflow


class _Step(NamedTuple):
    """How the engine runs one layer type: ``apply(state, layer)``; ``growth(layer, width,
    log_mag, D)`` -> ``(width, log_mag, D, bits)`` after the layer (``log_mag``: log2 of a
    bound on the values, ``D``: the common denominator, ``bits``: a bound on the bit length of
    every integer met inside the layer); ``permuted(layer)``: whether the step runs on
    components still held in a pending permutation (see :meth:`Propagation.storage`)."""

    apply: Callable
    growth: Callable
    permuted: Callable = lambda layer: False


def _steps() -> list:
    from cpwl import _filtered_conv, _filtered_groups
    from cpwl.activations.elementwise import Elementwise
    from cpwl.activations.vector import Householder, SortingLayer
    from cpwl.affine import Affine
    from cpwl.conv import Conv2d
    from cpwl.gather import Gather
    from cpwl.residual import Residual

    return [
        (Affine, _Step(Propagation._affine, _affine_growth)),
        (Conv2d, _Step(_filtered_conv.apply, _filtered_conv.growth)),
        (Elementwise, _Step(Propagation._activation, _elementwise_growth, lambda layer: layer._broadcast)),
        (SortingLayer, _Step(_filtered_groups.apply_sorting, _filtered_groups.sorting_growth, _always)),
        (Householder, _Step(_filtered_groups.apply_householder, _filtered_groups.householder_growth)),
        (Gather, _Step(Propagation._gather, lambda layer, w, m, D: grown(len(layer.index), m, D), _always)),
        (Residual, _Step(Propagation._residual, _residual_growth)),
    ]


_STEPS: list = []


def _always(layer) -> bool:
    return True


def _step(layer) -> Optional[_Step]:
    """The engine's step for ``layer`` (``None``: the engine does not run it: a layer defined
    outside the library, or a subclass that overrides ``apply_map``, goes through its own
    ``apply_map``)."""
    if not _STEPS:
        _STEPS.extend(_steps())
    for kind, step in _STEPS:
        if isinstance(layer, kind) and type(layer).apply_map is kind.apply_map:  # a subclass with its own meaning: no
            if step.growth is _residual_growth and not all(
                _step(sub) for sub in (*layer.layers, *([layer.skip] if layer.skip is not None else []))
            ):
                return None
            return step
    return None


def start(F, layers) -> Optional[Propagation]:
    """The engine's state for the map ``F`` about to pass through ``layers``, or ``None`` when
    some layer has no step here (the reference engine then does the work)."""
    if not all(_step(layer) for layer in layers):
        return None
    bits = _bits_needed(F, layers)
    if not math.isfinite(bits):
        return None
    from cpwl._events import EventPropagation

    return EventPropagation(F, _modular.Moduli.for_bits(bits))


class Forms(NamedTuple):
    """Linear forms along the line, one column each, piece by piece: float64 slopes and
    offsets ``Af, Cf`` (pieces x forms) within ``eA, eC`` (one bound per piece) of the exact
    values, and ``exact(pieces, columns)`` -> their integers ``(A, C)`` over the state's
    denominator."""

    Af: np.ndarray
    Cf: np.ndarray
    eA: np.ndarray
    eC: np.ndarray
    exact: Callable


class Levels:
    """Levels the forms are compared with: exact (numerators, positive denominators), float64
    approximations with error bounds, and which are real (channels have different counts)."""

    def __init__(self, num, den, valid):
        self.num, self.den, self.valid = num, den, valid
        self.count = num.shape[0]
        self.floats = ratio_to_float(num, den)[0]
        self.errors = 2 * _REL * np.abs(self.floats) + _TINY

    @classmethod
    def zeros(cls, n: int) -> Levels:
        """The single level 0 for ``n`` forms."""
        return cls(_intarrays.ints([0] * n, (1, n)), _intarrays.ints([1] * n, (1, n)), np.ones((1, n), dtype=bool))


class Propagation:
    """The running state of one restriction, its float filter and its refinement; ``apply``
    each layer, then ``result()``.  The exact forms are the subclass's
    (:class:`cpwl._events.EventPropagation`): it holds the arrays named in ``_EXACT`` and
    gives each step its exact part (``_affine_residues``, ``_select_residues``,
    ``_permute_residues``, ``_reflect_residues``, ``_conv_residues``, ``_take_columns``,
    ``_add_residues``), the exact forms asked for (``_exact_residues``, ``_table``), their
    bytes (``_exact_bytes``) and their halves (``_split_exact``).

    Rows and columns are selected with ``np.take``, never with fancy indexing: numpy lays the
    result of fancy indexing out with the indexed axes first, so the next reshape or matrix
    product would copy the whole state again.

    A gather that only permutes the components is not carried out: it is kept as a pending
    permutation (component ``j`` is stored in column ``storage[j]``) that later gathers
    compose with and that steps indifferent to the order (sorting with its groups mapped,
    one activation for every channel) run under; any other step carries it out first."""

    #: The names of the arrays that hold the exact forms.
    _EXACT: tuple = ()

    def __init__(self, F, moduli: _modular.Moduli):
        self._bps, self._domain, self._D = list(F._bps), F._domain, F._D
        self._mod = moduli
        self._perm: Optional[np.ndarray] = None
        self._held = 0.0  # bytes held elsewhere: a residual block's other branch, a split's other half
        self._Af, self._Cf = ratio_to_float(F._A, F._D)[0], ratio_to_float(F._C, F._D)[0]
        self._eA = _REL * _row_max(self._Af) + _TINY
        self._eC = _REL * _row_max(self._Cf) + _TINY

    def apply(self, layer) -> None:
        """Push the state through one layer that has a step (see :func:`start`)."""
        step = _step(layer)
        if not step.permuted(layer):
            self._materialize()
        step.apply(self, layer)

    def result(self):
        """The exact :class:`CPWLMap`."""
        from cpwl.cpwl_map import CPWLMap

        self._materialize()
        table = self._table()
        A = self._mod.reconstruct(table[:, 0])
        C = self._mod.reconstruct(table[:, 1])
        return CPWLMap._raw(self._bps, A, C, self._D, self._domain)

    @property
    def width(self) -> int:
        """The number of components of the current map."""
        return self._Af.shape[1] if self._perm is None else len(self._perm)

    def storage(self, columns: np.ndarray) -> np.ndarray:
        """The stored columns that hold the given components."""
        return columns if self._perm is None else self._perm[columns]

    def _materialize(self) -> None:
        """Carry out the pending permutation."""
        if self._perm is not None:
            perm, self._perm = self._perm, None
            self._Af, self._Cf = np.take(self._Af, perm, axis=-1), np.take(self._Cf, perm, axis=-1)
            self._take_columns(perm)

    def bytes(self) -> float:
        """The bytes held while this state works: its own arrays and those held elsewhere (a
        residual block's other branch, the other half of a split state)."""
        return self.own_bytes() + self._held

    def own_bytes(self) -> float:
        """The bytes of the state's own arrays."""
        return float(sum(a.nbytes for a in (self._Af, self._Cf, self._eA, self._eC))) + self._exact_bytes()

    @property
    def pieces(self) -> int:
        """The number of pieces of the current map."""
        return self._Af.shape[0]

    def neurons(self) -> Forms:
        """The components themselves as :class:`Forms`."""
        return Forms(self._Af, self._Cf, self._eA, self._eC, self._exact)

    def combined(self, index: np.ndarray, coef: np.ndarray) -> Forms:
        """The forms ``sum_j coef[m, j] * component[index[m, j]]`` (``index`` an int array
        ``(forms, g)``, ``coef`` an object array of ints of the same shape)."""
        cf, exact = ratio_to_float(coef, 1)
        rel = 0.0 if exact else _REL
        g = index.shape[1]
        csum = float(np.abs(cf).sum(axis=1).max(initial=0.0)) * (1 + rel)
        with np.errstate(all="ignore"):
            Af = sum(cf[None, :, j] * self._Af[:, index[:, j]] for j in range(g))
            Cf = sum(cf[None, :, j] * self._Cf[:, index[:, j]] for j in range(g))
            eA = (csum * self._eA + (g + 1) * (_U + rel) * csum * _row_max(self._Af)) * _SLACK + _TINY
            eC = (csum * self._eC + (g + 1) * (_U + rel) * csum * _row_max(self._Cf)) * _SLACK + _TINY

        def exact(pieces, cols):
            parts = [self._exact(pieces, index[cols, j]) for j in range(g)]
            return (
                sum(coef[cols, j] * parts[j][0] for j in range(g)),
                sum(coef[cols, j] * parts[j][1] for j in range(g)),
            )

        return Forms(Af, Cf, eA, eC, exact)

    def fork(self) -> Propagation:
        """An independent copy of the state (for the two branches of a residual block)."""
        self.check_memory(0.0, self.pieces, f"a copy of {self.pieces} pieces for a residual block", self.own_bytes())
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other._bps = list(self._bps)
        for name in ("_Af", "_Cf", "_eA", "_eC", *self._EXACT):
            setattr(other, name, getattr(self, name).copy())
        return other

    def split(self, k: int) -> tuple:
        """Two states: the pieces before breakpoint ``k - 1`` and the pieces from it on, on
        the two parts of the domain (``k == 0``: the single piece of a bounded domain, cut at
        the domain's middle).  This state is left empty."""
        from cpwl.interval import Interval

        lo, hi = self._domain._lo, self._domain._hi
        if k == 0:
            cut, first, second = (lo + hi) / 2, slice(0, 1), slice(0, 1)
            bps_first, bps_second = [], []
        else:
            cut, first, second = self._bps[k - 1], slice(0, k), slice(k, None)
            bps_first, bps_second = self._bps[: k - 1], self._bps[k:]
        halves = []
        # the second half is copied, the first is a view (its first step replaces its arrays):
        # at most one and a half states are held while splitting
        for rows, bps, domain, copy in (
            (first, bps_first, Interval(lo, cut), False),
            (second, bps_second, Interval(cut, hi), True),
        ):
            half = object.__new__(type(self))
            half.__dict__.update(self.__dict__)
            half._bps, half._domain = list(bps), domain
            for name in ("_Af", "_Cf", "_eA", "_eC"):
                part = getattr(self, name)[rows]
                setattr(half, name, part.copy() if copy else part)
            self._split_exact(half, rows, copy)
            halves.append(half)
        for name in ("_Af", "_Cf", "_eA", "_eC", *self._EXACT):
            setattr(self, name, None)
        return tuple(halves)

    def refine(self, forms: Forms, levels: Levels, bytes_per_piece: float, what: str) -> tuple:
        """Split the pieces where a form crosses one of its levels: the new breakpoints are
        set, and ``(parents, signs)`` returned: for each new piece the old piece holding it,
        and the exact signs of every form against every level inside it, ``(levels, pieces,
        forms)``.  The caller then rebuilds the arrays on the new pieces, which it says take
        ``bytes_per_piece`` (checked against the memory budget before anything is built)."""
        ends = self._end_signs(forms, levels)
        hits = np.nonzero(ends[:, :-1, :] * ends[:, 1:, :] < 0)
        new = self._crossings(forms, levels, *hits)
        check_breakpoints(len(self._bps) + len(new))
        pieces = len(self._bps) + len(new) + 1
        self.check_memory(bytes_per_piece, pieces, f"{what} on {pieces} pieces")
        merged = _pieces.merge_breakpoints(self._domain, self._bps, new)
        samples = _pieces.sample_points(merged, self._domain)
        parents = _parents(self._bps, merged)
        signs = np.zeros((levels.count, len(samples), forms.Af.shape[1]), dtype=np.int8)
        for r in range(levels.count):
            signs[r] = self._signs(samples, parents, forms, levels, r)
        self._bps = merged
        return parents, signs

    def check_memory(self, bytes_per_piece: float, pieces: int, what: str, extra: float = 0.0) -> None:
        """:func:`cpwl.check_memory` for a step that builds ``bytes_per_piece`` on each of
        ``pieces`` pieces (new state and temporaries) and ``extra`` bytes, while the current
        state is still held (the exact part may count more rows than pieces, see ``_rows``)."""
        check_memory(self.bytes() + bytes_per_piece * self._rows(pieces) + extra, what, pieces=pieces)

    # ------------------------------------------------------------------ affine layers
    def _affine(self, layer) -> None:
        if self.width != layer.in_features:
            raise ShapeError(f"Affine expects {layer.in_features} inputs, the map has {self.width}")
        form = layer.float_form
        Wf, bf, exact = form.weight, form.bias, form.exact
        n, P = self._mod.count, self.pieces
        self.check_memory(8.0 * Wf.shape[0] * (4 * n + 8), P, f"an affine layer of width {Wf.shape[0]} on {P} pieces")
        WTR, bR, den = layer._residues(self._mod)
        k = Wf.shape[1]
        rel = 0.0 if exact else _REL
        gamma = k * _U / (1 - k * _U) + rel
        absW = np.abs(Wf)
        w1 = float(absW.sum(axis=1).max()) * (1 + rel)
        w2 = float(np.sqrt((Wf * Wf).sum(axis=1)).max())
        nA, nC = np.sqrt((self._Af**2).sum(axis=1)), np.sqrt((self._Cf**2).sum(axis=1))
        with np.errstate(all="ignore"):
            Af, Cf = self._Af @ Wf.T, self._Cf @ Wf.T + bf
            self._eA = (self._eA * w1 + gamma * nA * w2) * _SLACK + _TINY
            self._eC = (
                self._eC * w1 + gamma * nC * w2 + rel * float(np.abs(bf).max()) + _U * _row_max(Cf)
            ) * _SLACK + _TINY
        self._Af, self._Cf = Af, Cf
        self._affine_residues(WTR, bR, den)

    # ------------------------------------------------------------------ gathers
    def _gather(self, layer) -> None:
        width = self.width
        if width != layer.in_features:
            raise ShapeError(f"{layer!r} takes {layer.in_features} inputs, the map has {width}")
        index = [None if i is None else int(self.storage(i)) for i in layer.index]
        stored = self._Af.shape[1]
        if None not in index and len(index) == stored and len(set(index)) == stored:
            self._perm = None if index == list(range(stored)) else np.array(index)
            return
        zeros = [j for j, i in enumerate(index) if i is None]
        cols = np.array([0 if i is None else i for i in index], dtype=np.int64)
        per_piece = 8.0 * len(cols) * (2 * self._mod.count + 2)
        self.check_memory(per_piece, self.pieces, f"{layer!r} on {self.pieces} pieces")
        self._Af, self._Cf = np.take(self._Af, cols, axis=-1), np.take(self._Cf, cols, axis=-1)
        for M in (self._Af, self._Cf):
            M[..., zeros] = 0.0  # zeros are exact: the bounds stay
        self._take_columns(cols, zeros)
        self._perm = None

    # ------------------------------------------------------------------ residual blocks
    def _residual(self, layer) -> None:
        skip = self.fork()
        held = self._held
        self._held += skip.own_bytes()
        for sub in layer.layers:
            self.apply(sub)
        self._held = held
        skip._held = self.bytes()
        if layer.skip is not None:
            skip.apply(layer.skip)
        skip._materialize()
        skip._held = 0.0
        self._materialize()
        self._add(skip)

    def _add(self, other: Propagation) -> None:
        """``self + other`` on the union of their breakpoints, over the least common denominator."""
        merged = _pieces.merge_breakpoints(self._domain, self._bps, other._bps)
        self.check_memory(
            8.0 * self.width * (4 * self._mod.count + 4), len(merged) + 1, "a residual sum", other.own_bytes()
        )
        mine, theirs = _parents(self._bps, merged), _parents(other._bps, merged)
        D = math.lcm(self._D, other._D)
        self._add_residues(other, mine, theirs, self._mod.of_int(D // self._D), self._mod.of_int(D // other._D))
        with np.errstate(all="ignore"):
            self._Af = self._Af[mine] + other._Af[theirs]
            self._Cf = self._Cf[mine] + other._Cf[theirs]
            self._eA = (self._eA[mine] + other._eA[theirs] + _U * _row_max(self._Af)) * _SLACK + _TINY
            self._eC = (self._eC[mine] + other._eC[theirs] + _U * _row_max(self._Cf)) * _SLACK + _TINY
        self._bps, self._D = merged, D

    # ------------------------------------------------------------------ elementwise layers
    def _activation(self, layer) -> None:
        width = self.width
        lev_n, lev_d, valid, S, I, den = layer._tables(width)
        levels = Levels(lev_n, lev_d, valid)
        parents, signs = self.refine(
            self.neurons(), levels, 8.0 * width * (6 * self._mod.count + 12), f"{layer!r} of width {width}"
        )
        active = ((signs > 0) & valid[:, None, :]).sum(axis=0)
        self._select(parents, active, S, I, den)

    def _select(self, parents, active, S, I, den) -> None:
        cols = np.arange(S.shape[1])[None, :]
        (Sf, exact_s), (If, exact_i) = ratio_to_float(S, den), ratio_to_float(I, den)
        exact = exact_s and exact_i
        rel = 0.0 if exact else _REL
        s_max = float(np.abs(Sf).max()) * (1 + rel)
        slope, offset = Sf[active, cols], If[active, cols]
        Af, Cf = self._Af[parents], self._Cf[parents]
        eA, eC = self._eA[parents], self._eC[parents]
        with np.errstate(all="ignore"):
            self._Af, self._Cf = slope * Af, slope * Cf + offset
            self._eA = (s_max * eA + (rel + _U) * s_max * _row_max(Af)) * _SLACK + _TINY
            self._eC = (
                s_max * eC + (rel + _U) * s_max * _row_max(Cf) + rel * float(np.abs(If).max()) + _U * _row_max(self._Cf)
            ) * _SLACK + _TINY
        self._select_residues(parents, active, S, I, den)

    # ------------------------------------------------------------------ signs
    def _end_signs(self, forms: Forms, levels: Levels) -> np.ndarray:
        """Signs of ``form - level`` at the domain ends and breakpoints, shape
        ``(levels, breakpoints + 2, forms)`` (an infinite end: the sign far out)."""
        P, width = forms.Af.shape
        out = np.zeros((levels.count, len(self._bps) + 2, width), dtype=np.int8)
        points, rows, pieces = [], [], []
        if self._domain._lo is not None:
            points.append(self._domain._lo), rows.append(0), pieces.append(0)
        for j, t in enumerate(self._bps):
            points.append(t), rows.append(j + 1), pieces.append(j)
        if self._domain._hi is not None:
            points.append(self._domain._hi), rows.append(len(self._bps) + 1), pieces.append(P - 1)
        for r in range(levels.count):
            if points:
                out[r, rows] = self._signs(points, np.array(pieces), forms, levels, r)
            if self._domain._lo is None:
                out[r, 0] = self._tail_signs(forms, 0, -1, levels, r)
            if self._domain._hi is None:
                out[r, -1] = self._tail_signs(forms, P - 1, 1, levels, r)
            out[r][:, ~levels.valid[r]] = 0
        return out

    def _signs(self, points: list, pieces: np.ndarray, forms: Forms, levels: Levels, r: int) -> np.ndarray:
        """Exact signs of ``form - level r`` at rational ``points``, point ``q`` read on piece
        ``pieces[q]``: float where the filter proves it, exact integers elsewhere."""
        tf = rationals_to_float(points)[:, None]
        et = _REL * np.abs(tf) + _TINY
        Af, Cf = forms.Af[pieces], forms.Cf[pieces]
        eA, eC = forms.eA[pieces][:, None], forms.eC[pieces][:, None]
        with np.errstate(all="ignore"):
            prod = Af * tf
            diff = prod + Cf - levels.floats[r][None, :]
            err = eA * (np.abs(tf) + et) + np.abs(Af) * et + eC + levels.errors[r][None, :]
            err = (err + 3 * _U * (np.abs(prod) + np.abs(Cf) + np.abs(diff))) * _SLACK + _TINY
            settled = np.abs(diff) > err
        signs = np.where(settled, np.sign(diff), 0).astype(np.int8)
        q, i = np.nonzero(~settled & levels.valid[r][None, :])
        if len(q):
            A, C = forms.exact(pieces[q], i)
            n, d = (
                _intarrays.ints([points[x].numerator for x in q]),
                _intarrays.ints([points[x].denominator for x in q]),
            )
            values = (A * n + C * d) * levels.den[r, i] - levels.num[r, i] * self._D * d
            signs[q, i] = _intarrays.sign(values)
        return signs

    def _tail_signs(self, forms: Forms, piece: int, direction: int, levels: Levels, r: int) -> np.ndarray:
        """Signs of ``form - level r`` far out along an infinite end of the domain."""
        a = forms.Af[piece]
        signs = np.where(np.abs(a) > forms.eA[piece], np.sign(a) * direction, 0).astype(np.int8)
        (flat,) = np.nonzero(signs == 0)
        if len(flat):
            A, C = forms.exact(np.full(len(flat), piece), flat)
            slope = _intarrays.sign(A) * direction
            level = _intarrays.sign(C * levels.den[r, flat] - levels.num[r, flat] * self._D)
            signs[flat] = np.where(slope != 0, slope, level)
        return signs

    def _exact(self, pieces: np.ndarray, neurons: np.ndarray) -> tuple:
        """The integers ``A, C`` (object arrays) of the given neurons on the given pieces."""
        R = self._exact_residues(pieces, neurons)
        return self._mod.reconstruct(R[:, 0]), self._mod.reconstruct(R[:, 1])

    def _crossings(self, forms: Forms, levels: Levels, r, piece, column) -> list:
        """The exact points strictly inside a piece where a form crosses one of its levels."""
        if len(r) == 0:
            return []
        A, C = forms.exact(piece, column)
        num = levels.num[r, column] * self._D - levels.den[r, column] * C
        den = levels.den[r, column] * A
        return list({mpq(int(a), int(b)) for a, b in zip(num, den)})


def slope_residues(moduli: _modular.Moduli, S: np.ndarray, active: np.ndarray) -> tuple:
    """``(factor, mask)``: the residues of the slopes ``S[active[r, i], i]`` (``S`` an object
    array of integer slopes per piece and component), shaped to multiply a residue array
    ``(primes, rows, components)``; ``mask``: the factor is a float 0/1 array of shape
    ``active.shape``, whose products need no reduction.  Slopes ``0, +-m`` (ReLU, abs, N, ...)
    become a signed mask times one scalar per prime, in ``(-p, p)`` (reduce takes negative
    values too)."""
    cols = np.arange(S.shape[1])[None, :]
    magnitudes = {abs(int(v)) for v in S.ravel()} - {0}
    if len(magnitudes) > 1:
        return _modular.residues(S, moduli.primes)[:, active, cols], False
    m = magnitudes.pop() if magnitudes else 1
    sign = np.sign(S[active, cols].astype(np.float64))
    if m == 1 and not (sign < 0).any():
        return sign, True
    return moduli.of_int(m)[:, None, None] * sign, False


def _parents(old: list, merged: list) -> np.ndarray:
    """For each piece of ``merged``, the piece of ``old`` (a subset) that contains it."""
    is_old = np.zeros(len(merged) + 1, dtype=np.int64)
    old_set = set(old)
    is_old[1:] = [t in old_set for t in merged]
    return np.cumsum(is_old)


def _row_max(values: np.ndarray) -> np.ndarray:
    return np.abs(values).max(axis=1) if values.shape[1] else np.zeros(values.shape[0])


# ---------------------------------------------------------------------- integer growth
def grown(width: int, log_mag: float, D: int) -> tuple:
    """The growth tuple of a layer whose largest integers are its outputs."""
    return width, log_mag, D, max(log_mag, 0) + D.bit_length() + 2


def log2_bound(value: float) -> float:
    """``log2`` of a float upper bound, rounded up safely (tiny values count as ``2**-1000``)."""
    return math.log2(max(value * (1 + 2.0**-40), 2.0**-1000))


def _affine_growth(layer, width, log_mag, D) -> tuple:
    form = layer.float_form
    w = float(np.abs(form.weight).sum(axis=1).max())
    b = float(np.abs(form.bias).max()) if form.bias.size else 0.0
    return grown(layer.check_width(width), max(log_mag + log2_bound(w), log2_bound(b)) + 1, D * layer._den)


def _elementwise_growth(layer, width, log_mag, D) -> tuple:
    _, _, _, S, I, den = layer._tables(width)
    s = max(abs(int(v)) for v in S.ravel()).bit_length() - den.bit_length() + 1
    c = max(abs(int(v)) for v in I.ravel()).bit_length() - den.bit_length() + 1
    return grown(width, max(log_mag + s, c) + 1, D * den)


def _residual_growth(layer, width, log_mag, D) -> tuple:
    inner = _growth(layer.layers, width, log_mag, D)
    skip = (width, log_mag, D, 0) if layer.skip is None else _growth([layer.skip], width, log_mag, D)
    out = grown(inner[0], max(inner[1], skip[1]) + 1, math.lcm(inner[2], skip[2]))
    return (*out[:3], max(out[3], inner[3], skip[3]))


def _growth(layers, width, log_mag, D) -> tuple:
    """``(width, log_mag, D, bits)`` after ``layers``; ``bits`` bounds the bit length of every
    integer met on the way."""
    bits = 0
    for layer in layers:
        width, log_mag, D, inside = _step(layer).growth(layer, width, log_mag, D)
        bits = max(bits, inside)
    return width, log_mag, D, bits


def _bits_needed(F, layers) -> float:
    """A proven bound on the bit length of every integer ``A, C`` the restriction produces:
    ``log2`` of the largest magnitude a value can reach, plus the bits of the denominator."""
    D = F._D
    largest = max(abs(int(v)) for v in np.concatenate([F._A.ravel(), F._C.ravel()]))
    log_mag = largest.bit_length() - D.bit_length() + 1  # log2 of an upper bound of |A / D|, |C / D|
    return max(_growth(layers, F.dim, log_mag, D)[3], largest.bit_length(), 1)
