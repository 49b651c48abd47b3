"""Exact restriction of ONNX models (the exchange format of verification tools) to lines.

The graph is evaluated on exact maps: every value is either a constant tensor (floats taken
exactly) or a :class:`cpwl.CPWLMap` of the input along the line, with its per-sample shape.
Supported operators, each with every attribute the ONNX specification gives it either
implemented or refused: Gemm (alpha, beta applied exactly), MatMul, Add, Sub, Mul, Div, Neg,
Relu, Abs, LeakyRelu, Clip, Max, Min, Constant, Shape (a constant: the batch of one and
the per-sample shape), 2-D Conv (pads, auto_pad
NOTSET/VALID/SAME_UPPER/SAME_LOWER, strides, dilations, group), the comparisons Less,
Greater, LessOrEqual, GreaterOrEqual feeding Where (a continuous piecewise selection, exactly;
a jump is refused), ReduceMax, ReduceMin and TopK's values (exact sorts).  Operations that only
move, copy or zero-pad entries (Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Slice,
Split, Concat with zeros, Pad with zero, Expand, Tile, Gather, DepthToSpace, SpaceToDepth,
Identity) are run by onnx's reference evaluator on a probe of positions, so they honour every
attribute.  Constant subgraphs are folded by the reference evaluator, each output checked
against the memory budget first; initializers are checked against their declared size.
Anything else is reported by operator and node name.

Examples:
    >>> import io, torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    >>> buffer = io.BytesIO()
    >>> torch.onnx.export(model, (torch.zeros(1, 2),), buffer, dynamo=False)
    >>> F = restrict_to_line(buffer.getvalue(), [0.0, 0.0], [1.0, 1.0])
    >>> F.dim
    3
"""

from __future__ import annotations

import math
import pathlib
from fractions import Fraction
from typing import Union

import numpy as np

from cpwl import Conv2d, CPWLMap
from cpwl import activations as exact
from cpwl.errors import ModelFileError, NumberError, UnsupportedOperatorError
from cpwl.rationals import as_fraction
from nets._graph import (
    Cond,
    Sym,
    affine,
    as_function,
    check_constant_size,
    clip,
    combine,
    compare,
    constant_over,
    extreme,
    featurewise,
    gather,
    guarded,
    index_gather,
    line_input,
    pairwise,
    probe,
    single_output,
    stack,
    where,
)
from nets._graph_trace import ChainError

__all__ = ["UnsupportedOperatorError", "graph_input", "input_shape", "load", "restrict_to_line", "to_cpwl"]

