"""Exact restriction of ``torch.export`` programs (``.pt2`` files) to lines.

The program's graph is evaluated node by node: nodes whose inputs are all constants (weight
parametrizations such as the AOL rescaling, theta sorting) are run by torch itself, after
their output size (from the program's shape metadata) is checked against the memory budget;
nodes on input-dependent values are evaluated exactly on maps (:class:`cpwl.CPWLMap`).  Every
argument of an accepted operator is read by name from the operator's schema, and every flag
is honoured or refused (a transposed convolution, a division with a rounding mode, ``addmm``'s
``alpha``/``beta`` are applied exactly).  Comparisons feeding ``where`` are evaluated as
continuous piecewise selections (a jump is refused); ``max``/``min`` over a dimension and
``amax``/``amin`` as exact sorts (their indices cannot be used).  Pure index operations
(reshape, unflatten, select, slice, permute, cat, stack, padding...) are handled
generically: the operation is applied to a probe of positions, and anything it writes that
is not a position or zero is refused.
Export with a batch of one example.  Loading uses ``torch.export.load``, which reads a
program, not pickled code.

Examples:
    >>> import io, torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    >>> buffer = io.BytesIO()
    >>> torch.export.save(torch.export.export(model, (torch.zeros(1, 2),)), buffer)
    >>> restrict_to_line(buffer.getvalue(), [0.0, 0.0], [1.0, 1.0]).dim
    3
"""

from __future__ import annotations

import io
import math
import operator
import pathlib
from fractions import Fraction
from typing import Union

import numpy as np
import torch

from cpwl import Conv2d, CPWLMap
from cpwl import activations as exact
from cpwl.errors import ModelFileError, NumberError, UnsupportedOperatorError
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
    exact_scalar,
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

__all__ = ["input_shape", "load", "restrict_to_line", "to_cpwl", "user_input"]

_IDENTITY = {
    "aten.clone.default",
    "aten.contiguous.default",
    "aten.detach.default",
    "aten.alias.default",
    "aten.dropout.default",
}
_NO_OP = {"aten._assert_tensor_metadata.default"}
_ELEMENTWISE = {"aten.relu.default": exact.relu, "aten.abs.default": exact.abs_}
_COMPARISONS = {
    "lt": "<",
    "less": "<",
    "gt": ">",
    "greater": ">",
    "le": "<=",
    "less_equal": "<=",
    "ge": ">=",
    "greater_equal": ">=",
}
#: Operations that only move, copy, drop or zero-pad entries: evaluated on probes.
_INDEX_OPS = {
    "view",
    "reshape",
    "_unsafe_view",
    "unflatten",
    "flatten",
    "select",
    "slice",
    "narrow",
    "permute",
    "transpose",
    "t",
    "squeeze",
    "unsqueeze",
    "cat",
    "stack",
    "constant_pad_nd",
    "pad",
    "_pad_circular",
    "pixel_unshuffle",
    "pixel_shuffle",
    "expand",
    "repeat",
    "roll",
    "flip",
}


class _Unavailable:
    """A result the exact evaluation cannot give (the indices of a sort): refused if used."""

    def __init__(self, what: str):
        self.what = what


def load(source: Union[str, pathlib.Path, bytes]):
    """Read an ``ExportedProgram``; :class:`cpwl.ModelFileError` if it is not one."""
    if not isinstance(source, (bytes, bytearray)) and not pathlib.Path(source).is_file():
        raise ModelFileError(f"no .pt2 file at {source}")
    try:
        return torch.export.load(io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray)) else str(source))
    except Exception as err:  # the loader raises many unrelated types on bad input
        raise ModelFileError(
            f"not a readable torch.export program: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
        ) from err


def input_shape(source) -> tuple:
    """The traced shape of the program's one input, ``None`` for a symbolic size.

    Examples:
        >>> program = torch.export.export(torch.nn.Linear(2, 1), (torch.zeros(1, 2),))
        >>> buffer = io.BytesIO(); torch.export.save(program, buffer)
        >>> input_shape(buffer.getvalue())
        (1, 2)
    """
    value = user_input(load(source)).meta.get("val")
    return tuple(d if isinstance(d, int) else None for d in value.shape) if value is not None else ()


