"""Exact restriction of ONNX models (the exchange format of verification tools) to lines.

The graph is evaluated on exact maps: every value is either a constant tensor (floats taken
exactly) or a :class:`cpwl.CPWLMap` of the input along the line, with its per-sample shape.
Supported operators: Gemm, MatMul, Add, Sub, Mul, Div, Neg, Relu, Abs, LeakyRelu, Clip,
Max, Min, Concat, Slice, Split, Flatten, Reshape, Identity, Constant and stride-1 "same" Conv.
Anything else is reported by operator and node name.

Example:
    >>> import io, torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    >>> buffer = io.BytesIO()
    >>> torch.onnx.export(model, (torch.zeros(1, 2),), buffer, dynamo=False)
    >>> F = restrict_to_line(buffer.getvalue(), [0.0, 0.0], [1.0, 1.0])
    >>> F.dim
    3
"""

from __future__ import annotations

import pathlib
from fractions import Fraction
from typing import Union

import numpy as np

from cpwl import CPWLMap
from cpwl import activations as exact
from nets._symbolic import Sym, UnsupportedOperatorError, affine, as_function, broadcast, combine, diag, guarded, line_input, pairwise, single_output
from nets.io import ModelFileError

__all__ = ["UnsupportedOperatorError", "load", "restrict_to_line", "to_cpwl"]


