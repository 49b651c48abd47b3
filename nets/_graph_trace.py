"""A graph's input-dependent values as chains of exact layers, so that a whole ONNX or
``.pt2`` graph becomes one :class:`cpwl.Network`-shaped list of layers (what certified
accuracy needs: a proven Lipschitz bound and a rigorous forward pass of the whole model).

The graph importers compute with the operations of :class:`cpwl.CPWLMap` (``apply``,
``featurewise``, ``gather``, ``+``, ``where_negative``, :func:`nets._graph.stack`); a
:class:`Trace` offers the same operations and records, instead of a map along a line, the
chain of layers from the graph input.  Values that merge two chains are accepted where the
merge is itself a layer of the chain, and refused (:class:`ChainError`) otherwise:

* ``stack`` of values that differ from a common chain only by gathers and elementwise
  layers: one gather and one elementwise layer (a Split feeding Max and Min then Concat is the
  common chain, one MaxMin and one gather);
* ``+`` and ``where_negative`` of values that are elementwise functions of the same entries of
  a common chain: one gather and one elementwise layer, each entry's scalar function computed
  exactly (a selection that jumps is refused: its continuity is checked on the whole real
  line, not along a line);
* ``+`` of a chain and a longer chain through it: a residual block ``x + f(x)``.

Layers are compared by identity, except gathers and sorting layers, which are compared by
what they compute (the importers build them afresh for every use).

Examples:
    >>> from cpwl import Affine, activations
    >>> x = Trace.input(2).apply(Affine([[1, 0], [0, 2]]))
    >>> y = x + x.apply(activations.relu())                 # x + relu(x): one elementwise layer
    >>> [type(layer).__name__ for layer in y.layers], y.dim
    (['Affine', 'Elementwise'], 2)
"""

from __future__ import annotations

from fractions import Fraction

from cpwl import CPWL, Conv2d, Gather, Residual
from cpwl._pieces import piece_index
from cpwl.activations import Elementwise, GroupSort, MaxMin
from cpwl.cpwl_map import exact_vector
from cpwl.errors import DomainError, InvalidArgument, UnsupportedOperatorError
from cpwl.layer import Layer

__all__ = ["ChainError", "Trace", "simplified"]

_IDENTITY = CPWL.identity()


class ChainError(UnsupportedOperatorError):
    """The graph combines values in a way that is not a layer of one chain."""


def _key(layer: Layer):
    """What a gather or sorting layer computes, for comparing layers built afresh; ``None``
    for layers compared by identity."""
    if type(layer) is Gather:
        return ("gather", layer.index, layer.in_features)
    if type(layer) is MaxMin:
        return ("maxmin", layer.pairing, layer.order)
    if type(layer) is GroupSort:
        return ("groupsort", layer.group_size, layer.descending)
    return None


def _same(a: Layer, b: Layer) -> bool:
    return a is b or (_key(a) is not None and _key(a) == _key(b))