def user_input(program):
    """The placeholder node of the program's one user input (not a parameter, buffer or
    constant); :class:`cpwl.UnsupportedOperatorError` unless there is exactly one."""
    user = [s.arg.name for s in program.graph_signature.input_specs if s.target is None]
    if len(user) != 1:
        raise UnsupportedOperatorError(f"the program takes {len(user)} inputs; exactly one is supported")
    return next(n for n in program.graph_module.graph.nodes if n.op == "placeholder" and n.name == user[0])


def _bind(node, args, kwargs) -> dict:
    """The node's arguments by name (defaults filled in) from its operator's schema."""
    schema = getattr(node.target, "_schema", None)
    if schema is None:
        raise UnsupportedOperatorError(f"{node.target} (node '{node.name}') is not an ATen operator")
    bound = {}
    for position, argument in enumerate(schema.arguments):
        if position < len(args) and not argument.kwarg_only:
            bound[argument.name] = args[position]
        elif argument.name in kwargs:
            bound[argument.name] = kwargs[argument.name]
        elif argument.has_default_value():
            bound[argument.name] = argument.default_value
        else:
            raise UnsupportedOperatorError(f"{node.target} (node '{node.name}'): argument {argument.name} is missing")
    extra = set(kwargs) - {a.name for a in schema.arguments}
    if len(args) > len(schema.arguments) or extra:
        raise UnsupportedOperatorError(
            f"{node.target} (node '{node.name}'): unexpected arguments {sorted(extra) or len(args)}"
        )
    return bound


def _index_op(node, args, kwargs, syms: list):
    """Apply a pure index operation to probes of the input maps and gather."""
    F = stack([s.F for s in syms]) if len(syms) > 1 else syms[0].F
    offsets, start = {}, 0
    for s in syms:
        offsets[id(s)] = start
        start += s.F.dim

    def to_probe(value):
        if isinstance(value, Sym):
            values = probe(F.dim)[offsets[id(value)] : offsets[id(value)] + value.F.dim]
            return torch.from_numpy(values.copy()).reshape(1, *value.shape)
        if isinstance(value, (list, tuple)):
            return type(value)(to_probe(v) for v in value)
        if isinstance(value, torch.Tensor):
            if value.any():
                raise UnsupportedOperatorError(
                    f"{node.target} (node '{node.name}') mixes input-dependent values with non-zero constants"
                )
            return value.to(torch.float64)
        return value

    try:
        out = node.target(*to_probe(list(args)), **kwargs)
    except Exception as err:
        raise UnsupportedOperatorError(
            f"{node.target} (node '{node.name}') could not be applied to the input-dependent values: {err}"
        ) from err
    if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[0] != 1:
        raise UnsupportedOperatorError(
            f"{node.target} (node '{node.name}') changes the batch layout; export with a batch of one example"
        )
    return gather(
        Sym(F, (F.dim,)), index_gather(out.numpy(), F.dim, f"{node.target} (node '{node.name}')"), tuple(out.shape[1:])
    )


def _flat_values(values) -> list:
    found = []
    for v in values:
        if isinstance(v, (list, tuple)):
            found.extend(_flat_values(v))
        else:
            found.append(v)
    return found


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise UnsupportedOperatorError("complex constants are not supported")
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _fold(node, args, kwargs):
    """Run a node on constants with torch itself, after checking its output size."""
    meta = node.meta.get("val")
    tensors = [v for v in (meta if isinstance(meta, (list, tuple)) else [meta]) if isinstance(v, torch.Tensor)]
    for value in tensors:
        if not all(isinstance(d, int) for d in value.shape):
            raise UnsupportedOperatorError(
                f"{node.target} (node '{node.name}') on constants has a dynamic size; export with static shapes"
            )
        check_constant_size(math.prod(value.shape), f"folding {node.target} (node '{node.name}')")
    return node.target(*args, **kwargs)