#: The attributes each supported arithmetic operator may carry (anything else is refused;
#: the index operations below are evaluated by onnx itself, so they honour all of theirs).
_ATTRIBUTES = {
    "Gemm": {"alpha", "beta", "transA", "transB"},
    "MatMul": set(),
    "Add": set(),
    "Sub": set(),
    "Mul": set(),
    "Div": set(),
    "Neg": set(),
    "Relu": set(),
    "Abs": set(),
    "LeakyRelu": {"alpha"},
    "Clip": {"min", "max"},
    "Max": set(),
    "Min": set(),
    "Constant": {"value", "value_float", "value_floats", "value_int", "value_ints"},
    "Conv": {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"},
    "Less": set(),
    "Greater": set(),
    "LessOrEqual": set(),
    "GreaterOrEqual": set(),
    "Where": set(),
    "ReduceMax": {"axes", "keepdims", "noop_with_empty_axes"},
    "ReduceMin": {"axes", "keepdims", "noop_with_empty_axes"},
    "TopK": {"axis", "largest", "sorted"},
    "Shape": {"start", "end"},
}
#: Operations that only move, copy, drop or zero-pad entries, evaluated by onnx's reference
#: evaluator on a probe of positions; for each, the inputs that carry data (the others are
#: shapes, indices or sizes, which must be constants).
_INDEX_OPS = {
    "Transpose": (0,),
    "Reshape": (0,),
    "Flatten": (0,),
    "Squeeze": (0,),
    "Unsqueeze": (0,),
    "Slice": (0,),
    "Split": (0,),
    "Identity": (0,),
    "Expand": (0,),
    "Tile": (0,),
    "DepthToSpace": (0,),
    "SpaceToDepth": (0,),
    "Gather": (0,),
    "Pad": (0, 2),
    "Concat": None,  # every input
}
_COMPARISONS = {"Less": "<", "Greater": ">", "LessOrEqual": "<=", "GreaterOrEqual": ">="}
#: Folded operators whose outputs are elementwise over their broadcast inputs.
_BROADCASTING = {
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Max",
    "Min",
    "Neg",
    "Abs",
    "Relu",
    "Sqrt",
    "Exp",
    "Log",
    "Floor",
    "Ceil",
    "Sign",
    "Reciprocal",
    "Equal",
    "Less",
    "LessOrEqual",
    "Greater",
    "GreaterOrEqual",
    "Where",
    "Not",
    "And",
    "Or",
    "Clip",
    "Mod",
    "Cast",
    "Identity",
}
#: Folded operators whose output is no larger than their first input.
_SHRINKING = {
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Slice",
    "Split",
    "TopK",
    "ReduceSum",
    "ReduceMax",
    "ReduceMin",
    "ReduceMean",
    "ArgMax",
    "ArgMin",
    "Shape",
    "Size",
}


def _folded_size(node, ins: list):
    """An upper bound on the entries a constant node produces, from its inputs alone (before
    running it), or ``None`` when the operator has no rule here."""
    arrays = [np.asarray(v) for v in ins if v is not None]
    if not arrays:
        return None
    op = node.op_type
    if op in _BROADCASTING:
        return math.prod(np.broadcast_shapes(*(a.shape for a in arrays)))
    if op in _SHRINKING:
        return max(arrays[0].size, len(arrays[0].shape))
    if op == "Concat":
        return sum(a.size for a in arrays)
    if op == "Gather" and len(arrays) == 2:
        return arrays[0].size * max(arrays[1].size, 1)
    if op == "ConstantOfShape":
        return math.prod(int(v) for v in arrays[0].ravel())
    if op == "Expand" and len(arrays) == 2:
        return math.prod(np.broadcast_shapes(arrays[0].shape, tuple(int(v) for v in arrays[1].ravel())))
    if op == "Tile" and len(arrays) == 2:
        return arrays[0].size * math.prod(int(v) for v in arrays[1].ravel())
    return None


def load(source: Union[str, pathlib.Path, bytes]):
    """Parse an ONNX model from a path or bytes; :class:`cpwl.ModelFileError` if it is not one."""
    import onnx

    if not isinstance(source, (bytes, bytearray)) and not pathlib.Path(source).is_file():
        raise ModelFileError(f"no ONNX file at {source}")
    try:
        if isinstance(source, (bytes, bytearray)):
            return onnx.load_from_string(bytes(source))
        return onnx.load(str(source), load_external_data=False)
    except Exception as err:  # protobuf decoding errors share no public base class
        raise ModelFileError(
            f"not a readable ONNX model: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
        ) from err


def input_shape(source) -> tuple:
    """The declared shape of the model's one input, ``None`` for a symbolic size (a batch).

    Examples:
        >>> import onnx
        >>> x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 2])
        >>> y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 2])
        >>> graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
        >>> input_shape(onnx.helper.make_model(graph).SerializeToString())
        (None, 2)
    """
    dims = graph_input(load(source)).type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)


def graph_input(model):
    """The value info of the model's one input (the graph inputs that are not initializers);
    :class:`cpwl.UnsupportedOperatorError` unless there is exactly one."""
    names = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in names]
    if len(inputs) != 1:
        raise UnsupportedOperatorError(f"the model has {len(inputs)} inputs; exactly one is supported")
    return inputs[0]


def _attrs(node) -> dict:
    import onnx

    found = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    allowed = _ATTRIBUTES.get(node.op_type)
    if allowed is not None and set(found) - allowed:
        raise UnsupportedOperatorError(
            f"{node.op_type} node '{node.name}': attribute(s) {sorted(set(found) - allowed)} are not supported"
        )
    return found


def _tensor(proto, what: str) -> np.ndarray:
    """A tensor proto as an array, after checking where its data lives and that it has the
    size its dims declare (before allocating anything of that size)."""
    import onnx

    if proto.data_location == onnx.TensorProto.EXTERNAL or len(proto.external_data):
        raise ModelFileError(
            f"{what} keeps its data in an external file; embed it (onnx.save with save_as_external_data=False)"
        )
    dims = list(proto.dims)
    if any(d < 0 for d in dims):
        raise ModelFileError(f"{what} declares negative dimensions {dims}")
    numel = math.prod(dims)
    check_constant_size(numel, what)
    try:
        array = onnx.numpy_helper.to_array(proto)
    except Exception as err:  # malformed data: wrong length, unknown type
        raise ModelFileError(
            f"{what}: its data does not match its declared shape {dims} ({type(err).__name__})"
        ) from err
    if array.size != numel:
        raise ModelFileError(f"{what}: {array.size} values for the declared shape {dims}")
    return array


