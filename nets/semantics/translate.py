"""Translate a whole torch model, module by module, into exact :mod:`cpwl` layers.

:func:`translate` walks the model in forward order (containers are expanded), looks every
module up in the table (:mod:`nets.semantics.registry`, fail closed) and records one
:class:`Step` per module: its exact layers, input and output shapes, and — when asked — a
proven Lipschitz bound.  Export, certificates and the rigorous forward pass all start here.

Examples:
    >>> from torch import nn
    >>> t = translate(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    >>> [(s.path, s.module, s.out_shape) for s in t.steps]
    [('0', 'Linear', (3,)), ('1', 'ReLU', (3,))]
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import numpy as np
import torch
from torch import nn

import cpwl
from cpwl import LipschitzBound
from cpwl._floats import subnormals_kept
from cpwl.errors import CPWLError, InvalidArgument, ShapeError, UnsupportedModuleError
from cpwl.layer import composed_bound, norm_name
from nets.semantics.registry import check_no_hooks, lookup

__all__ = ["Step", "Translation", "evaluation_mode", "input_shape_of", "translate"]


@contextlib.contextmanager
def evaluation_mode(module: nn.Module):
    """Put ``module`` in eval mode and ``no_grad`` for the block, then restore its modes and
    every parameter and buffer it had: some parametrizations update their own state when a
    weight is read (orthogonium's power iteration does, even in eval mode), and reading a
    model must not change it.  The weights read inside the block are then exactly those the
    model's next forward pass computes.

    Examples:
        >>> m = nn.Linear(1, 1)
        >>> with evaluation_mode(m):
        ...     m.training
        False
        >>> m.training
        True
    """
    modes = [(m, m.training) for m in module.modules()]
    state = [(t, t.detach().clone()) for t in (*module.parameters(), *module.buffers())]
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        for m, mode in modes:
            m.training = mode
        with torch.no_grad():
            for tensor, saved in state:
                if tensor.shape != saved.shape or not torch.equal(tensor, saved):
                    tensor.set_(saved)


@dataclass(frozen=True)
class Step:
    """One module of a model, translated: its path in the model, class name, exact layers,
    per-sample input and output shapes, and (when requested) a proven Lipschitz bound."""

    path: str
    module: str
    layers: tuple
    in_shape: tuple
    out_shape: tuple
    bound: Optional[LipschitzBound] = None
    #: For a module that is not piecewise linear (``translate(..., exact=False)``): its
    #: rigorous float step ``(y, err) -> (y, err)``, in place of exact layers.
    float_step: Optional[Callable] = None


@dataclass(frozen=True)
class Translation:
    """A model as exact layers: the steps in forward order and the per-sample input shape."""

    steps: tuple
    in_shape: tuple

    @property
    def out_shape(self) -> tuple:
        """The per-sample output shape."""
        return self.steps[-1].out_shape if self.steps else self.in_shape

    @property
    def layers(self) -> tuple:
        """Every exact layer, in order."""
        return tuple(layer for step in self.steps for layer in step.layers)

    def network(self) -> cpwl.Network:
        """The exact :class:`cpwl.Network` (an identity model gives one empty gather-free
        identity layer: an elementwise identity)."""
        if any(step.float_step for step in self.steps):
            raise UnsupportedModuleError(
                "this translation has modules without exact layers (translate with exact=True)"
            )
        layers = self.layers or (cpwl.activations.Elementwise(cpwl.activations.identity()),)
        return cpwl.Network(layers)

    @property
    def bound(self) -> Fraction:
        """The product of the steps' proven bounds (requires ``translate(..., bounds=True)``)."""
        return math.prod((step.bound.value for step in self.steps), start=Fraction(1))


def input_shape_of(module: nn.Module, input_shape=None) -> tuple:
    """The per-sample input shape: given, recorded on the model (``input_shape`` of
    :class:`nets.SimplifiedConvNet`, ``input_dim`` of :class:`nets.LipschitzMLP`), or read
    from the first leaf module when it is a dense layer.

    Examples:
        >>> input_shape_of(nn.Sequential(nn.Linear(3, 1)))
        (3,)
    """
    if input_shape is not None:
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        if not shape or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape):
            raise InvalidArgument(f"input_shape must be positive ints (one sample, no batch), got {input_shape!r}")
        return shape
    if getattr(module, "input_shape", None) is not None:
        return tuple(module.input_shape)
    if isinstance(getattr(module, "input_dim", None), int):
        return (module.input_dim,)
    first = next((m for m in module.modules() if set(m._modules) <= {"parametrizations"}), module)  # the first leaf
    for attribute in ("in_features", "features"):
        if isinstance(getattr(first, attribute, None), int):
            return (getattr(first, attribute),)
    raise InvalidArgument(
        f"cannot tell the input shape of {type(module).__name__}; pass input_shape (one sample, no batch dimension)"
    )