def _conv(node, a: dict) -> Sym:
    x = a["input"]
    if not isinstance(x, Sym) or isinstance(a["weight"], Sym) or isinstance(a.get("bias"), Sym):
        raise UnsupportedOperatorError(
            f"{node.target} (node '{node.name}'): only an input-dependent image and constant weights are supported"
        )
    if a.get("transposed", False) or any(int(v) for v in a.get("output_padding", [0, 0])):
        raise UnsupportedOperatorError(f"{node.target} (node '{node.name}'): transposed convolutions are not supported")
    W = _numpy(a["weight"])
    if W.ndim != 4 or len(x.shape) != 3:
        raise UnsupportedOperatorError(
            f"{node.target} (node '{node.name}'): only 2-D convolutions of (C, H, W) inputs are supported"
        )
    stride, dilation = [int(v) for v in a["stride"]], [int(v) for v in a["dilation"]]
    stride, dilation = stride * (2 // len(stride)), dilation * (2 // len(dilation))
    padding = a["padding"]
    if isinstance(padding, str):
        if padding == "valid":
            pads = [0, 0, 0, 0]
        elif padding == "same":
            totals = [d * (k - 1) for d, k in zip(dilation, W.shape[2:])]
            pads = [totals[0] // 2, totals[0] - totals[0] // 2, totals[1] // 2, totals[1] - totals[1] // 2]
        else:
            raise UnsupportedOperatorError(f"{node.target} (node '{node.name}'): padding {padding!r}")
    else:
        ph, pw = ([int(v) for v in padding] * 2)[:2] if len(padding) == 1 else [int(v) for v in padding]
        pads = [ph, ph, pw, pw]
    bias = None if a.get("bias") is None else _numpy(a["bias"])
    layer = Conv2d(
        W,
        bias,
        in_shape=x.shape,
        stride=tuple(stride),
        padding=tuple(pads),
        dilation=tuple(dilation),
        groups=int(a["groups"]),
    )
    return Sym(x.F.apply(layer), layer.out_shape)


def _call(node, args, kwargs):
    name = str(node.target)
    values = _flat_values(list(args) + list(kwargs.values()))
    for v in values:
        if isinstance(v, _Unavailable):
            raise UnsupportedOperatorError(
                f"{name} (node '{node.name}') uses {v.what}, which the exact evaluation does not give"
            )
    syms = [v for v in values if isinstance(v, Sym)]
    if not syms and not any(isinstance(v, Cond) for v in values):
        return _fold(node, args, kwargs)  # constant folding by torch itself
    if name in _NO_OP:
        return None
    base = name.split(".")[1] if name.startswith("aten.") else ""
    if base in _INDEX_OPS and not any(isinstance(v, Cond) for v in values):
        return _index_op(node, args, kwargs, syms)
    a = _bind(node, args, kwargs)
    if any(isinstance(v, Cond) for v in values) and name != "aten.where.self":
        raise UnsupportedOperatorError(f"{name} (node '{node.name}') computes with a comparison result")
    x = syms[0] if syms else None
    if name in _IDENTITY:
        return x
    if name in ("aten.to.dtype", "aten._to_copy.default"):
        dtype = a.get("dtype")
        if dtype is not None and not dtype.is_floating_point:
            raise UnsupportedOperatorError(f"{name} (node '{node.name}') converts to {dtype}, not a float type")
        return x  # the exact meaning of a model is over the reals: precision changes do not change it
    if name in _ELEMENTWISE:
        return Sym(x.F.apply(_ELEMENTWISE[name]()), x.shape)
    if name == "aten.leaky_relu.default":
        slope = exact_scalar(a["negative_slope"], "negative_slope")
        return Sym(x.F.apply(exact.leaky_relu(slope) if slope != 1 else exact.identity()), x.shape)
    if name in ("aten.clamp.default", "aten.clamp.Tensor"):
        return clip(x, None if a["min"] is None else _numpy(a["min"]), None if a["max"] is None else _numpy(a["max"]))
    if name == "aten.hardtanh.default":
        return clip(x, _numpy(a["min_val"]), _numpy(a["max_val"]))
    if name == "aten.linear.default":
        if len(x.shape) != 1 or isinstance(a["weight"], Sym):
            raise UnsupportedOperatorError(
                f"{name} (node '{node.name}'): only flat inputs and constant weights are supported"
            )
        W, b = _numpy(a["weight"]), None if a["bias"] is None else _numpy(a["bias"])
        return Sym(affine(x.F, W, b), (W.shape[0],))
    if name == "aten.addmm.default":
        if (
            not isinstance(a["mat1"], Sym)
            or isinstance(a["mat2"], Sym)
            or isinstance(a["self"], Sym)
            or len(x.shape) != 1
        ):
            raise UnsupportedOperatorError(
                f"{name} (node '{node.name}'): only constant + input x constant is supported"
            )
        M = _numpy(a["mat2"])
        bias = constant_over(_numpy(a["self"]), (M.shape[1],))
        return Sym(
            affine(x.F, M.T, bias, scale=exact_scalar(a["alpha"], "alpha"), bias_scale=exact_scalar(a["beta"], "beta")),
            (M.shape[1],),
        )
    if name in ("aten.mm.default", "aten.matmul.default"):
        first, second = (a["self"], a["mat2"]) if name == "aten.mm.default" else (a["self"], a["other"])
        if not isinstance(first, Sym) or isinstance(second, Sym) or len(x.shape) != 1 or _numpy(second).ndim != 2:
            raise UnsupportedOperatorError(
                f"{name} (node '{node.name}'): only flat input x constant matrix is supported"
            )
        M = _numpy(second)
        return Sym(affine(x.F, M.T), (M.shape[1],))
    if name in ("aten.add.Tensor", "aten.sub.Tensor"):
        sign = 1 if name == "aten.add.Tensor" else -1
        alpha = exact_scalar(a["alpha"], "alpha")
        first, second = a["self"], a["other"]
        if isinstance(first, Sym) and isinstance(second, Sym):
            return combine(first, second, sign, alpha)
        if isinstance(first, Sym):  # x + sign * alpha * c
            c = [sign * alpha * Fraction(float(v)) for v in constant_over(_numpy(second), first.shape)]
            return Sym(first.F.featurewise([1] * first.F.dim, c), first.shape)
        c = [Fraction(float(v)) for v in constant_over(_numpy(first), second.shape)]  # c + sign * alpha * x
        return Sym(second.F.featurewise([sign * alpha] * second.F.dim, c), second.shape)
    if name in ("aten.mul.Tensor", "aten.mul.Scalar"):
        first, second = a["self"], a["other"]
        if isinstance(first, Sym) and isinstance(second, Sym):
            raise UnsupportedOperatorError(
                f"{name} (node '{node.name}') multiplies two input-dependent values (not piecewise linear)"
            )
        s, c = (first, second) if isinstance(first, Sym) else (second, first)
        return featurewise(s, _numpy(c))
    if name in ("aten.div.Tensor", "aten.div.Scalar"):
        if not isinstance(a["self"], Sym) or isinstance(a["other"], Sym):
            raise UnsupportedOperatorError(f"{name} (node '{node.name}'): only input / constant is supported")
        c = constant_over(_numpy(a["other"]), x.shape)
        if np.any(c == 0):
            raise UnsupportedOperatorError(f"{name} (node '{node.name}'): division by zero")
        return Sym(x.F.featurewise([1 / Fraction(float(v)) for v in c]), x.shape)
    if name == "aten.neg.default":
        return featurewise(x, -1.0)
    if name in ("aten.maximum.default", "aten.minimum.default"):
        first, second = a["self"], a["other"]
        take_max = name == "aten.maximum.default"
        if isinstance(first, Sym):
            return pairwise(first, second if isinstance(second, Sym) else _numpy(second), take_max)
        return pairwise(second, _numpy(first), take_max)
    if name in ("aten.conv2d.default", "aten.conv2d.padding", "aten.convolution.default"):
        return _conv(node, a)
    if name == "aten.sort.default":
        return _sort(node, x, a)
    if base in _COMPARISONS:
        first, second = a["self"], a["other"]
        return compare(
            first,
            second if isinstance(second, Sym) else _numpy(second),
            _COMPARISONS[base],
            (first if isinstance(first, Sym) else second).shape,
        )
    if name == "aten.where.self":
        if not isinstance(a["condition"], Cond):
            raise UnsupportedOperatorError(
                f"{name} (node '{node.name}'): the condition must be a comparison of input-dependent values"
            )
        return where(a["condition"], *(v if isinstance(v, Sym) else _numpy(v) for v in (a["self"], a["other"])))
    if name in ("aten.max.dim", "aten.min.dim", "aten.amax.default", "aten.amin.default"):
        dims = [a["dim"]] if name.endswith(".dim") else list(a["dim"]) or list(range(1, len(x.shape) + 1))
        dims = [d % (len(x.shape) + 1) for d in dims]
        if 0 in dims:
            raise UnsupportedOperatorError(f"{name} (node '{node.name}') reduces over the batch axis")
        values = extreme(x, [d - 1 for d in dims], bool(a["keepdim"]), "max" in name)
        return (values, _Unavailable(f"the indices of {name}")) if name.endswith(".dim") else values
    if name in ("aten.new_zeros.default", "aten.zeros_like.default"):  # reads only shape/dtype
        size = a["size"] if name == "aten.new_zeros.default" else (1, *x.shape)
        return torch.zeros(size, dtype=torch.float64)
    raise UnsupportedOperatorError(f"operator {name} (node '{node.name}') is not supported by the exact evaluation")


def _sort(node, x: Sym, a: dict) -> tuple:
    """``sort`` along the last axis: an exact GroupSort of consecutive groups (its indices
    cannot be used)."""
    dim = int(a["dim"])
    if dim not in (-1, len(x.shape)):
        raise UnsupportedOperatorError(f"sort (node '{node.name}') is supported along the last axis only")
    values = Sym(x.F.apply(exact.GroupSort(x.shape[-1], bool(a["descending"]))), x.shape)
    return values, _Unavailable("the indices of a sort")


def _evaluate(program, F: CPWLMap, shape: tuple) -> CPWLMap:
    constants = {**program.state_dict, **program.constants}
    values = {}
    for spec in program.graph_signature.input_specs:
        if spec.target is not None:
            values[spec.arg.name] = constants[spec.target]
    values[user_input(program).name] = Sym(F, shape)
    result = None
    for node in program.graph_module.graph.nodes:
        resolve = lambda v: (
            values[v.name]
            if isinstance(v, torch.fx.Node)
            else [resolve(w) for w in v]
            if isinstance(v, (list, tuple))
            else v
        )  # noqa: E731
        if node.op == "placeholder":
            continue
        if node.op == "output":
            result = resolve(node.args[0])
            break
        if node.op != "call_function":
            raise UnsupportedOperatorError(f"node '{node.name}' is a {node.op}, not an operator call")
        args, kwargs = resolve(node.args), {k: resolve(v) for k, v in node.kwargs.items()}
        try:
            values[node.name] = (
                operator.getitem(*args) if node.target is operator.getitem else _call(node, args, kwargs)
            )
        except (NumberError, ChainError) as err:  # say which node holds the NaN, or merges branches
            raise type(err)(f"node '{node.name}' ({node.target}): {err}") from err
    return single_output(result)


def restrict_to_line(source, start, end) -> CPWLMap:
    """The exact outputs of a ``.pt2`` program (path or bytes) along ``start + t (end - start)``,
    ``t`` in ``[0, 1]``; ``start``/``end`` are one input's values (any shape, no batch), taken
    exactly."""
    F, shape = line_input(start, end)
    return guarded(_evaluate, load(source), F, shape)


def to_cpwl(source, domain=None):
    """The exact function of a scalar-input ``.pt2`` program on ``domain``."""
    return as_function(guarded(_evaluate, load(source), CPWLMap.identity(domain), (1,)))