def load(source: Union[str, pathlib.Path, bytes]):
    """Parse an ONNX model from a path or bytes; :class:`nets.io.ModelFileError` if it is not one."""
    import onnx

    if not isinstance(source, (bytes, bytearray)) and not pathlib.Path(source).is_file():
        raise ModelFileError(f"no ONNX file at {source}")
    try:
        if isinstance(source, (bytes, bytearray)):
            return onnx.load_from_string(bytes(source))
        return onnx.load(str(source))
    except Exception as err:  # protobuf decoding errors share no public base class
        raise ModelFileError(f"not a readable ONNX model: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from err


def _axis(node, shape, default=1) -> int:
    axis = next((int(a.i) for a in node.attribute if a.name == "axis"), default)
    axis = axis + len(shape) + 1 if axis < 0 else axis
    if axis != 1:
        raise UnsupportedOperatorError(f"{node.op_type} node '{node.name}' acts on axis {axis}; only the feature/channel axis 1 is supported")
    return axis


def _channel_slices(shape: tuple, start: int, stop: int) -> list:
    per_channel = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return list(range(start * per_channel, stop * per_channel))


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _step(node, values: dict) -> list:
    op, ins = node.op_type, [values.get(name) if name else None for name in node.input]
    attrs = _attrs(node)
    sym = [v for v in ins if isinstance(v, Sym)]
    if not sym and op != "Constant":
        return _fold_constants(node, ins)
    x = sym[0] if sym else None
    if op == "Constant":
        import onnx

        return [onnx.numpy_helper.to_array(attrs["value"])]
    if op == "Gemm":
        if attrs.get("transA", 0) or not isinstance(ins[0], Sym) or isinstance(ins[1], Sym):
            raise UnsupportedOperatorError(f"Gemm node '{node.name}': only input x weight (no transA) is supported")
        B = np.asarray(ins[1]) * attrs.get("alpha", 1.0)
        W = B if attrs.get("transB", 0) else B.T
        bias = None if len(ins) < 3 or ins[2] is None else np.asarray(ins[2]) * attrs.get("beta", 1.0)
        return [Sym(affine(x.F, W, bias), (W.shape[0],))]
    if op == "MatMul":
        if not isinstance(ins[0], Sym) or isinstance(ins[1], Sym):
            raise UnsupportedOperatorError(f"MatMul node '{node.name}': only input x constant is supported")
        return [Sym(affine(x.F, np.asarray(ins[1]).T), (np.asarray(ins[1]).shape[1],))]
    if op in ("Add", "Sub"):
        sign = 1 if op == "Add" else -1
        a, b = ins
        if isinstance(a, Sym) and isinstance(b, Sym):
            return [combine(a, b, sign)]
        if isinstance(a, Sym):
            return [Sym(diag(a.F, 1.0, sign * np.asarray(b, dtype=np.float64)), a.shape)]
        return [Sym(diag(b.F, float(sign), a), b.shape)]
    if op in ("Mul", "Div"):
        a, b = ins
        if isinstance(a, Sym) and isinstance(b, Sym):
            raise UnsupportedOperatorError(f"{op} node '{node.name}' multiplies two input-dependent values (not piecewise linear)")
        c = np.asarray(b if isinstance(a, Sym) else a, dtype=np.float64)
        if op == "Div":
            if not isinstance(a, Sym) or np.any(c == 0):
                raise UnsupportedOperatorError(f"Div node '{node.name}': only input / non-zero constant is supported")
            n = x.F.dim
            inv = [1 / Fraction(float(v)) for v in broadcast(c, n)]
            return [Sym(x.F.affine([[inv[i] if i == j else 0 for j in range(n)] for i in range(n)]), x.shape)]
        return [Sym(diag(x.F, c), x.shape)]
    if op == "Neg":
        return [Sym(diag(x.F, -1.0), x.shape)]
    if op == "Relu":
        return [Sym(x.F.apply(exact.relu()), x.shape)]
    if op == "Abs":
        return [Sym(x.F.apply(exact.abs_()), x.shape)]
    if op == "LeakyRelu":
        alpha = attrs.get("alpha", 0.01)
        return [Sym(x.F.apply(exact.leaky_relu(alpha) if alpha != 1 else exact.identity()), x.shape)]
    if op == "Clip":
        lo = None if len(ins) < 2 or ins[1] is None else float(np.asarray(ins[1]))
        hi = None if len(ins) < 3 or ins[2] is None else float(np.asarray(ins[2]))
        F = x.F
        if lo is not None:
            F = pairwise(Sym(F, x.shape), lo, take_max=True).F
        if hi is not None:
            F = pairwise(Sym(F, x.shape), hi, take_max=False).F
        return [Sym(F, x.shape)]
    if op in ("Max", "Min"):
        out = ins[0]
        for other in ins[1:]:
            out = pairwise(out, other, op == "Max") if isinstance(out, Sym) else pairwise(other, out, op == "Max")
        return [out]
    if op == "Concat":
        _axis(node, x.shape)
        if not all(isinstance(v, Sym) for v in ins):
            raise UnsupportedOperatorError(f"Concat node '{node.name}' mixes constants and input-dependent values")
        channels = sum(v.shape[0] for v in ins)
        return [Sym(CPWLMap.stack([v.F for v in ins]), (channels, *x.shape[1:]))]
    if op == "Slice":
        starts, ends = (int(np.ravel(v)[0]) for v in ins[1:3])
        axes = [int(v) for v in np.ravel(ins[3])] if len(ins) > 3 and ins[3] is not None else [0]
        steps = [int(v) for v in np.ravel(ins[4])] if len(ins) > 4 and ins[4] is not None else [1]
        axes = [a + len(x.shape) + 1 if a < 0 else a for a in axes]
        if axes != [1] or steps != [1]:
            raise UnsupportedOperatorError(f"Slice node '{node.name}': only unit-step slices of axis 1 are supported")
        c = x.shape[0]
        lo, hi = max(0, starts + c if starts < 0 else starts), min(c, ends + c if ends < 0 else ends)
        return [Sym(x.F.gather(_channel_slices(x.shape, lo, hi)), (hi - lo, *x.shape[1:]))]
    if op == "Split":
        _axis(node, x.shape, default=0)
        sizes = [int(v) for v in np.ravel(ins[1])] if len(ins) > 1 and ins[1] is not None else [x.shape[0] // len(node.output)] * len(node.output)
        outs, start = [], 0
        for size in sizes:
            outs.append(Sym(x.F.gather(_channel_slices(x.shape, start, start + size)), (size, *x.shape[1:])))
            start += size
        return outs
    if op in ("Flatten", "Reshape"):
        target = (int(np.prod(x.shape)),) if op == "Flatten" else tuple(int(v) for v in np.ravel(ins[1])[1:])
        if op == "Reshape" and (-1 in target or 0 in target):
            target = (int(np.prod(x.shape)),) if len(target) == 1 else target
        if int(np.prod(target)) != int(np.prod(x.shape)):
            raise UnsupportedOperatorError(f"{op} node '{node.name}' changes the batch layout; only per-sample reshapes are supported")
        return [Sym(x.F, target)]
    if op == "Identity":
        return [x]
    if op == "Conv":
        W = np.asarray(ins[1], dtype=np.float64)
        k = W.shape[-1]
        if attrs.get("group", 1) != 1 or any(s != 1 for s in attrs.get("strides", [1, 1])) or any(d != 1 for d in attrs.get("dilations", [1, 1])) or list(attrs.get("pads", [k // 2] * 4)) != [k // 2] * 4:
            raise UnsupportedOperatorError(f"Conv node '{node.name}': only stride-1, undilated, ungrouped 'same' convolutions are supported")
        bias = np.zeros(W.shape[0]) if len(ins) < 3 or ins[2] is None else np.asarray(ins[2], dtype=np.float64)
        return [Sym(x.F.conv2d(W.tolist(), bias.tolist(), x.shape, padding="zeros"), (W.shape[0], *x.shape[1:]))]
    raise UnsupportedOperatorError(f"operator {op} (node '{node.name}') is not supported by the exact evaluation")


def _fold_constants(node, ins: list) -> list:
    """Evaluate a node whose inputs are all constants (shape bookkeeping, weight transposes)
    with onnx's reference evaluator; exactness is irrelevant here only because the results
    are re-read as the floats they are."""
    from onnx.reference import ReferenceEvaluator

    feeds = {name: np.asarray(v) for name, v in zip(node.input, ins) if name}
    try:
        outs = ReferenceEvaluator(node).run(None, feeds)
    except Exception as err:  # the reference evaluator raises many unrelated types
        raise UnsupportedOperatorError(f"operator {node.op_type} (node '{node.name}') could not be folded: {err}") from err
    return [np.asarray(o) for o in outs]


def _evaluate(model, F: CPWLMap, shape: tuple):
    import onnx

    graph = model.graph
    values = {init.name: onnx.numpy_helper.to_array(init) for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in values]
    if len(inputs) != 1:
        raise UnsupportedOperatorError(f"the model has {len(inputs)} inputs; exactly one is supported")
    values[inputs[0].name] = Sym(F, shape)
    for node in graph.node:
        for name, value in zip(node.output, _step(node, values)):
            values[name] = value
    return single_output([values[o.name] for o in graph.output])


def restrict_to_line(source, start, end) -> CPWLMap:
    """The exact outputs of an ONNX model (path or bytes) along ``start + t (end - start)``,
    ``t`` in ``[0, 1]``; ``start``/``end`` are one input's values (any shape, no batch)."""
    F, shape = line_input(start, end)
    return guarded(_evaluate, load(source), F, shape)


def to_cpwl(source, domain=None):
    """The exact function of a scalar-input ONNX model on ``domain``."""
    return as_function(guarded(_evaluate, load(source), CPWLMap.identity(domain), (1,)))
