"""An ONNX or torch.export (``.pt2``) file as a torch module whose exact meaning is the
graph's, so that every certificate of :mod:`nets.certify` applies to it: proven Lipschitz
bounds, rigorous forward passes and certified robust accuracy.

The graph is read once by its importer (:mod:`nets.onnx_import`, :mod:`nets.pt2_import`,
the same operator semantics as the exact line restrictions) into one chain of exact layers
(:mod:`nets._graph_trace`): dense and convolution layers, gathers for every operation that
only moves entries, one elementwise layer per run of elementwise operations (an N-activation
exported as comparisons and selections becomes one scalar CPWL per entry), sorting layers for
Max/Min pairs and sorts, residual blocks for additions of a value and a branch through it.
A graph that combines values any other way is refused, naming the node.

Calling the module runs the graph with its own runtime (onnx's reference evaluator, or the
exported program), in the graph's precision: that is what the naive float rule compares.

Examples:
    >>> import io, torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    >>> buffer = io.BytesIO()
    >>> torch.onnx.export(model, (torch.zeros(1, 2),), buffer, dynamo=False)
    >>> graph = GraphModel(buffer.getvalue(), ".onnx")
    >>> graph.input_shape, [type(layer).__name__ for layer in graph.layers]
    ((2,), ['Affine', 'Elementwise', 'Affine'])
    >>> x = torch.randn(4, 2)
    >>> bool(torch.allclose(graph(x), model(x), atol=1e-6))
    True
"""

from __future__ import annotations

import math
import pathlib
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from cpwl.errors import InvalidArgument, ModelFileError, ShapeError
from nets._graph import GRAPH_SUFFIXES, guarded, importer_for
from nets._graph_trace import Trace, simplified

__all__ = ["GraphModel"]


class GraphModel(nn.Module):
    """The graph of an ONNX or ``.pt2`` file (a path, or bytes with their ``suffix``) as exact
    layers (``layers``), with its per-sample ``input_shape`` and ``out_features`` outputs.
    The layers are read once, when the module is built, and cannot be changed."""

    def __init__(self, source: Union[str, pathlib.Path, bytes], suffix: Optional[str] = None):
        super().__init__()
        if isinstance(source, (bytes, bytearray)):
            if suffix not in GRAPH_SUFFIXES:
                raise InvalidArgument(f"graph bytes need their file suffix, one of {sorted(GRAPH_SUFFIXES)}")
            data = bytes(source)
        else:
            if importer_for(source) is None:
                raise InvalidArgument(f"{source}: a graph file ends in one of {sorted(GRAPH_SUFFIXES)}")
            importer_for(source).load(source)  # a clear ModelFileError for a missing or unreadable file
            suffix, data = pathlib.Path(source).suffix, pathlib.Path(source).read_bytes()
        importer = importer_for(f"model{suffix}")
        declared = importer.input_shape(data)
        if len(declared) < 2 or any(d is None for d in declared[1:]):
            raise ShapeError(
                f"the graph's input has shape {declared}; certification needs a batch axis and a fixed per-sample shape"
            )
        self._suffix, self._data = suffix, data
        self._shape, self._batch = tuple(declared[1:]), declared[0]
        n = math.prod(self._shape)
        trace = guarded(importer._evaluate, importer.load(data), Trace.input(n), self._shape)
        self._layers = tuple(simplified(trace.layers, n))
        self._outputs = trace.dim
        self._runtime = None

    @property
    def layers(self) -> tuple:
        """The graph's exact layers, in order (a :class:`cpwl.Network`'s layers)."""
        return self._layers

    @property
    def input_shape(self) -> tuple:
        """The per-sample input shape the graph declares."""
        return self._shape

    @property
    def out_features(self) -> int:
        """The number of outputs per sample."""
        return self._outputs

    @property
    def source(self) -> tuple:
        """``(suffix, bytes)`` of the graph file."""
        return self._suffix, self._data

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The graph run by its own runtime on the batch ``x`` (one sample at a time when the
        graph was exported with a batch of one)."""
        if tuple(x.shape[1:]) != self._shape:
            raise ShapeError(f"the graph takes inputs of shape {self._shape}, got {tuple(x.shape[1:])}")
        if not len(x):
            return torch.zeros(0, self._outputs)
        run = self._run()
        if self._batch == 1 and len(x) != 1:
            return torch.cat([run(x[k : k + 1]) for k in range(len(x))])
        return run(x)

    def _run(self):
        if self._runtime is None:
            importer = importer_for(f"model{self._suffix}")
            if self._suffix == ".onnx":
                from onnx.reference import ReferenceEvaluator

                model = importer.load(self._data)
                evaluator = ReferenceEvaluator(model)
                graph_input = importer.graph_input(model)
                name, dtype = graph_input.name, _ONNX_DTYPES.get(graph_input.type.tensor_type.elem_type)
                if dtype is None:
                    raise ModelFileError("the graph's input is not a float tensor")
                self._runtime = lambda x: torch.from_numpy(
                    np.asarray(evaluator.run(None, {name: x.detach().cpu().numpy().astype(dtype)})[0])
                )
            else:
                program = importer.load(self._data)
                node = importer.user_input(program)
                dtype = node.meta["val"].dtype if "val" in node.meta else torch.float32
                module = program.module()
                self._runtime = lambda x: module(x.to(dtype))
        return self._runtime


#: ONNX element types of float inputs and their numpy types.
_ONNX_DTYPES = {1: np.float32, 10: np.float16, 11: np.float64}


def _exact(module: GraphModel, shape: tuple) -> tuple:
    if tuple(shape) != module.input_shape:
        raise ShapeError(f"the graph takes inputs of shape {module.input_shape}, got {tuple(shape)}")
    return list(module.layers), (module.out_features,)


def _register() -> None:
    from nets.semantics.registry import register

    register(GraphModel, exact=_exact)


_register()
