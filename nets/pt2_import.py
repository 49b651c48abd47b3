"""Exact restriction of ``torch.export`` programs (``.pt2`` files) to lines.

The program's graph is evaluated node by node: nodes whose inputs are all constants (weight
parametrizations such as the AOL rescaling, theta sorting) are run by torch itself; nodes on
input-dependent values are evaluated exactly on maps (:class:`cpwl.CPWLMap`).  Pure index
operations (reshape, unflatten, select, slice, permute, cat, stack...) are handled generically:
the same operation is applied to a tensor of component indices.  Export with a batch of one
example.  Loading uses ``torch.export.load``, which reads a program, not pickled code.

Example:
    >>> import io, torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    >>> buffer = io.BytesIO()
    >>> torch.export.save(torch.export.export(model, (torch.zeros(1, 2),)), buffer)
    >>> restrict_to_line(buffer.getvalue(), [0.0, 0.0], [1.0, 1.0]).dim
    3
"""

from __future__ import annotations

import io
import operator
import pathlib
from fractions import Fraction
from typing import Union

import numpy as np
import torch

from cpwl import CPWLMap
from cpwl import activations as exact
from nets._symbolic import Sym, UnsupportedOperatorError, affine, as_function, clip, combine, constant_over, diag, guarded, line_input, pairwise, single_output
from nets.io import ModelFileError

__all__ = ["load", "restrict_to_line", "to_cpwl"]

_IDENTITY = {"aten.to.dtype", "aten.clone.default", "aten.contiguous.default", "aten.detach.default", "aten.alias.default", "aten.dropout.default", "aten._to_copy.default"}
_NO_OP = {"aten._assert_tensor_metadata.default"}
_ELEMENTWISE = {"aten.relu.default": exact.relu, "aten.abs.default": exact.abs_}
#: Operations that only move, copy, drop or zero-pad entries: evaluated on index tensors.
_INDEX_OPS = {
    "view", "reshape", "_unsafe_view", "unflatten", "flatten", "select", "slice", "narrow", "permute", "transpose",
    "t", "squeeze", "unsqueeze", "cat", "stack", "constant_pad_nd", "pad", "_pad_circular", "pixel_unshuffle",
    "pixel_shuffle", "expand", "repeat", "roll",
}


