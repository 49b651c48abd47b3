"""Private engine: the event-sum state of a line restriction through every layer the fast
engine runs: affine, convolution, gather, residual, elementwise, sorting (MaxMin, GroupSort)
and Householder layers.

Along the line, neighbouring pieces differ where neurons change piece; each change is an
*event*.  When neuron ``i`` of an activation layer goes from slope and offset ``(s, c)`` to
``(s', c')`` at breakpoint ``b``, its output jumps by the affine form

    phi = (s' - s) * f + (c' - c)

where ``f`` is the neuron's input form on the piece left of ``b`` (``phi`` vanishes at ``b``:
the map stays continuous).  Later layers carry that jump linearly, through the slopes of the
pieces right of ``b``, so it reaches the current layer as a *direction* (a vector that does not
depend on t) times ``phi``.  Every exact form is then

    form on piece q = form on piece 0 + sum over the events e left of q of direction_e * phi_e

(by telescoping: the form on piece q minus the form on piece q - 1 is the slopes on piece q
times the input jump at breakpoint q - 1, plus the events of this layer there).  The state
holds the exact forms on the first piece, each event's breakpoint and form ``phi_e`` (two
integers), and each event's direction, all as residues (see :mod:`cpwl._modular`):

* an affine layer moves the directions of all events with one matrix product (a fresh event's
  direction is a scaled unit vector, so for those it only takes a weight column); a
  convolution convolves them, a gather takes their entries, a residual block adds the events
  of its two branches;
* an elementwise layer scales each direction by the slopes on the piece right of its event,
  drops directions that became zero, and adds its own events;
* a sorting layer permutes each direction as the piece right of its event is sorted; its own
  events are the outputs whose source changes at a breakpoint, with the difference of the
  two sources' forms as ``phi``; a Householder layer reflects each direction as the piece
  right of its event is reflected, and a group whose reflection changes is an event with
  its normal as direction and its projection as ``phi``;
* the exact forms a sign or a crossing needs, and the outputs at the end, are prefix sums of
  ``direction * phi`` over the events sorted by breakpoint, for the asked-for columns only.

Nothing is ever reconstructed but those forms, whose size
:func:`cpwl._filtered._bits_needed` bounds, so that bound sets the primes.  A map that
already has breakpoints starts with two events at each (its slopes' and its offsets'
jumps).  Simultaneous events (ties) need nothing
special: every neuron whose piece changes at a breakpoint is an event there, with its form
from the piece on the left, and directions cross it with the slopes on the right; this is
the telescoping identity, which holds for any number of events at one breakpoint.  The float
filter, the refinement and the sign decisions are the base class's
(:class:`cpwl._filtered.Propagation`); this module is the exact part.
"""

from __future__ import annotations

import numpy as np

from cpwl import _modular
from cpwl._filtered import Propagation, slope_residues

#: Entries of one block of gathered directions in a prefix sum (bounds its temporaries).
_BLOCK = 1 << 22


