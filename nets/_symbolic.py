"""Private helpers shared by the graph importers (ONNX, torch.export): values that depend on
the input are exact maps (:class:`cpwl.CPWLMap`) with a per-sample shape; the operations below
keep them exact."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from cpwl import CPWLError, CPWLMap
from cpwl import activations as exact


class UnsupportedOperatorError(CPWLError, TypeError):
    """A graph operator (or a use of one) that the exact evaluation does not cover."""


class Sym:
    """A value that depends on the input: an exact map and its per-sample shape (row-major
    order of the map's components)."""

    def __init__(self, F: CPWLMap, shape: tuple):
        self.F, self.shape = F, tuple(shape)


def affine(F: CPWLMap, W, b=None) -> CPWLMap:
    """``W F + b`` with float constants taken exactly."""
    return F.affine([[Fraction(float(v)) for v in row] for row in np.atleast_2d(W)], None if b is None else [Fraction(float(v)) for v in np.ravel(b)])


def broadcast(c, size: int) -> np.ndarray:
    """A constant (one value or one per feature) as a flat float64 array of ``size`` values."""
    flat = np.ravel(np.asarray(c, dtype=np.float64))
    if flat.size not in (1, size):
        raise UnsupportedOperatorError(f"cannot broadcast a constant of {flat.size} values over {size} features")
    return np.broadcast_to(flat, (size,))


def diag(F: CPWLMap, scale, bias=None) -> CPWLMap:
    """``scale * F + bias`` featurewise (constants broadcast)."""
    n = F.dim
    s = broadcast(scale, n)
    rows = [[Fraction(float(s[i])) if i == j else 0 for j in range(n)] for i in range(n)]
    return F.affine(rows, None if bias is None else [Fraction(float(v)) for v in broadcast(bias, n)])


def pairwise(a: Sym, b, take_max: bool) -> Sym:
    """Featurewise ``max``/``min`` of a map and a map or a constant, exactly."""
    if not isinstance(b, Sym):
        c = broadcast(b, a.F.dim)
        pieces = [exact.two_piece(Fraction(float(v)), 0, 1, value=Fraction(float(v))) if take_max else exact.two_piece(Fraction(float(v)), 1, 0, value=Fraction(float(v))) for v in c]
        return Sym(a.F.apply(exact.Elementwise(pieces)), a.shape)
    n = a.F.dim
    both = CPWLMap.stack([a.F, b.F]).gather([i + k * n for i in range(n) for k in (0, 1)])
    sorted_pairs = both.apply(exact.MaxMin("adjacent", "max_first"))
    return Sym(sorted_pairs.gather([2 * i + (0 if take_max else 1) for i in range(n)]), a.shape)




def combine(a: Sym, b: Sym, sign: int) -> Sym:
    """``a + sign * b`` for two maps of the same shape."""
    n = a.F.dim
    rows = [[int(i == j) for j in range(n)] + [sign * int(i == j) for j in range(n)] for i in range(n)]
    return Sym(CPWLMap.stack([a.F, b.F]).affine(rows), a.shape)


def constant_over(c, shape: tuple) -> np.ndarray:
    """A constant with a leading batch dimension of one (or none) broadcast to a per-sample
    ``shape`` and flattened."""
    arr = np.asarray(c, dtype=np.float64)
    if arr.ndim == len(shape) + 1 and arr.shape[0] == 1:
        arr = arr[0]
    try:
        return np.broadcast_to(arr, shape).ravel()
    except ValueError as err:
        raise UnsupportedOperatorError(f"cannot broadcast a constant of shape {arr.shape} over {shape}") from err


def clip(a: Sym, lo=None, hi=None) -> Sym:
    """Featurewise ``min(max(a, lo), hi)`` with constant bounds (``None``: unbounded)."""
    out = a if lo is None else pairwise(a, constant_over(lo, a.shape), take_max=True)
    return out if hi is None else pairwise(out, constant_over(hi, a.shape), take_max=False)


def line_input(start, end) -> tuple:
    """The exact input map along ``start + t (end - start)``, ``t`` in ``[0, 1]``, and the
    per-sample shape of ``start``."""
    a, b = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"start and end must have the same shape, got {a.shape} and {b.shape}")
    F = CPWLMap.line([Fraction(float(v)) for v in a.ravel()], [Fraction(float(v)) for v in b.ravel()])
    return F, (a.shape if a.ndim else (1,))


def as_function(F: CPWLMap):
    """A scalar-input result: the canonical CPWL for one output, the canonical map otherwise."""
    F = F.canonical()
    return F[0] if F.dim == 1 else F


def guarded(evaluate, *args):
    """Run a graph evaluation; anything but the library's own errors means the file holds a
    malformed graph, reported as :class:`nets.io.ModelFileError`."""
    from nets.io import ModelFileError

    try:
        return evaluate(*args)
    except CPWLError:
        raise
    except Exception as err:  # malformed graphs fail in arbitrary places of arbitrary code
        raise ModelFileError(f"malformed model graph ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err


def single_output(outputs) -> CPWLMap:
    """The map of a graph's only output, which must depend on the input."""
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    if len(outputs) != 1 or not isinstance(outputs[0], Sym):
        raise UnsupportedOperatorError("the model must have one output that depends on its input")
    return outputs[0].F