def load(source: Union[str, pathlib.Path, bytes]):
    """Read an ``ExportedProgram``; :class:`nets.io.ModelFileError` if it is not one."""
    if not isinstance(source, (bytes, bytearray)) and not pathlib.Path(source).is_file():
        raise ModelFileError(f"no .pt2 file at {source}")
    try:
        return torch.export.load(io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray)) else str(source))
    except Exception as err:  # the loader raises many unrelated types on bad input
        raise ModelFileError(f"not a readable torch.export program: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from err


def _name(target) -> str:
    return str(target)


def _index_op(target, args, kwargs, syms: list):
    """Apply a pure index operation to index tensors of the input maps and gather."""
    F = CPWLMap.stack([s.F for s in syms]) if len(syms) > 1 else syms[0].F
    offsets, start = {}, 0
    for s in syms:
        offsets[id(s)] = start
        start += s.F.dim

    def probe(value):
        if isinstance(value, Sym):
            size = value.F.dim
            return (torch.arange(size, dtype=torch.float64) + offsets[id(value)] + 1).reshape(1, *value.shape)
        if isinstance(value, (list, tuple)):
            return type(value)(probe(v) for v in value)
        if isinstance(value, torch.Tensor):
            return value.to(torch.float64)  # zero padding: index 0 means "no component"
        return value

    try:
        out = target(*probe(list(args)), **kwargs)
    except Exception as err:
        raise UnsupportedOperatorError(f"{_name(target)} could not be applied to the input-dependent values: {err}") from err
    if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[0] != 1:
        raise UnsupportedOperatorError(f"{_name(target)} changes the batch layout; export with a batch of one example")
    index = [None if v == 0 else int(v) - 1 for v in out.flatten().tolist()]
    return Sym(F.gather(index), tuple(out.shape[1:]))


def _movable(value) -> bool:
    """Input-dependent values, non-tensors, and all-zero constants (padding) can be moved."""
    if isinstance(value, (list, tuple)):
        return all(_movable(v) for v in value)
    return not isinstance(value, torch.Tensor) or not bool(value.any())


def _flat_syms(values) -> list:
    found = []
    for v in values:
        if isinstance(v, Sym):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            found.extend(_flat_syms(v))
    return found


def _call(node, args, kwargs):
    target, name = node.target, _name(node.target)
    syms = _flat_syms(list(args) + list(kwargs.values()))
    if not syms:
        return target(*args, **kwargs)  # constant folding by torch itself
    if name in _NO_OP:
        return None
    x = syms[0]
    if name in _IDENTITY:
        return x
    if name in _ELEMENTWISE:
        return Sym(x.F.apply(_ELEMENTWISE[name]()), x.shape)
    if name == "aten.leaky_relu.default":
        slope = float(args[1]) if len(args) > 1 else 0.01
        return Sym(x.F.apply(exact.leaky_relu(slope) if slope != 1 else exact.identity()), x.shape)
    if name in ("aten.clamp.default", "aten.clamp.Tensor", "aten.hardtanh.default"):
        lo = args[1] if len(args) > 1 else kwargs.get("min")
        hi = args[2] if len(args) > 2 else kwargs.get("max")
        if name == "aten.hardtanh.default":
            lo, hi = (args[1] if len(args) > 1 else -1.0), (args[2] if len(args) > 2 else 1.0)
        return clip(x, None if lo is None else _numpy(lo), None if hi is None else _numpy(hi))
    if name == "aten.linear.default":
        W, b = _numpy(args[1]), None if len(args) < 3 or args[2] is None else _numpy(args[2])
        return Sym(affine(x.F, W, b), (W.shape[0],))
    if name == "aten.addmm.default" and isinstance(args[1], Sym):
        M = _numpy(args[2])
        return Sym(affine(x.F, M.T, _numpy(args[0])), (M.shape[1],))
    if name in ("aten.mm.default", "aten.matmul.default") and isinstance(args[0], Sym) and not isinstance(args[1], Sym):
        M = _numpy(args[1])
        return Sym(affine(x.F, M.T), (M.shape[1],))
    if name in ("aten.add.Tensor", "aten.sub.Tensor"):
        sign = 1 if name == "aten.add.Tensor" else -1
        alpha = kwargs.get("alpha", 1)
        a, b = args[0], args[1]
        if isinstance(a, Sym) and isinstance(b, Sym):
            return combine(a, b if alpha == 1 else Sym(diag(b.F, float(alpha)), b.shape), sign)
        if isinstance(a, Sym):
            return Sym(diag(a.F, 1.0, sign * alpha * constant_over(_numpy(b), a.shape)), a.shape)
        return Sym(diag(b.F, float(sign * alpha), constant_over(_numpy(a), b.shape)), b.shape)
    if name in ("aten.mul.Tensor", "aten.mul.Scalar"):
        a, b = args[0], args[1]
        if isinstance(a, Sym) and isinstance(b, Sym):
            raise UnsupportedOperatorError(f"{name} multiplies two input-dependent values (not piecewise linear)")
        s, c = (a, b) if isinstance(a, Sym) else (b, a)
        return Sym(diag(s.F, constant_over(_numpy(c), s.shape)), s.shape)
    if name in ("aten.div.Tensor", "aten.div.Scalar") and isinstance(args[0], Sym) and not isinstance(args[1], Sym):
        c = constant_over(_numpy(args[1]), x.shape)
        if np.any(c == 0):
            raise UnsupportedOperatorError("division by zero")
        n = x.F.dim
        return Sym(x.F.affine([[1 / Fraction(float(c[i])) if i == j else 0 for j in range(n)] for i in range(n)]), x.shape)
    if name == "aten.neg.default":
        return Sym(diag(x.F, -1.0), x.shape)
    if name in ("aten.maximum.default", "aten.minimum.default"):
        a, b = args
        take_max = name == "aten.maximum.default"
        if isinstance(a, Sym):
            return pairwise(a, b if isinstance(b, Sym) else constant_over(_numpy(b), a.shape), take_max)
        return pairwise(b, constant_over(_numpy(a), b.shape), take_max)
    if name in ("aten.conv2d.default", "aten.convolution.default"):
        return _conv(x, args)
    if name == "aten.sort.default":
        return _sort(x, args)
    if name in ("aten.new_zeros.default", "aten.zeros_like.default"):  # reads only shape/dtype
        size = args[1] if name == "aten.new_zeros.default" else (1, *x.shape)
        return torch.zeros(size, dtype=torch.float64)
    base = name.split(".")[1] if name.startswith("aten.") else ""
    if base in _INDEX_OPS and all(_movable(v) for v in list(args) + list(kwargs.values())):
        return _index_op(target, args, kwargs, syms)
    raise UnsupportedOperatorError(f"operator {name} (node '{node.name}') is not supported by the exact evaluation")


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _sort(x: Sym, args) -> tuple:
    """``sort`` along the last axis: an exact GroupSort of consecutive groups (indices unsupported)."""
    dim = args[1] if len(args) > 1 else -1
    descending = bool(args[2]) if len(args) > 2 else False
    if dim not in (-1, len(x.shape)):
        raise UnsupportedOperatorError("sort is supported along the last axis only")
    return Sym(x.F.apply(exact.GroupSort(x.shape[-1], descending)), x.shape), None


def _conv(x: Sym, args) -> Sym:
    """A stride-1 convolution with symmetric zero padding ``p <= k // 2``: a "same" convolution
    followed by cropping ``k // 2 - p`` on each side."""
    W = _numpy(args[1])
    b = np.zeros(W.shape[0]) if len(args) < 3 or args[2] is None else _numpy(args[2])
    stride, padding, dilation = (list(args[i]) if len(args) > i else default for i, default in ((3, [1, 1]), (4, [0, 0]), (5, [1, 1])))
    groups = args[-1] if len(args) > 6 and isinstance(args[-1], int) else 1
    k = W.shape[-1]
    if stride != [1, 1] or dilation != [1, 1] or groups != 1 or W.shape[-2] != k or k % 2 == 0 or padding[0] != padding[1] or padding[0] > k // 2:
        raise UnsupportedOperatorError("only stride-1, undilated, ungrouped convolutions with odd square kernels and symmetric padding are supported")
    same = x.F.conv2d(W.tolist(), b.tolist(), x.shape, padding="zeros")
    crop = k // 2 - padding[0]
    c, h, w = W.shape[0], x.shape[1], x.shape[2]
    keep = [ch * h * w + y * w + z for ch in range(c) for y in range(crop, h - crop) for z in range(crop, w - crop)]
    return Sym(same.gather(keep), (c, h - 2 * crop, w - 2 * crop))


def _evaluate(program, F: CPWLMap, shape: tuple) -> CPWLMap:
    constants = {**program.state_dict, **program.constants}
    values = {}
    for spec in program.graph_signature.input_specs:
        if spec.target is not None:
            values[spec.arg.name] = constants[spec.target]
    user = [s.arg.name for s in program.graph_signature.input_specs if s.target is None]
    if len(user) != 1:
        raise UnsupportedOperatorError(f"the program takes {len(user)} inputs; exactly one is supported")
    values[user[0]] = Sym(F, shape)
    result = None
    for node in program.graph_module.graph.nodes:
        resolve = lambda a: values[a.name] if isinstance(a, torch.fx.Node) else [resolve(v) for v in a] if isinstance(a, (list, tuple)) else a  # noqa: E731
        if node.op == "placeholder":
            continue
        if node.op == "output":
            result = resolve(node.args[0])
            break
        args, kwargs = resolve(node.args), {k: resolve(v) for k, v in node.kwargs.items()}
        values[node.name] = operator.getitem(*args) if node.target is operator.getitem else _call(node, args, kwargs)
    return single_output(result)


def restrict_to_line(source, start, end) -> CPWLMap:
    """The exact outputs of a ``.pt2`` program (path or bytes) along ``start + t (end - start)``,
    ``t`` in ``[0, 1]``; ``start``/``end`` are one input's values (any shape, no batch)."""
    F, shape = line_input(start, end)
    return guarded(_evaluate, load(source), F, shape)


def to_cpwl(source, domain=None):
    """The exact function of a scalar-input ``.pt2`` program on ``domain``."""
    return as_function(guarded(_evaluate, load(source), CPWLMap.identity(domain), (1,)))