class EventPropagation(Propagation):
    """The engine's state: the float filter of :class:`Propagation` and the exact forms as
    event sums (see the module docstring).  Events ``0..E-1`` are the rows of ``_Dir``
    (dense directions, one column per component) followed by the *sparse* events, whose
    direction has two entries:
    ``_scale[:, u, k]`` at component ``_unit[u, k]`` (``k = 0, 1``; a unit vector has a zero
    second scale).  ``_ebp[e]`` is the breakpoint of event ``e``, ``_phi[:, :, e]`` its form
    (slope, offset) over the denominator it was made at; directions carry the rest."""

    _EXACT = ("_R0", "_Dir", "_unit", "_scale", "_ebp", "_phi", "_asked")

    def __init__(self, F, moduli: _modular.Moduli):
        super().__init__(F, moduli)
        n = moduli.count
        R = np.stack([_modular.residues(F._A, moduli.primes), _modular.residues(F._C, moduli.primes)], axis=1)
        self._R0 = R[:, :, :1].copy()  # (primes, 2, 1, width)
        # a map with breakpoints starts with two events at each: its slopes' jump (form t)
        # and its offsets' jump (form 1)
        jumps = self._mod.reduce(R[:, :, 1:] - R[:, :, :-1])  # (primes, 2, breakpoints, width)
        self._Dir = jumps.transpose(0, 2, 1, 3).reshape(n, -1, self.width)
        self._unit, self._scale = np.zeros((0, 2), dtype=np.int64), np.zeros((n, 0, 2))
        self._ebp = np.repeat(np.arange(len(self._bps)), 2)
        self._phi = np.zeros((n, 2, len(self._ebp)))
        self._phi[:, 0, 0::2] = self._phi[:, 1, 1::2] = 1
        self._asked: list = []  # the forms this layer's refinement computed: (codes, residues)
        self._drop_vanished()

    @property
    def events(self) -> int:
        """The number of events held."""
        return len(self._ebp)

    def _exact_bytes(self) -> float:
        arrays = [getattr(self, name) for name in self._EXACT[:-1]] + [v for _, v in self._asked]
        return float(sum(a.nbytes for a in arrays))

    def bytes(self) -> float:
        """As for the base state, plus the dense rows the sparse events become before a
        layer that mixes components (so a step's check covers them; a half that waits is
        counted as it is, since it writes them out only once it runs)."""
        return super().bytes() + 8.0 * self._mod.count * len(self._unit) * self._Dir.shape[2]

    def _rows(self, pieces: int) -> int:
        """A step's rows: one per piece, or one per event where there are more events than
        pieces (ties, sorting groups, an input's two events per breakpoint)."""
        return max(pieces, self.events)

    # ------------------------------------------------------------------ exact forms
    def _table(self) -> np.ndarray:
        P, width = self.pieces, self.width
        out = np.repeat(self._R0, P, axis=2)
        count = self._counts(np.arange(P))
        hit = np.nonzero(count > 0)[0]
        for first, cols, part, lo, inside in self._prefix_sums(np.arange(width), count[hit]):
            rows = hit[inside]
            out[:, :, rows, first : first + len(cols)] += np.take(part, count[rows] - lo - 1, axis=2)
        return self._mod.reduce(out)

    def _exact_residues(self, pieces: np.ndarray, neurons: np.ndarray) -> np.ndarray:
        out = np.take(self._R0[:, :, 0], neurons, axis=2)
        if self.events and len(pieces):
            count = self._counts(pieces)
            columns, where = np.unique(neurons, return_inverse=True)
            asked = np.nonzero(count > 0)[0]
            for first, cols, part, lo, inside in self._prefix_sums(columns, count[asked]):
                k = asked[inside]
                mine = (where[k] >= first) & (where[k] < first + len(cols))
                k = k[mine]
                out[:, :, k] += part[:, :, count[k] - lo - 1, where[k] - first]
                out[:, :, k] = self._mod.reduce(out[:, :, k])
            out = self._mod.reduce(out)
        self._asked.append((pieces * self.width + neurons, out))
        return out

    def _asked_again(self, pieces: np.ndarray, neurons: np.ndarray, now: np.ndarray) -> np.ndarray:
        """The forms of ``neurons`` on ``pieces``, numbered as when this layer's refinement
        asked for forms; those it asked for are not computed again (``now``: the same pieces
        numbered as they are now)."""
        out = np.empty((self._mod.count, 2, len(pieces)))
        missing = np.ones(len(pieces), dtype=bool)
        if self._asked:
            codes = np.concatenate([c for c, _ in self._asked])
            values = np.concatenate([v for _, v in self._asked], axis=2)
            sorter = np.argsort(codes, kind="stable")
            wanted = pieces * self.width + neurons
            at = np.minimum(np.searchsorted(codes, wanted, sorter=sorter), len(codes) - 1)
            found = codes[sorter[at]] == wanted
            out[:, :, found] = values[:, :, sorter[at[found]]]
            missing = ~found
        self._asked = []  # numbered as before the refinement: of no use from here on
        if missing.any():
            out[:, :, missing] = self._exact_residues(now[missing], neurons[missing])
            self._asked = []
        return out

    def _counts(self, pieces: np.ndarray) -> np.ndarray:
        """For each piece, the number of events at breakpoints left of it."""
        return np.searchsorted(np.sort(self._ebp), pieces, side="left")

    def _prefix_sums(self, columns: np.ndarray, counts: np.ndarray):
        """Running sums of ``direction * phi`` over the events in breakpoint order, for the
        components ``columns``, in bounded blocks: yields ``(first, cols, part, lo, inside)``
        where ``part[:, r, e, j]`` (below ``2**53``, unreduced) is the sum of the first
        ``lo + e + 1`` events' ``direction * phi[r]`` at ``cols[j] = columns[first + j]``,
        for the asked-for ``counts`` (each positive) that fall in this block of events
        (``inside``, a boolean mask over ``counts``).  Only ``_modular._CHUNK`` events are
        summed before a reduction, and a block holds at most ``_BLOCK`` entries."""
        if not len(counts):
            return
        order = np.argsort(self._ebp, kind="stable")[: int(counts.max())]
        phi = np.take(self._phi, order, axis=2)
        E, n = len(order), self._mod.count
        chunk = min(_modular._CHUNK, max(1, _BLOCK // (2 * n)))
        block = max(1, _BLOCK // (2 * n * min(E, chunk)))
        for first in range(0, len(columns), block):
            cols = columns[first : first + block]
            G = np.take(self._directions(cols), order, axis=1)  # (primes, events, cols)
            carry = np.zeros((n, 2, 1, len(cols)))
            for lo in range(0, E, chunk):
                part = G[:, None, lo : lo + chunk] * phi[:, :, lo : lo + chunk, None]  # below 2**42 each
                np.cumsum(part, axis=2, out=part)
                part += carry
                yield first, cols, part, lo, (counts > lo) & (counts <= lo + chunk)
                carry = self._mod.reduce(part[:, :, -1:])

    def _directions(self, cols: np.ndarray) -> np.ndarray:
        """The residues of every event's direction at the components ``cols`` (sorted),
        ``(primes, events, len(cols))``: the dense rows, then the sparse events."""
        n, dense = self._mod.count, self._Dir.shape[1]
        out = np.empty((n, dense + len(self._unit), len(cols)))
        np.take(self._Dir, cols, axis=2, out=out[:, :dense], mode="clip")  # clip: no buffered copy
        self._write_sparse(out[:, dense:], cols)
        return out

    def _write_sparse(self, out: np.ndarray, cols: np.ndarray) -> None:
        """Write the sparse events' directions at the components ``cols`` (sorted) into
        ``out`` (primes, sparse events, len(cols))."""
        out[...] = 0.0
        rows = np.arange(len(self._unit))
        for k in range(2) if len(cols) else ():  # two different components (or a second scale 0)
            at = np.minimum(np.searchsorted(cols, self._unit[:, k]), len(cols) - 1)
            hit = cols[at] == self._unit[:, k]
            out[:, rows[hit], at[hit]] += self._scale[:, hit, k]

    # ------------------------------------------------------------------ refinement
    def refine(self, forms, levels, bytes_per_piece, what) -> tuple:
        parents, signs = super().refine(forms, levels, bytes_per_piece, what)
        # old breakpoint k (between old pieces k and k + 1) is now left of the first new
        # piece whose parent is k + 1
        self._ebp = np.searchsorted(parents, self._ebp + 1, side="left") - 1
        return parents, signs

    def _split_exact(self, half: Propagation, rows: slice, copy: bool) -> None:
        start, stop = rows.start, rows.stop
        if start == 0:  # the first half (or a single piece): events left of its last piece
            keep = self._ebp < stop - 1
            half._R0 = self._R0.copy()
            shift = 0
        else:  # the second half starts on piece ``start``: its first forms are that piece's
            keep = self._ebp >= start
            half._R0 = self._table_at(start)
            shift = start
        dense = keep[: self._Dir.shape[1]]
        unit = keep[self._Dir.shape[1] :]
        half._Dir = np.compress(dense, self._Dir, axis=1)
        half._unit, half._scale = self._unit[unit], np.compress(unit, self._scale, axis=1)
        half._ebp, half._phi = self._ebp[keep] - shift, np.compress(keep, self._phi, axis=2)
        half._asked = []  # a step that was cut short runs again on each half

    def _table_at(self, piece: int) -> np.ndarray:
        """The residues of every form on one piece, ``(primes, 2, 1, width)``."""
        width = self.width
        R = self._exact_residues(np.full(width, piece), np.arange(width))
        return R[:, :, None, :]

    # ------------------------------------------------------------------ layers
    def _affine_residues(self, WTR: np.ndarray, bR: np.ndarray, den: int) -> None:
        n, _, _, k = self._R0.shape
        self._asked = []
        bias = bR * self._mod.of_int(self._D)[:, None]
        self._R0 = self._mod.matmul(self._R0.reshape(n, 2, k), WTR, add=(1, bias))[:, :, None, :]
        moved = self._mod.matmul(self._Dir, WTR)
        if len(self._unit):
            moved = np.concatenate([moved, self._columns(WTR)], axis=1)
        self._Dir = moved
        self._unit, self._scale = np.zeros((0, 2), dtype=np.int64), np.zeros((n, 0, 2))
        self._D *= den

    def _columns(self, WTR: np.ndarray) -> np.ndarray:
        """The sparse events' directions after the affine layer with weight residues ``WTR``:
        weight columns, scaled and added; a bare unit vector is just its column."""
        first = np.take(WTR, self._unit[:, 0], axis=1)
        if (self._scale[:, :, 0] == 1).all() and not self._scale[:, :, 1].any():
            return first
        second = np.take(WTR, self._unit[:, 1], axis=1)
        return self._mod.reduce(first * self._scale[:, :, 0, None] + second * self._scale[:, :, 1, None])

    def _select_residues(self, parents, active, S, I, den) -> None:
        width = S.shape[1]
        primes = self._mod.primes
        S_res, I_res = _modular.residues(S, primes), _modular.residues(I, primes)
        D_res = self._mod.of_int(self._D)
        # this layer's events: a component whose piece differs on the two sides of a breakpoint
        b, i = np.nonzero(active[:-1] != active[1:])
        before, after = active[b, i], active[b + 1, i]
        moves = (S[before, i] != S[after, i]) | (I[before, i] != I[after, i])
        b, i, before, after = b[moves], i[moves], before[moves], after[moves]
        f = self._asked_again(parents[b], i, b)  # the input forms on the pieces left of the events
        dS = S_res[:, after, i] - S_res[:, before, i]
        dI = I_res[:, after, i] - I_res[:, before, i]
        phi = np.stack(
            [self._mod.reduce(dS * f[:, 0]), self._mod.reduce(dS * f[:, 1] + self._mod.reduce(dI * D_res[:, None]))],
            axis=1,
        )
        # the events so far: their directions cross this layer with the slopes right of them
        dense = self._Dir.shape[1]
        right = active[self._ebp + 1]
        factor, mask = slope_residues(self._mod, S, right[:dense])
        self._Dir = self._Dir * factor if mask else self._mod.reduce(self._Dir * factor)
        units = np.arange(len(self._unit))[:, None]
        self._scale = self._mod.reduce(self._scale * S_res[:, right[dense:][units, self._unit], self._unit])
        # the first piece
        factor, mask = slope_residues(self._mod, S, active[:1])
        R0 = self._R0[:, :, 0] * (factor if mask else factor[:, None, 0])
        R0[:, 1] += I_res[:, active[0], np.arange(width)] * D_res[:, None]
        self._R0 = self._mod.reduce(R0)[:, :, None, :]
        self._drop_vanished()
        self._add_events(b, i, phi)
        self._D *= den

    def _permute_residues(self, parents: np.ndarray, cols: np.ndarray, groups: np.ndarray) -> None:
        # this layer's events: at a breakpoint, output m of a group whose source changes
        # jumps by phi_m, the difference of its two sources' forms on the piece left of it;
        # in one group these phi sum to zero (the group's sources are only reordered), so the
        # jump is the sum of phi_m * (e_m - e_h) over its changed outputs m but the first, h
        b, j = np.nonzero(cols[:-1] != cols[1:])
        group_of = np.empty(cols.shape[1], dtype=np.int64)
        group_of[groups.ravel()] = np.repeat(np.arange(len(groups)), groups.shape[1])
        key = b * len(groups) + group_of[j]
        order = np.argsort(key, kind="stable")
        b, j, key = b[order], j[order], key[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        head = np.maximum.accumulate(np.where(first, np.arange(len(key)), 0))
        K = len(b)
        f = self._asked_again(np.tile(parents[b], 2), np.concatenate([cols[b + 1, j], cols[b, j]]), np.tile(b, 2))
        phi = self._mod.reduce(f[:, :, :K] - f[:, :, K:])
        # the events so far: their directions are permuted as the piece right of them is
        dense = self._Dir.shape[1]
        right = cols[self._ebp + 1]
        self._Dir = np.take_along_axis(self._Dir, right[None, :dense], axis=2)
        inverse = np.argsort(right[dense:], axis=1)  # where each component goes
        self._unit = inverse[np.arange(len(self._unit))[:, None], self._unit]
        self._R0 = np.take(self._R0, cols[0], axis=3)
        rest = ~first
        self._add_events(b[rest], j[rest], phi[:, :, rest], partners=j[head[rest]])

    def _add_events(self, breakpoints, components, phi, partners=None) -> None:
        """New events with forms ``phi`` and directions: the unit vectors at ``components``,
        minus those at ``partners`` if given."""
        n, K = self._mod.count, len(components)
        scale = np.zeros((n, K, 2))
        scale[:, :, 0] = 1
        if partners is None:
            partners = components
        else:
            scale[:, :, 1] = (self._mod.primes - 1)[:, None]  # -1
        self._unit = np.concatenate([self._unit, np.stack([components, partners], axis=1)])
        self._scale = np.concatenate([self._scale, scale], axis=1)
        self._ebp = np.concatenate([self._ebp, breakpoints])
        self._phi = np.concatenate([self._phi, phi], axis=2)

    def _reflect_residues(self, parents, reflect, G, VR, FR, common: int) -> None:
        from cpwl._filtered_groups import reflected

        n, width = self._mod.count, self._Dir.shape[2]
        self._densify()
        # this layer's events: a group whose reflection changes at a breakpoint jumps by
        # -(r' - r) factor (V·f) V, with f its forms on the piece left of it
        b, g = np.nonzero(reflect[:-1] != reflect[1:])
        K, size = len(b), G.shape[1]
        f = self._asked_again(np.repeat(parents[b], size), G[g].ravel(), np.repeat(b, size))
        phi = self._mod.reduce((f.reshape(n, 2, K, size) * VR[:, None, g, :]).sum(axis=3))
        change = reflect[b + 1, g].astype(np.float64) - reflect[b, g]  # +-1
        scale = self._mod.reduce(-FR[:, g] * change)  # (primes, events)
        fresh = np.zeros((n, K, width))
        for j in range(size):
            fresh[:, np.arange(K), G[g, j]] = self._mod.reduce(scale * VR[:, g, j])
        # the events so far, reflected as the piece right of them; the first piece's forms
        self._Dir = reflected(self._mod, self._Dir[:, None], reflect[self._ebp + 1], G, VR, FR, common)[:, 0]
        self._R0 = reflected(self._mod, self._R0, reflect[:1], G, VR, FR, common)
        self._Dir = np.concatenate([self._Dir, fresh], axis=1)
        self._ebp = np.concatenate([self._ebp, b])
        self._phi = np.concatenate([self._phi, phi], axis=2)

    def _densify(self) -> None:
        """Write the sparse events' directions out as dense rows (before a layer that mixes
        or copies components)."""
        if len(self._unit):
            n, dense, width = self._Dir.shape
            rows = np.empty((n, dense + len(self._unit), width))  # written once: no gathered copy
            rows[:, :dense] = self._Dir
            self._write_sparse(rows[:, dense:], np.arange(width))
            self._Dir = rows
            self._unit, self._scale = np.zeros((0, 2), dtype=np.int64), np.zeros((self._mod.count, 0, 2))

    def _take_columns(self, cols: np.ndarray, zeros=()) -> None:
        if len(zeros) == 0 and len(cols) == self._Dir.shape[2] and len(np.unique(cols)) == len(cols):
            self._unit = np.argsort(cols)[self._unit]  # a permutation: where each component goes
        else:
            self._densify()
        self._R0, self._Dir = np.take(self._R0, cols, axis=-1), np.take(self._Dir, cols, axis=-1)
        self._R0[..., zeros] = 0.0
        self._Dir[..., zeros] = 0.0
        self._asked = []

    def _conv_residues(self, conv, bias: np.ndarray, chunk: int) -> None:
        n = self._mod.count
        self._densify()
        offsets = np.zeros((n, 2, bias.shape[1]))
        offsets[:, 1] = bias  # the bias, on the offsets of the first piece only
        self._R0 = conv(self._R0[:, :, 0], offsets)[:, :, None, :]
        E, rows = self._Dir.shape[1], 2 * chunk
        if self._Dir.shape[2] == bias.shape[1] and self._Dir.flags.c_contiguous and self._Dir.flags.writeable:
            moved = self._Dir  # each block of rows is read before its result overwrites it (no new pages)
        else:
            moved = np.empty((n, E, bias.shape[1]))
        for lo in range(0, E, rows):
            conv(self._Dir[:, lo : lo + rows], None, moved[:, lo : lo + rows])  # written in place
        self._Dir = moved
        self._asked = []

    def _add_residues(self, other: Propagation, mine, theirs, f1: np.ndarray, f2: np.ndarray) -> None:
        # both states' events, on the merged breakpoints, their forms over the common denominator
        self._R0 = self._mod.reduce(self._R0 * f1[:, None, None, None] + other._R0 * f2[:, None, None, None])
        pairs = ((self, mine), (other, theirs))
        ebp = [np.searchsorted(parents, state._ebp + 1, side="left") - 1 for state, parents in pairs]
        phi = [self._mod.reduce(state._phi * f[:, None, None]) for state, f in ((self, f1), (other, f2))]
        dense = (self._Dir.shape[1], other._Dir.shape[1])
        self._ebp = np.concatenate([ebp[0][: dense[0]], ebp[1][: dense[1]], ebp[0][dense[0] :], ebp[1][dense[1] :]])
        self._phi = np.concatenate(
            [phi[0][..., : dense[0]], phi[1][..., : dense[1]], phi[0][..., dense[0] :], phi[1][..., dense[1] :]], axis=2
        )
        self._Dir = np.concatenate([self._Dir, other._Dir], axis=1)
        self._unit = np.concatenate([self._unit, other._unit])
        self._scale = np.concatenate([self._scale, other._scale], axis=1)
        self._asked = []

    def _drop_vanished(self) -> None:
        """Forget the events whose direction is zero: they add nothing here or later."""
        dense = self._Dir.shape[1]
        live = np.concatenate([self._Dir.any(axis=(0, 2)), self._scale.any(axis=(0, 2))])
        if live.all():
            return
        self._Dir = np.compress(live[:dense], self._Dir, axis=1)
        self._unit, self._scale = self._unit[live[dense:]], np.compress(live[dense:], self._scale, axis=1)
        self._ebp, self._phi = self._ebp[live], np.compress(live, self._phi, axis=2)