def translate(module: nn.Module, input_shape=None, *, bounds: bool = False, exact: bool = True, norm=2) -> Translation:
    """The exact translation of ``module`` for per-sample inputs of ``input_shape`` (see
    :func:`input_shape_of`), in evaluation mode and without changing the model.  With
    ``bounds=True`` every step also carries a proven Lipschitz bound in ``norm`` (2, 1 or
    ``"inf"``, the same norm on inputs and outputs).  A module that is not
    piecewise linear is refused unless ``exact=False`` (certificates), where its step carries
    a rigorous float evaluation instead of exact layers.  Anything the table does not know, or
    whose behaviour was changed, raises :class:`cpwl.UnsupportedModuleError`."""
    if not isinstance(module, nn.Module):
        raise InvalidArgument(f"translate needs a torch.nn.Module, got {type(module).__name__}")
    check_no_hooks(module)
    shape = input_shape_of(module, input_shape)
    steps = []
    with evaluation_mode(module), subnormals_kept():  # the float bounds' underflow terms assume it
        _walk(module, "", shape, steps, norm_name(norm) if bounds else None, exact)
    return Translation(tuple(steps), shape)


def _walk(module: nn.Module, path: str, shape: tuple, steps: list, norm, exact: bool) -> tuple:
    """Append ``module``'s steps; ``norm`` is the norm of the bounds, ``None`` for none."""
    entry, _ = lookup(module, path or type(module).__name__)
    if entry.container:
        for name, child in module._modules.items():  # forward's own order, duplicates included
            if child is None:
                continue
            shape = _walk(child, f"{path}.{name}" if path else name, shape, steps, norm, exact)
        return shape
    where = f"{type(module).__name__} at '{path or type(module).__name__}'"
    if entry.float_step is not None:
        if exact:
            raise UnsupportedModuleError(
                f"{where} is not piecewise linear, so it has no exact export; certificates "
                "(lipschitz_certificate, certified_robust_accuracy) use its proven bound and rigorous float step"
            )
        try:
            step, out_shape = entry.float_step(module, shape)
            bound = None if norm is None else entry.bound(module, shape, (), norm)
            if norm is not None and bound is None:
                raise UnsupportedModuleError(f"no proven bound in the {norm} norm")
        except CPWLError as err:
            raise type(err)(f"{where}: {err}") from err
        steps.append(
            Step(path or type(module).__name__, type(module).__name__, (), shape, tuple(out_shape), bound, step)
        )
        return tuple(out_shape)
    try:
        layers, out_shape = entry.exact(module, shape)
        layers, out_shape = tuple(layers), tuple(out_shape)
        width = math.prod(shape)
        for layer in layers:
            width = layer.check_width(width)
        if width != math.prod(out_shape):
            raise ShapeError(f"the exact layers give {width} outputs but the output shape is {out_shape}")
        if entry.verify:
            _verify(module, shape, layers)
        bound = None
        if norm is not None:
            bound = entry.bound(module, shape, layers, norm) if entry.bound else None
            bound = composed_bound(layers, norm) if bound is None else bound
    except CPWLError as err:
        raise type(err)(f"{where}: {err}") from err
    steps.append(Step(path or type(module).__name__, type(module).__name__, layers, shape, out_shape, bound))
    return out_shape


def _verify(module: nn.Module, shape: tuple, layers: tuple) -> None:
    """Check a module recognised by name against its own float64 forward pass: on random
    points of three scales and on points placed at and around every breakpoint of its exact
    elementwise layers, the outputs must agree to float64 rounding."""
    rng = np.random.default_rng(0)
    probes = [rng.standard_normal((4, *shape)) * scale for scale in (1e-2, 1.0, 1e2)]
    for layer in layers:
        if isinstance(layer, cpwl.activations.Elementwise):
            levels = layer.float_tables(math.prod(shape)).levels
            for row in levels:
                at = np.where(np.isfinite(row), row, 0.0).reshape(shape)
                probes.append(np.stack([at, at + 1e-3, at - 1e-3]))
    from nets.certify.rigorous import bounded_layers

    x = torch.tensor(np.concatenate(probes))
    got = module(x).detach().to(torch.float64).reshape(len(x), -1)
    want, err = bounded_layers(layers, x.reshape(len(x), -1)) if layers else (x.reshape(len(x), -1), torch.zeros(1))
    if got.shape != want.shape or not bool((torch.abs(got - want) <= err + 1e-9 * (1 + torch.abs(want))).all()):
        raise UnsupportedModuleError(
            "it looks like a known module (class name and attributes) but its forward pass computes something else"
        )