def _conv(node, x: Sym, ins: list, attrs: dict) -> Sym:
    if len(x.shape) != 3:
        raise UnsupportedOperatorError(
            f"Conv node '{node.name}': only 2-D convolutions of (C, H, W) inputs are supported, got {x.shape}"
        )
    W = np.asarray(ins[1], dtype=np.float64)
    if W.ndim != 4 or (attrs.get("kernel_shape") is not None and list(attrs["kernel_shape"]) != list(W.shape[2:])):
        raise UnsupportedOperatorError(
            f"Conv node '{node.name}': kernel of shape {W.shape} does not match kernel_shape "
            f"{attrs.get('kernel_shape')}"
        )
    strides = list(attrs.get("strides", [1, 1]))
    dilations = list(attrs.get("dilations", [1, 1]))
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    if auto_pad == "NOTSET":
        top, left, bottom, right = list(attrs.get("pads", [0, 0, 0, 0]))
    elif auto_pad == "VALID":
        top = left = bottom = right = 0
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(x.shape[1:], W.shape[2:], strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            pads.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
        (top, bottom), (left, right) = pads
    else:
        raise UnsupportedOperatorError(f"Conv node '{node.name}': auto_pad {auto_pad!r} is not an ONNX value")
    bias = None if len(ins) < 3 or ins[2] is None else np.asarray(ins[2], dtype=np.float64)
    layer = Conv2d(
        W,
        bias,
        in_shape=x.shape,
        stride=tuple(strides),
        padding=(top, bottom, left, right),
        dilation=tuple(dilations),
        groups=int(attrs.get("group", 1)),
    )
    return Sym(x.F.apply(layer), layer.out_shape)


class _Unavailable:
    """A result the exact evaluation cannot give (the indices of a TopK): refused if used."""

    def __init__(self, what: str):
        self.what = what


def _index_op(node, ins: list) -> list:
    """An operation that only moves, copies or zero-pads entries: run by onnx's reference
    evaluator on probes of the input maps' positions (constant data inputs must be zeros)."""
    from onnx.reference import ReferenceEvaluator

    data = _INDEX_OPS[node.op_type]
    data = range(len(ins)) if data is None else data
    syms = [v for v in ins if isinstance(v, Sym)]
    if any(isinstance(v, Sym) for i, v in enumerate(ins) if i not in data) or any(isinstance(v, Cond) for v in ins):
        raise UnsupportedOperatorError(
            f"{node.op_type} node '{node.name}': its shapes, indices and sizes must be constants"
        )
    F = stack([v.F for v in syms]) if len(syms) > 1 else syms[0].F
    feeds, start = {}, 0
    for name, v, i in zip(node.input, ins, range(len(ins))):
        if isinstance(v, Sym):
            feeds[name] = probe(F.dim)[start : start + v.F.dim].reshape(1, *v.shape)
            start += v.F.dim
        elif v is not None and name:
            if i in data and np.any(np.asarray(v)):
                raise UnsupportedOperatorError(
                    f"{node.op_type} node '{node.name}' mixes input-dependent values with non-zero constants"
                )
            feeds[name] = np.asarray(v, dtype=np.float64) if i in data else np.asarray(v)
    try:
        outs = ReferenceEvaluator(node).run(None, feeds)
    except Exception as err:  # the reference evaluator raises many unrelated types
        raise UnsupportedOperatorError(
            f"{node.op_type} node '{node.name}' could not be applied to the input-dependent values: {err}"
        ) from err
    results = []
    for out in outs:
        out = np.asarray(out)
        if out.ndim < 1 or out.shape[0] != 1:
            raise UnsupportedOperatorError(
                f"{node.op_type} node '{node.name}' changes the batch layout (export with a batch of one)"
            )
        results.append(
            gather(Sym(F, (F.dim,)), index_gather(out, F.dim, f"{node.op_type} node '{node.name}'"), out.shape[1:])
        )
    return results


def _step(node, values: dict, sizes: dict) -> list:
    op, ins = node.op_type, [values.get(name) if name else None for name in node.input]
    for v in ins:
        if isinstance(v, _Unavailable):
            raise UnsupportedOperatorError(
                f"{op} node '{node.name}' uses {v.what}, which the exact evaluation does not give"
            )
    sym = [v for v in ins if isinstance(v, (Sym, Cond))]
    if not sym and op != "Constant":
        return _fold_constants(node, ins, sizes)
    if op in _INDEX_OPS:
        return _index_op(node, ins)
    attrs = _attrs(node)
    x = next((v for v in ins if isinstance(v, Sym)), None)
    if op == "Shape" and isinstance(ins[0], Sym):  # a constant: the batch of one and the per-sample shape
        return [np.array((1, *ins[0].shape), dtype=np.int64)[attrs.get("start", 0) : attrs.get("end")]]
    if op in _COMPARISONS:
        a, b = ins
        return [compare(a, b, _COMPARISONS[op], (a if isinstance(a, Sym) else b).shape)]
    if op == "Where":
        if not isinstance(ins[0], Cond) or any(isinstance(v, Cond) for v in ins[1:]):
            raise UnsupportedOperatorError(
                f"Where node '{node.name}': the condition must be a comparison of input-dependent values"
            )
        return [where(*ins)]
    if any(isinstance(v, Cond) for v in ins):
        raise UnsupportedOperatorError(f"{op} node '{node.name}' computes with a comparison result")
    if op in ("ReduceMax", "ReduceMin"):
        axes = attrs.get("axes") if len(ins) < 2 or ins[1] is None else [int(v) for v in np.ravel(ins[1])]
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return [x]
            axes = list(range(len(x.shape) + 1))
        axes = [ax % (len(x.shape) + 1) for ax in axes]
        if 0 in axes:
            raise UnsupportedOperatorError(f"{op} node '{node.name}' reduces over the batch axis")
        return [extreme(x, [ax - 1 for ax in axes], bool(attrs.get("keepdims", 1)), op == "ReduceMax")]
    if op == "TopK":
        axis = attrs.get("axis", -1) % (len(x.shape) + 1)
        if axis == 0 or not attrs.get("sorted", 1):
            raise UnsupportedOperatorError(
                f"TopK node '{node.name}': only sorted top-k along a per-sample axis is supported"
            )
        k = int(np.ravel(ins[1])[0])
        return [
            extreme(x, [axis - 1], True, bool(attrs.get("largest", 1)), count=k),
            _Unavailable("the indices of a TopK"),
        ]
    if op == "Constant":
        return [_constant(node, attrs)]
    if op == "Gemm":
        if attrs.get("transA", 0) or not isinstance(ins[0], Sym) or isinstance(ins[1], Sym) or len(x.shape) != 1:
            raise UnsupportedOperatorError(
                f"Gemm node '{node.name}': only flat input x constant weight (no transA) is supported"
            )
        B = np.asarray(ins[1], dtype=np.float64)
        W = B if attrs.get("transB", 0) else B.T
        alpha, beta = (
            as_fraction(attrs.get("alpha", 1.0)),
            as_fraction(attrs.get("beta", 1.0)),
        )  # the float32 attributes, exactly
        bias = None if len(ins) < 3 or ins[2] is None else constant_over(ins[2], (W.shape[0],))
        return [Sym(affine(x.F, W, bias, scale=alpha, bias_scale=beta), (W.shape[0],))]
    if op == "MatMul":
        if not isinstance(ins[0], Sym) or isinstance(ins[1], Sym) or len(x.shape) != 1 or np.ndim(ins[1]) != 2:
            raise UnsupportedOperatorError(f"MatMul node '{node.name}': only flat input x constant matrix is supported")
        return [Sym(affine(x.F, np.asarray(ins[1]).T), (np.asarray(ins[1]).shape[1],))]
    if op in ("Add", "Sub"):
        sign = 1 if op == "Add" else -1
        a, b = ins
        if isinstance(a, Sym) and isinstance(b, Sym):
            return [combine(a, b, sign)]
        if isinstance(a, Sym):
            return [featurewise(a, None, sign * np.asarray(b, dtype=np.float64))]
        return [featurewise(b, float(sign), a)]
    if op in ("Mul", "Div"):
        a, b = ins
        if isinstance(a, Sym) and isinstance(b, Sym):
            raise UnsupportedOperatorError(
                f"{op} node '{node.name}' multiplies two input-dependent values (not piecewise linear)"
            )
        c = np.asarray(b if isinstance(a, Sym) else a, dtype=np.float64)
        if op == "Div":
            if not isinstance(a, Sym) or np.any(c == 0):
                raise UnsupportedOperatorError(f"Div node '{node.name}': only input / non-zero constant is supported")
            inverse = [1 / Fraction(float(v)) for v in constant_over(c, x.shape)]
            return [Sym(x.F.featurewise(inverse), x.shape)]
        return [featurewise(x, c)]
    if op == "Neg":
        return [featurewise(x, -1.0)]
    if op == "Relu":
        return [Sym(x.F.apply(exact.relu()), x.shape)]
    if op == "Abs":
        return [Sym(x.F.apply(exact.abs_()), x.shape)]
    if op == "LeakyRelu":
        alpha = as_fraction(attrs.get("alpha", np.float32(0.01)))  # the float32 attribute, exactly
        return [Sym(x.F.apply(exact.leaky_relu(alpha) if alpha != 1 else exact.identity()), x.shape)]
    if op == "Clip":
        lo = ins[1] if len(ins) > 1 and ins[1] is not None else attrs.get("min")
        hi = ins[2] if len(ins) > 2 and ins[2] is not None else attrs.get("max")
        return [
            clip(
                x,
                None if lo is None else np.asarray(lo, dtype=np.float64),
                None if hi is None else np.asarray(hi, dtype=np.float64),
            )
        ]
    if op in ("Max", "Min"):
        out = ins[0]
        for other in ins[1:]:
            out = pairwise(out, other, op == "Max") if isinstance(out, Sym) else pairwise(other, out, op == "Max")
        return [out]
    if op == "Conv":
        if any(isinstance(v, Sym) for v in ins[1:]):
            raise UnsupportedOperatorError(f"Conv node '{node.name}': the kernel must be a constant")
        return [_conv(node, x, ins, attrs)]
    raise UnsupportedOperatorError(f"operator {op} (node '{node.name}') is not supported by the exact evaluation")


def _constant(node, attrs: dict) -> np.ndarray:
    if "value" in attrs:
        return _tensor(attrs["value"], f"Constant node '{node.name}'")
    for key in ("value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:
            return np.asarray(attrs[key], dtype=np.float32 if "float" in key else np.int64)
    raise UnsupportedOperatorError(f"Constant node '{node.name}': only numeric values are supported")


def _fold_constants(node, ins: list, sizes: dict) -> list:
    """Evaluate a node whose inputs are all constants (shape bookkeeping, weight transposes)
    with onnx's reference evaluator, after checking the size of its outputs against the memory
    budget (bounded from the inputs by the operator, else by shape inference); the results
    are re-read as the floats they are."""
    from onnx.reference import ReferenceEvaluator

    bound = _folded_size(node, ins)
    for name in node.output:
        size = bound if bound is not None else sizes.get(name)
        if size is None:
            raise UnsupportedOperatorError(
                f"operator {node.op_type} (node '{node.name}') on constants: its output size cannot be "
                "bounded, so it is not folded"
            )
        check_constant_size(size, f"folding {node.op_type} node '{node.name}'")
    feeds = {name: np.asarray(v) for name, v in zip(node.input, ins) if name}
    try:
        outs = ReferenceEvaluator(node).run(None, feeds)
    except MemoryError:
        raise
    except Exception as err:  # the reference evaluator raises many unrelated types
        raise UnsupportedOperatorError(
            f"operator {node.op_type} (node '{node.name}') could not be folded: {err}"
        ) from err
    return [np.asarray(o) for o in outs]


def _static_sizes(model) -> dict:
    """Entries of every value whose shape onnx's shape inference (with data propagation)
    determines completely."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # inference is best effort: unknown sizes are handled per operator
        return {}
    sizes = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = info.type.tensor_type.shape.dim
        if info.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            sizes[info.name] = math.prod(d.dim_value for d in dims)
    return sizes


def _evaluate(model, F: CPWLMap, shape: tuple):
    graph = model.graph
    if len(graph.sparse_initializer):
        raise UnsupportedOperatorError("sparse initializers are not supported")
    values = {init.name: _tensor(init, f"initializer '{init.name}'") for init in graph.initializer}
    sizes = _static_sizes(model)
    values[graph_input(model).name] = Sym(F, shape)
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOperatorError(
                f"operator {node.domain}.{node.op_type} (node '{node.name}') is not a standard ONNX operator"
            )
        try:
            outputs = _step(node, values, sizes)
        except (NumberError, ChainError) as err:  # say which node holds the NaN, or merges branches
            raise type(err)(f"node '{node.name}' ({node.op_type}): {err}") from err
        for name, value in zip(node.output, outputs):
            values[name] = value
    return single_output([values[o.name] for o in graph.output])


def restrict_to_line(source, start, end) -> CPWLMap:
    """The exact outputs of an ONNX model (path or bytes) along ``start + t (end - start)``,
    ``t`` in ``[0, 1]``; ``start``/``end`` are one input's values (any shape, no batch), taken
    exactly."""
    F, shape = line_input(start, end)
    return guarded(_evaluate, load(source), F, shape)


def to_cpwl(source, domain=None):
    """The exact function of a scalar-input ONNX model on ``domain``."""
    return as_function(guarded(_evaluate, load(source), CPWLMap.identity(domain), (1,)))
