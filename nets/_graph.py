"""Private helpers shared by the graph importers (ONNX, torch.export): values that depend on
the input are exact maps (:class:`cpwl.CPWLMap`) with a per-sample shape; the operations below
keep them exact, and compute with the same exact layer types as the translation table
(:class:`cpwl.Affine`, :class:`cpwl.Conv2d`, :class:`cpwl.Gather`, activations)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from cpwl import Affine, CPWLError, CPWLMap, Gather
from cpwl import activations as exact
from cpwl.errors import DomainError, InvalidArgument, MemoryLimitError, ShapeError, UnsupportedOperatorError
from cpwl.limits import check_memory

__all__ = ["Sym", "UnsupportedOperatorError", "GRAPH_SUFFIXES", "importer_for"]

#: File suffixes of the graph formats, and the importer module that reads each.
GRAPH_SUFFIXES = {".onnx": "nets.onnx_import", ".pt2": "nets.pt2_import"}


def importer_for(path):
    """The importer module (:mod:`nets.onnx_import` or :mod:`nets.pt2_import`) of a graph file,
    chosen by its suffix, or ``None`` for any other path.

    Examples:
        >>> importer_for("model.onnx").__name__, importer_for("model.pt")
        ('nets.onnx_import', None)
    """
    import importlib
    import pathlib

    if not isinstance(path, (str, pathlib.Path)):
        return None
    name = GRAPH_SUFFIXES.get(pathlib.Path(path).suffix)
    return None if name is None else importlib.import_module(name)


#: Probe entries are ``position + 1 + PROBE_OFFSET``: a value an index operation did not copy
#: (a non-zero padding constant, say) cannot be mistaken for a position.
PROBE_OFFSET = 2.0**31 + 0.25


def stack(maps: list):
    """The components of several input-dependent values side by side: exact maps
    (:meth:`cpwl.CPWLMap.stack`) or chains of layers (:func:`nets._graph_trace.stack`).

    Examples:
        >>> stack([CPWLMap.line([0], [1]), CPWLMap.line([2], [2])]).dim
        2
    """
    from nets import _graph_trace

    if all(isinstance(m, _graph_trace.Trace) for m in maps):
        return _graph_trace.stack(maps)
    return CPWLMap.stack(maps)


class Sym:
    """A value that depends on the input: an exact map (or, when a whole graph is traced, a
    chain of layers, :class:`nets._graph_trace.Trace`) and its per-sample shape (row-major
    order of the map's components)."""

    def __init__(self, F: CPWLMap, shape: tuple):
        self.F, self.shape = F, tuple(shape)


def exact_scalar(value, name: str) -> Fraction:
    """One constant (a Python or numpy number, or a 0-d/1-element array), exactly."""
    array = np.asarray(value)
    if array.size != 1:
        raise UnsupportedOperatorError(f"{name} must be a single number, got {array.size} values")
    return Fraction(float(array.ravel()[0])) if array.dtype.kind == "f" else Fraction(int(array.ravel()[0]))


def affine(F: CPWLMap, W, b=None, scale: Fraction = Fraction(1), bias_scale: Fraction = Fraction(1)) -> CPWLMap:
    """``scale * W F + bias_scale * b`` with float constants taken exactly (and the scales
    applied exactly, not in floats)."""
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    bias = None if b is None else np.ravel(np.asarray(b, dtype=np.float64))
    if bias is not None and bias.shape != (W.shape[0],):
        raise UnsupportedOperatorError(f"a bias of {bias.size} values for {W.shape[0]} outputs")
    if scale == 1 and bias_scale == 1:
        layer = Affine(W, bias)
    else:
        rows = [[scale * Fraction(v) for v in row] for row in W.tolist()]
        layer = Affine(rows, None if bias is None else [bias_scale * Fraction(v) for v in bias.tolist()])
    return F.apply(layer)


def constant_over(c, shape: tuple) -> np.ndarray:
    """A constant with a leading batch dimension of one (or none) broadcast to a per-sample
    ``shape`` and flattened (numpy broadcasting rules)."""
    arr = np.asarray(c, dtype=np.float64)
    if arr.ndim == len(shape) + 1 and arr.shape[0] == 1:
        arr = arr[0]
    try:
        return np.broadcast_to(arr, shape).ravel()
    except ValueError as err:
        raise UnsupportedOperatorError(f"cannot broadcast a constant of shape {arr.shape} over {shape}") from err


def featurewise(a: Sym, scale=None, offset=None) -> Sym:
    """``scale * a + offset`` with constants broadcast over ``a``'s shape, exactly."""
    n = a.F.dim
    s = [Fraction(1)] * n if scale is None else [Fraction(float(v)) for v in constant_over(scale, a.shape)]
    o = None if offset is None else [Fraction(float(v)) for v in constant_over(offset, a.shape)]
    return Sym(a.F.featurewise(s, o), a.shape)


def pairwise(a: Sym, b, take_max: bool) -> Sym:
    """Featurewise ``max``/``min`` of a map and a map or a constant, exactly."""
    if not isinstance(b, Sym):
        c = constant_over(b, a.shape)
        pieces = [
            exact.two_piece(Fraction(float(v)), 0, 1, value=Fraction(float(v)))
            if take_max
            else exact.two_piece(Fraction(float(v)), 1, 0, value=Fraction(float(v)))
            for v in c
        ]
        return Sym(a.F.apply(exact.Elementwise(pieces)), a.shape)
    if a.shape != b.shape:
        raise UnsupportedOperatorError(f"max/min of input-dependent values of shapes {a.shape} and {b.shape}")
    n = a.F.dim
    both = stack([a.F, b.F]).gather([i + k * n for i in range(n) for k in (0, 1)])
    sorted_pairs = both.apply(exact.MaxMin("adjacent", "max_first"))
    return Sym(sorted_pairs.gather([2 * i + (0 if take_max else 1) for i in range(n)]), a.shape)


def combine(a: Sym, b: Sym, sign: int, b_scale: Fraction = Fraction(1)) -> Sym:
    """``a + sign * b_scale * b`` for two maps of the same shape, exactly."""
    if a.shape != b.shape:
        raise UnsupportedOperatorError(
            f"adding input-dependent values of shapes {a.shape} and {b.shape} (broadcasting is not supported)"
        )
    return Sym(a.F + b.F.featurewise([sign * b_scale] * b.F.dim), a.shape)


class Cond:
    """An input-dependent comparison, elementwise: ``diff < 0`` (``strict``) or ``diff <= 0``,
    with ``diff`` a value of the same per-sample shape (``a - b`` for ``a < b``)."""

    def __init__(self, diff: Sym, strict: bool):
        self.diff, self.strict = diff, strict


def compare(a, b, op: str, shape: tuple) -> Cond:
    """``a op b`` for ``op`` in ``<``, ``<=``, ``>``, ``>=`` (one side may be a constant)."""
    if op in (">", ">="):
        a, b, op = b, a, "<" if op == ">" else "<="
    as_sym = lambda v: v if isinstance(v, Sym) else None  # noqa: E731
    if as_sym(a) and as_sym(b):
        diff = combine(a, b, -1)
    elif as_sym(a):
        diff = featurewise(a, None, -np.asarray(b, dtype=np.float64))
    elif as_sym(b):
        diff = featurewise(b, -1.0, a)
    else:
        raise UnsupportedOperatorError("a comparison of two constants should have been folded")
    if diff.shape != tuple(shape):
        raise UnsupportedOperatorError(f"a comparison of shape {diff.shape} used for values of shape {shape}")
    return Cond(diff, op == "<")


def where(cond: Cond, a, b) -> Sym:
    """``a`` where the condition holds, else ``b`` (constants broadcast), exactly; a selection
    that jumps (the two branches differ where the condition switches) is refused."""
    shape = cond.diff.shape
    line = cond.diff.F

    def as_map(v):
        if isinstance(v, Sym):
            if v.shape != shape:
                raise UnsupportedOperatorError(f"where with values of shape {v.shape} and a condition of shape {shape}")
            return v.F
        return line.featurewise([0] * line.dim, [Fraction(float(c)) for c in constant_over(v, shape)])

    try:
        return Sym(as_map(a).where_negative(line, as_map(b), cond.strict), shape)
    except DomainError as err:
        raise UnsupportedOperatorError(f"where: {err} (the result is not continuous, so not piecewise linear)") from err


def extreme(a: Sym, axes, keepdims: bool, take_max: bool, count: int = 1) -> Sym:
    """The largest (``take_max``) or smallest entry along ``axes`` of ``a`` — or, with
    ``count = k`` and one axis, the top ``k`` in order (a top-k's values): a gather of every
    group, an exact sort, and a gather of its ends.  With ``keepdims`` (or a top-k) the
    reduced axes stay, of size 1 (or ``k``)."""
    from cpwl.gather import Gather

    axes = sorted({ax % len(a.shape) for ax in axes})
    rest = [ax for ax in range(len(a.shape)) if ax not in axes]
    size = int(np.prod([a.shape[ax] for ax in axes]))
    if not 1 <= count <= size or (count > 1 and len(axes) != 1):
        raise UnsupportedOperatorError(f"the top {count} of groups of {size} entries along axes {axes}")
    groups = np.arange(a.F.dim).reshape(a.shape).transpose(rest + axes).reshape(-1, size)
    ordered = a.F.apply(Gather(groups.ravel().tolist(), a.F.dim)).apply(exact.GroupSort(size, descending=take_max))
    picked = np.arange(ordered.dim).reshape(len(groups), size)[:, :count]  # laid out as (rest..., count)
    if count > 1:
        picked = np.moveaxis(picked.reshape(*(a.shape[ax] for ax in rest), count), -1, axes[0])
        shape = tuple(count if ax == axes[0] else a.shape[ax] for ax in range(len(a.shape)))
    else:
        shape = (
            tuple(1 if ax in axes else a.shape[ax] for ax in range(len(a.shape)))
            if keepdims
            else tuple(a.shape[ax] for ax in rest)
        )
    return Sym(ordered.apply(Gather(picked.ravel().tolist(), ordered.dim)), shape)


def clip(a: Sym, lo=None, hi=None) -> Sym:
    """Featurewise ``min(max(a, lo), hi)`` with constant bounds (``None``: unbounded)."""
    out = a if lo is None else pairwise(a, lo, take_max=True)
    return out if hi is None else pairwise(out, hi, take_max=False)


def index_gather(outcome, size: int, what: str) -> list:
    """The gather index of an index operation evaluated on a probe (see :data:`PROBE_OFFSET`):
    ``None`` for a zero, refusing any value that is neither zero nor a probe position."""
    values = np.asarray(outcome, dtype=np.float64).ravel()
    positions = values - PROBE_OFFSET - 1
    ok = (values == 0) | ((positions == np.round(positions)) & (positions >= 0) & (positions < size))
    if not ok.all():
        raise UnsupportedOperatorError(
            f"{what} does not only move, copy or zero-pad entries (a non-zero padding value?)"
        )
    return [None if v == 0 else int(p) for v, p in zip(values.tolist(), positions.tolist())]


def probe(size: int):
    """The probe values ``position + 1 + PROBE_OFFSET`` as float64 numpy entries."""
    return np.arange(size, dtype=np.float64) + 1 + PROBE_OFFSET


def gather(a: Sym, index: list, shape: tuple) -> Sym:
    """The entries ``index`` of ``a`` (``None``: zero) as a value of per-sample ``shape``."""
    return Sym(a.F.apply(Gather(index, a.F.dim)), shape)


def line_input(start, end) -> tuple:
    """The exact input map along ``start + t (end - start)``, ``t`` in ``[0, 1]``, and the
    per-sample shape of ``start`` (taken exactly, see :func:`nets.export.exact_point`)."""
    from nets.export import exact_point

    a, shape_a = exact_point(start, "start")
    b, shape_b = exact_point(end, "end")
    if shape_a != shape_b:
        raise ShapeError(f"start and end must have the same shape, got {shape_a} and {shape_b}")
    return CPWLMap.line(a, b), shape_a


def as_function(F: CPWLMap):
    """A scalar-input result: the canonical CPWL for one output, the canonical map otherwise."""
    F = F.canonical()
    return F[0] if F.dim == 1 else F


def guarded(evaluate, *args):
    """Run a graph evaluation; anything but the library's own errors means the file holds a
    malformed graph, reported as :class:`cpwl.ModelFileError`."""
    from cpwl.errors import ModelFileError

    try:
        return evaluate(*args)
    except CPWLError:
        raise
    except MemoryError as err:
        raise MemoryLimitError("the graph evaluation ran out of memory; set a budget with cpwl.memory_limit") from err
    except Exception as err:  # malformed graphs fail in arbitrary places of arbitrary code
        raise ModelFileError(
            f"malformed model graph ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from err


def single_output(outputs) -> CPWLMap:
    """The map of a graph's only output, which must depend on the input."""
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    if len(outputs) != 1 or not isinstance(outputs[0], Sym):
        raise UnsupportedOperatorError("the model must have one output that depends on its input")
    return outputs[0].F


def check_constant_size(numel, what: str) -> None:
    """Refuse a constant of ``numel`` float64 entries beyond the memory budget (before it is
    built)."""
    if numel is None or numel < 0:
        raise InvalidArgument(f"{what} has no valid size")
    check_memory(8.0 * numel, what)
