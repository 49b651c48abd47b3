"""Private engine: exact line restriction of affine + elementwise networks at float speed.

The map on each piece is ``(A x + C) / D`` with integers ``A, C`` (as in :class:`CPWLMap`),
but the engine never holds those integers as Python objects.  It keeps

* ``Af, Cf``: float64 approximations of ``A / D`` and ``C / D`` with proven per-piece bounds
  ``eA, eC`` on their error (the *filter*), and
* ``R``: the residues of ``A`` and ``C`` modulo enough primes to recover them (see
  :mod:`cpwl._modular`), updated by exact float64 BLAS products.

Every sign the refinement needs (a neuron against a level, at a breakpoint or inside a
piece) is read from the floats when the value clears its error bound; otherwise the integers
of that one neuron on that one piece are rebuilt from their residues and the sign is decided
exactly.  Breakpoints, and the final map, always come from the exact integers.  The result is
the map the reference engine (each layer's ``apply_map``) computes, bit for bit.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
from gmpy2 import mpq

from cpwl import _intarrays, _modular, _pieces
from cpwl._floats import ratio_to_float
from cpwl.activations.elementwise import Elementwise
from cpwl.errors import ShapeError
from cpwl.gather import Gather
from cpwl.limits import check_breakpoints, check_memory

_U = 2.0**-53  # unit roundoff of float64
_REL = 2.0**-51  # relative error of any float64 conversion of a rational, rounded or truncated
_SLACK = 1 + 2.0**-20  # covers the roundings made while computing the bounds themselves
_TINY = 2.0**-1000  # covers underflow


def start(F, layers) -> Optional[Propagation]:
    """The engine's state for the map ``F`` about to pass through ``layers``, or ``None`` when
    some layer is not affine, elementwise or a gather (the reference engine then does the
    work)."""
    from cpwl.affine import Affine

    if not all(isinstance(layer, (Affine, Elementwise, Gather)) for layer in layers):
        return None
    bits = _bits_needed(F, layers)
    return Propagation(F, _modular.Moduli.for_bits(bits)) if math.isfinite(bits) else None


class Propagation:
    """The running state of one restriction; ``apply`` each layer, then ``result()``."""

    def __init__(self, F, moduli: _modular.Moduli):
        self._bps, self._domain, self._D = list(F._bps), F._domain, F._D
        self._mod = moduli
        self._Af, self._Cf = ratio_to_float(F._A, F._D)[0], ratio_to_float(F._C, F._D)[0]
        self._eA = _REL * _row_max(self._Af) + _TINY
        self._eC = _REL * _row_max(self._Cf) + _TINY
        primes = self._mod.primes
        self._R = np.stack([_modular.residues(F._A, primes), _modular.residues(F._C, primes)], axis=1)

    def apply(self, layer) -> None:
        """Push the state through one affine, elementwise or gather layer."""
        if isinstance(layer, Elementwise):
            self._activation(layer)
        elif isinstance(layer, Gather):
            self._gather(layer)
        else:
            self._affine(layer)

    def result(self):
        """The exact :class:`CPWLMap`."""
        from cpwl.cpwl_map import CPWLMap

        A = self._mod.reconstruct(self._R[:, 0])
        C = self._mod.reconstruct(self._R[:, 1])
        return CPWLMap._raw(self._bps, A, C, self._D, self._domain)

    # ------------------------------------------------------------------ affine layers
    def _affine(self, layer) -> None:
        if self._Af.shape[1] != layer.in_features:
            raise ShapeError(f"Affine expects {layer.in_features} inputs, the map has {self._Af.shape[1]}")
        form = layer.float_form
        Wf, bf, exact = form.weight, form.bias, form.exact
        n, _, P, _ = self._R.shape
        check_memory(8.0 * P * Wf.shape[0] * (4 * n + 8), f"an affine layer of width {Wf.shape[0]} on {P} pieces")
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
        bias = bR * self._mod.of_int(self._D)[:, None]  # below 2**42: added before one reduction
        prod = self._mod.matmul(self._R.reshape(n, 2 * P, k), WTR, add=(P, bias))
        self._R, self._D = prod.reshape(n, 2, P, -1), self._D * den

    # ------------------------------------------------------------------ gathers
    def _gather(self, layer: Gather) -> None:
        width = self._Af.shape[1]
        if width != layer.in_features:
            raise ShapeError(f"{layer!r} takes {layer.in_features} inputs, the map has {width}")
        cols = [width if i is None else i for i in layer.index]
        check_memory(
            8.0 * (self._R.size + 2 * self._Af.size) * (len(cols) + width) / width,
            f"{layer!r} on {len(self._bps) + 1} pieces",
        )
        pad = lambda M: np.concatenate([M, np.zeros(M.shape[:-1] + (1,), dtype=M.dtype)], axis=-1)[..., cols]  # noqa: E731
        self._Af, self._Cf, self._R = pad(self._Af), pad(self._Cf), pad(self._R)  # zeros are exact: the bounds stay

    # ------------------------------------------------------------------ elementwise layers
    def _activation(self, layer: Elementwise) -> None:
        width = self._Af.shape[1]
        lev_n, lev_d, valid, S, I, den = layer._tables(width)
        levels = _Levels(lev_n, lev_d, valid)
        ends = self._end_signs(levels)
        hits = np.nonzero(ends[:, :-1, :] * ends[:, 1:, :] < 0)
        new = self._crossings(levels, *hits)
        check_breakpoints(len(self._bps) + len(new))
        pieces = len(self._bps) + len(new) + 1
        check_memory(8.0 * pieces * width * (6 * self._mod.count + 12), f"refining {pieces} pieces of width {width}")
        merged = _pieces.merge_breakpoints(self._domain, self._bps, new)
        samples = _pieces.sample_points(merged, self._domain)
        parents = _parents(self._bps, merged)
        active = np.zeros((len(samples), width), dtype=np.int64)
        for r in range(levels.count):
            active += (self._signs(samples, parents, levels, r) > 0) & valid[r][None, :]
        self._bps = merged
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
        self._R = self._R[:, :, parents]
        if den == 1 and all(v in (0, 1) for v in S.ravel()) and not I.any():
            self._R *= S[active, cols].astype(np.float64)  # ReLU-like: a 0/1 mask, nothing to reduce
            return
        primes = self._mod.primes
        SR, IR = _modular.residues(S, primes), _modular.residues(I, primes)
        s_res = SR[:, active, cols]
        self._R[:, 0] = self._mod.reduce(self._R[:, 0] * s_res)
        self._R[:, 1] = self._mod.reduce(
            self._R[:, 1] * s_res + IR[:, active, cols] * self._mod.of_int(self._D)[:, None, None]
        )
        self._D *= den

    # ------------------------------------------------------------------ signs
    def _end_signs(self, levels: _Levels) -> np.ndarray:
        """Signs of ``neuron - level`` at the domain ends and breakpoints, shape
        ``(levels, breakpoints + 2, width)`` (an infinite end: the sign far out)."""
        P, width = self._Af.shape
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
                out[r, rows] = self._signs(points, np.array(pieces), levels, r)
            if self._domain._lo is None:
                out[r, 0] = self._tail_signs(0, -1, levels, r)
            if self._domain._hi is None:
                out[r, -1] = self._tail_signs(P - 1, 1, levels, r)
            out[r][:, ~levels.valid[r]] = 0
        return out

    def _signs(self, points: list, pieces: np.ndarray, levels: _Levels, r: int) -> np.ndarray:
        """Exact signs of ``neuron - level r`` at rational ``points``, point ``q`` read on piece
        ``pieces[q]``: float where the filter proves it, exact integers elsewhere."""
        tf = ratio_to_float(
            _intarrays.ints([t.numerator for t in points]), _intarrays.ints([t.denominator for t in points])
        )[0][:, None]
        et = _REL * np.abs(tf) + _TINY
        Af, Cf = self._Af[pieces], self._Cf[pieces]
        eA, eC = self._eA[pieces][:, None], self._eC[pieces][:, None]
        with np.errstate(all="ignore"):
            prod = Af * tf
            diff = prod + Cf - levels.floats[r][None, :]
            err = eA * (np.abs(tf) + et) + np.abs(Af) * et + eC + levels.errors[r][None, :]
            err = (err + 3 * _U * (np.abs(prod) + np.abs(Cf) + np.abs(diff))) * _SLACK + _TINY
            settled = np.abs(diff) > err
        signs = np.where(settled, np.sign(diff), 0).astype(np.int8)
        q, i = np.nonzero(~settled & levels.valid[r][None, :])
        if len(q):
            A, C = self._exact(pieces[q], i)
            n, d = (
                _intarrays.ints([points[x].numerator for x in q]),
                _intarrays.ints([points[x].denominator for x in q]),
            )
            values = (A * n + C * d) * levels.den[r, i] - levels.num[r, i] * self._D * d
            signs[q, i] = _intarrays.sign(values)
        return signs

    def _tail_signs(self, piece: int, direction: int, levels: _Levels, r: int) -> np.ndarray:
        """Signs of ``neuron - level r`` far out along an infinite end of the domain."""
        a = self._Af[piece]
        signs = np.where(np.abs(a) > self._eA[piece], np.sign(a) * direction, 0).astype(np.int8)
        (flat,) = np.nonzero(signs == 0)
        if len(flat):
            A, C = self._exact(np.full(len(flat), piece), flat)
            slope = _intarrays.sign(A) * direction
            level = _intarrays.sign(C * levels.den[r, flat] - levels.num[r, flat] * self._D)
            signs[flat] = np.where(slope != 0, slope, level)
        return signs

    def _exact(self, pieces: np.ndarray, neurons: np.ndarray) -> tuple:
        """The integers ``A, C`` (object arrays) of the given neurons on the given pieces."""
        return self._mod.reconstruct(self._R[:, 0, pieces, neurons]), self._mod.reconstruct(
            self._R[:, 1, pieces, neurons]
        )

    def _crossings(self, levels: _Levels, r, piece, neuron) -> list:
        """The exact points strictly inside a piece where a neuron crosses one of its levels."""
        if len(r) == 0:
            return []
        A, C = self._exact(piece, neuron)
        num = levels.num[r, neuron] * self._D - levels.den[r, neuron] * C
        den = levels.den[r, neuron] * A
        return list({mpq(int(a), int(b)) for a, b in zip(num, den)})


class _Levels:
    """The levels of an elementwise layer: exact (numerators, positive denominators), float64
    approximations with error bounds, and which are real (channels have different counts)."""

    def __init__(self, num, den, valid):
        self.num, self.den, self.valid = num, den, valid
        self.count = num.shape[0]
        self.floats = ratio_to_float(num, den)[0]
        self.errors = 2 * _REL * np.abs(self.floats) + _TINY


def _parents(old: list, merged: list) -> np.ndarray:
    """For each piece of ``merged``, the piece of ``old`` (a subset) that contains it."""
    is_old = np.zeros(len(merged) + 1, dtype=np.int64)
    old_set = set(old)
    is_old[1:] = [t in old_set for t in merged]
    return np.cumsum(is_old)


def _row_max(values: np.ndarray) -> np.ndarray:
    return np.abs(values).max(axis=1) if values.shape[1] else np.zeros(values.shape[0])


def _bits_needed(F, layers) -> float:
    """A proven bound on the bit length of every integer ``A, C`` the restriction produces:
    ``log2`` of the largest magnitude a value can reach, plus the bits of the denominator."""
    from cpwl.affine import Affine

    D = F._D
    largest = max(abs(int(v)) for v in np.concatenate([F._A.ravel(), F._C.ravel()]))
    bits = max(largest.bit_length(), 1)
    log_mag = largest.bit_length() - D.bit_length() + 1  # log2 of an upper bound of |A / D|, |C / D|
    width = F.dim
    for layer in layers:
        if isinstance(layer, Affine):
            form = layer.float_form
            w = float(np.abs(form.weight).sum(axis=1).max()) * (1 + 2.0**-40)
            b = float(np.abs(form.bias).max()) * (1 + 2.0**-40)
            log_mag = max(log_mag + math.log2(max(w, 2.0**-1000)), math.log2(max(b, 2.0**-1000))) + 1
            D *= layer._den
            width = layer.out_features
        elif isinstance(layer, Elementwise):
            _, _, _, S, I, den = layer._tables(width)
            s = max(abs(int(v)) for v in S.ravel()).bit_length() - den.bit_length() + 1
            c = max(abs(int(v)) for v in I.ravel()).bit_length() - den.bit_length() + 1
            log_mag = max(log_mag + s, c) + 1
            D *= den
        else:
            width = len(layer.index)
        bits = max(bits, max(log_mag, 0) + D.bit_length() + 2)
    return bits