class Trace:
    """An input-dependent value of a graph: the chain of exact ``layers`` that computes it
    from the graph's flat input of ``widths[0]`` entries; ``widths[k]`` is the width after
    ``k`` layers."""

    def __init__(self, layers: tuple, widths: tuple):
        self.layers, self.widths = tuple(layers), tuple(widths)

    @classmethod
    def input(cls, n: int) -> Trace:
        """The graph's input, ``n`` entries wide."""
        return cls((), (int(n),))

    @property
    def dim(self) -> int:
        """The value's number of entries."""
        return self.widths[-1]

    def apply(self, layer) -> Trace:
        """The value after one more exact layer (a scalar :class:`cpwl.CPWL`: on every entry)."""
        if isinstance(layer, CPWL):
            layer = Elementwise(layer)
        if not isinstance(layer, Layer):
            raise InvalidArgument(f"{type(layer).__name__} is not a CPWL or a layer of cpwl")
        return Trace(self.layers + (layer,), self.widths + (layer.check_width(self.dim),))

    def featurewise(self, scale, offset=None) -> Trace:
        """``scale * value + offset``, one exact scale and offset per entry."""
        scales, offsets = exact_vector(scale, self.dim, "scale"), exact_vector(offset, self.dim, "offset")
        return self.apply(Elementwise([CPWL.linear(s, o) for s, o in zip(scales, offsets)]))

    def gather(self, index) -> Trace:
        """The entries ``index`` (``None``: zero)."""
        return self.apply(Gather(list(index), self.dim))

    def __add__(self, other: Trace) -> Trace:
        if not isinstance(other, Trace):
            return NotImplemented
        k = _common([self, other])
        base, mine, theirs = self._prefix(k), self.layers[k:], other.layers[k:]
        forms = [_moved_entries(s, base.dim) for s in (mine, theirs)]
        if None not in forms and forms[0][0] == forms[1][0]:
            (index, f), (_, g) = forms
            return _with_entries(base, index, [a + b for a, b in zip(f, g)])
        for skip, inner in ((mine, theirs), (theirs, mine)):
            if len(skip) <= 1 and all(type(layer) is Elementwise for layer in skip):
                return base.apply(Residual(list(inner), skip[0] if skip else None))
        raise ChainError(
            "an addition of two values computed along different branches of the graph (neither is the "
            "other's input plus a residual branch)"
        )

    def where_negative(self, condition: Trace, other: Trace, strict: bool = True) -> Trace:
        """Entry ``i`` is this value's where ``condition_i < 0`` (``<= 0`` when not
        ``strict``), ``other``'s elsewhere; all three must be elementwise functions of the same
        entries of one value, and the selection continuous on the whole real line."""
        values = [self, condition, other]
        k = _common(values)
        base = self._prefix(k)
        forms = [_moved_entries(v.layers[k:], base.dim) for v in values]
        if None in forms or any(form[0] != forms[0][0] for form in forms):
            raise ChainError(
                "a selection (where) whose condition and branches are not elementwise functions of one value"
            )
        (index, a), (_, c), (_, b) = forms
        return _with_entries(base, index, [_select(ai, ci, bi, strict) for ai, ci, bi in zip(a, c, b)])

    def _prefix(self, k: int) -> Trace:
        return Trace(self.layers[:k], self.widths[: k + 1])


def stack(parts: list) -> Trace:
    """The entries of several values side by side: one gather of their common chain, then
    one function per entry when they differ from it by elementwise layers as well."""
    k = _common(parts)
    base = parts[0]._prefix(k)
    index, functions = [], []
    for part in parts:
        form = _moved_entries(part.layers[k:], base.dim)
        if form is None:
            raise ChainError("values computed along different branches of the graph are put side by side")
        index += form[0]
        functions += form[1]
    return _with_entries(base, index, functions)


def _moved_entries(layers: tuple, n: int):
    """A run of gathers and elementwise layers on ``n`` entries as ``(index, functions)``:
    output ``i`` is ``functions[i]`` of entry ``index[i]`` (of zero where it is ``None``);
    ``None`` if the run holds any other layer."""
    index, functions = list(range(n)), [_IDENTITY] * n
    for layer in layers:
        if type(layer) is Gather:
            index = [None if j is None else index[j] for j in layer.index]
            functions = [_IDENTITY if j is None else functions[j] for j in layer.index]
        elif type(layer) is Elementwise:
            functions = [f.compose(g) for f, g in zip(layer._per_channel(len(functions)), functions)]
        else:
            return None
    return index, functions


def _with_entries(base: Trace, index: list, functions: list) -> Trace:
    """``base`` followed by the gather ``index`` and the per-entry ``functions`` (each left
    out when it changes nothing)."""
    out = base if index == list(range(base.dim)) else base.gather(index)
    return out if all(f == _IDENTITY for f in functions) else out.apply(Elementwise(functions))


def _common(values: list) -> int:
    """The length of the chains' common beginning."""
    first = values[0].layers
    k = 0
    while k < len(first) and all(len(v.layers) > k and _same(v.layers[k], first[k]) for v in values[1:]):
        k += 1
    return k


def _select(a: CPWL, c: CPWL, b: CPWL, strict: bool) -> CPWL:
    """``a`` where ``c < 0`` (``<= 0`` unless ``strict``), ``b`` elsewhere, as one scalar CPWL
    on the real line; :class:`cpwl.DomainError` where the selection jumps."""
    points = set(a.breakpoints) | set(b.breakpoints) | set(c.breakpoints)
    for lo, hi, slope, intercept in c.pieces():  # the zeros of c, piece by piece
        if slope != 0:
            root = -intercept / slope
            if (lo is None or root >= lo) and (hi is None or root <= hi):
                points.add(root)
    xs = sorted(Fraction(p) for p in points) or [Fraction(0)]
    picks = lambda x: a if (c(x) < 0 if strict else c(x) <= 0) else b  # noqa: E731
    samples = [xs[0] - 1] + [(u + v) / 2 for u, v in zip(xs, xs[1:])] + [xs[-1] + 1]
    branches = [picks(x) for x in samples]
    for j, x in enumerate(xs):
        value = picks(x)(x)
        if branches[j](x) != value or branches[j + 1](x) != value:
            raise DomainError(f"a selection (where) jumps at {x}: its two branches differ where its condition switches")
    slopes = [f.slopes[piece_index(f.breakpoints, x)] for f, x in zip(branches, samples)]
    return CPWL.from_slopes(xs, slopes, anchor=(xs[0], picks(xs[0])(xs[0]))).canonical()


def simplified(layers: tuple, width: int) -> list:
    """The same chain with runs of gathers and runs of elementwise layers merged into one,
    gathers that change nothing dropped, and a gather that pads a feature map (circular,
    reflect, replicate or zeros) merged into the convolution it feeds (a padded convolution's
    proven bound is tighter than the product of the padding's and the convolution's)."""
    out: list = []
    n = width
    widths = [n]
    for layer in layers:
        if out and type(layer) is Gather and type(out[-1]) is Gather:
            widths.pop()
            layer = out.pop().then(layer)
        elif out and type(layer) is Elementwise and type(out[-1]) is Elementwise:
            previous = out.pop()
            widths.pop()
            layer = Elementwise(_moved_entries((previous, layer), widths[-1])[1])
        elif out and type(layer) is Conv2d and type(out[-1]) is Gather:
            fused = _padded_conv(out[-1], layer)
            if fused is not None:
                out.pop()
                widths.pop()
                moves, layer = fused
                if moves.index != tuple(range(widths[-1])):
                    out.append(moves)
                    widths.append(len(moves.index))
        if type(layer) is Gather and layer.index == tuple(range(widths[-1])):
            continue
        out.append(layer)
        widths.append(layer.check_width(widths[-1]))
    return out


#: torch's names of the padding modes of :class:`cpwl.Conv2d`.
_TORCH_PADDING = {"zeros": "constant", "circular": "circular", "reflect": "reflect", "replicate": "replicate"}


def _padded_conv(gather: Gather, conv: Conv2d):
    """``(moves, padded)``: a gather ``moves`` and a convolution with its own padding that
    compute ``conv`` after ``gather``, when the gather is a padding of a feature map after
    some moves of its entries and ``conv`` pads nothing itself; else ``None``."""
    if any(conv.padding) or len(gather.index) != conv.in_features:
        return None
    found = None
    for moves, padded in _paddings(gather, conv):
        if moves.index == tuple(range(gather.in_features)):
            return moves, padded  # the plain padding (a circular one also matches after a rotation)
        found = found or (moves, padded)
    return found


def _paddings(gather: Gather, conv: Conv2d):
    """Every ``(moves, padded)`` of :func:`_padded_conv`."""
    import torch
    import torch.nn.functional as F

    c, height, width = conv.in_shape
    n = gather.in_features
    if n % c:
        return
    for dh in range(height):
        h = height - dh
        w, rest = divmod(n // c, h)
        if rest or not 1 <= w <= width:
            continue
        dw = width - w
        probe = torch.arange(1, c * h * w + 1, dtype=torch.float64).reshape(1, c, h, w)
        for mode, name in _TORCH_PADDING.items():
            for top in range(dh + 1):
                for left in range(dw + 1):
                    try:
                        padded = F.pad(probe, (left, dw - left, top, dh - top), mode=name)
                    except (RuntimeError, ValueError, NotImplementedError):
                        continue
                    moves = _moves_before(padded.ravel().tolist(), gather.index, c * h * w)
                    if moves is not None:
                        form = conv.float_form
                        yield (
                            Gather(moves, n),
                            Conv2d(
                                form.weight if form.exact else conv.kernel,
                                form.bias if form.exact else conv.bias,
                                in_shape=(c, h, w),
                                stride=conv.stride,
                                padding=(top, dh - top, left, dw - left),
                                dilation=conv.dilation,
                                groups=conv.groups,
                                padding_mode=mode,
                            ),
                        )


def _moves_before(padding: list, index: tuple, size: int):
    """The gather ``q`` with ``index[j] == q[padding[j] - 1]`` for every ``j`` (``0`` in
    ``padding``: a zero, which ``index`` must have too), if there is one; else ``None``."""
    q = [None] * size
    for p, i in zip(padding, index):
        if p == 0 or i is None:
            if p != 0 or i is not None:
                return None
            continue
        k = int(p) - 1
        if q[k] is None:
            q[k] = i
        elif q[k] != i:
            return None
    return None if any(v is None for v in q) else q
