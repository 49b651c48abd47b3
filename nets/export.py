"""Export trained torch modules to exact :mod:`cpwl` networks.

Every weight is read through its parametrization in evaluation mode (AOL rescaling,
orthogonal parametrizations, Björck iterations...) and its *deployed* float value is
converted exactly (a float is a dyadic rational).  The export reads no hidden state that a
forward pass would change, restores the module's train/eval mode, and mutates nothing.

Example:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> net = to_network(model)
    >>> len(net.layers)
    3
"""

from __future__ import annotations

import contextlib
import math
from fractions import Fraction
from typing import Iterator, Optional

import torch
from torch import nn

import cpwl
from cpwl import Affine, CPWLError, Network
from cpwl import activations as exact
from nets import activations as A, adapters, layers as L

__all__ = ["UnsupportedModuleError", "leaves", "to_network", "to_cpwl", "restrict_to_line", "evaluation_mode"]

_ELEMENTWISE_TORCH = {nn.ReLU: exact.relu, nn.Identity: None, nn.Flatten: None, nn.Dropout: None}


class UnsupportedModuleError(CPWLError, TypeError):
    """A module the exact export does not know; the message names it and its path."""


@contextlib.contextmanager
def evaluation_mode(module: nn.Module):
    """Put ``module`` in eval mode and ``no_grad`` for the block, then restore its modes.

    Example:
        >>> m = nn.Linear(1, 1)
        >>> with evaluation_mode(m):
        ...     m.training
        False
        >>> m.training
        True
    """
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        for m, mode in modes:
            m.training = mode


def leaves(module: nn.Module, prefix: str = "") -> Iterator[tuple]:
    """``(path, module)`` for the layers of nested ``nn.Sequential`` containers, in order.

    Example:
        >>> [p for p, _ in leaves(nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU())))]
        ['0', '1.0']
    """
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            yield from leaves(child, f"{prefix}{name}.")
    else:
        yield prefix.rstrip(".") or type(module).__name__, module


def _dense(W: torch.Tensor, b: Optional[torch.Tensor]) -> Affine:
    return Affine(W.detach().cpu().double().numpy(), None if b is None else b.detach().cpu().double().numpy())


def _selection(rows: int, cols: int) -> list:
    return [[int(i == j) for j in range(cols)] for i in range(rows)]


def _sll(layer: L.SLLLinear) -> list:
    """``x - 2 W T^-1 ReLU(W^T x + b)`` as Affine([I; W^T]), identity|ReLU, Affine([I, -2 W T^-1])."""
    n, m = layer.features, layer.hidden
    W = [[float(v) for v in row] for row in layer.W.detach().cpu().tolist()]
    t = [float(v) for v in layer.scales().detach().cpu().tolist()]
    lift = Affine(_selection(n, n) + [[W[i][j] for i in range(n)] for j in range(m)], [0.0] * n + layer.bias.detach().cpu().tolist())
    act = exact.Elementwise([exact.identity()] * n + [exact.relu()] * m)
    down = Affine([[int(i == j) for j in range(n)] + [-2 * Fraction(W[i][j]) / Fraction(t[j]) for j in range(m)] for i in range(n)])
    return [lift, act, down]


def _convert(path: str, m: nn.Module, width: Optional[int]) -> tuple:
    """Exact layers for one torch module and the width after it."""
    if isinstance(m, L.LipschitzLinear):
        return [_dense(m.weight_matrix(), m.bias)], m.out_features
    if isinstance(m, nn.Linear):
        return [_dense(m.weight, m.bias)], m.out_features
    if isinstance(m, L.SLLLinear):
        return _sll(m), m.features
    if isinstance(m, (L.ZeroChannelConcatenation, L.FirstChannels)):
        if width is None:
            raise UnsupportedModuleError(f"{type(m).__name__} at '{path}' needs a known input width; put a Linear layer first or pass input_dim")
        rows = m.channels
        if isinstance(m, L.ZeroChannelConcatenation) and rows < width or isinstance(m, L.FirstChannels) and rows > width:
            raise UnsupportedModuleError(f"{type(m).__name__}({rows}) at '{path}' does not fit width {width}")
        return [Affine(_selection(rows, width))], rows
    if isinstance(m, A.AbsIdentity):
        return [m.to_cpwl(width)], width
    if isinstance(m, nn.LeakyReLU) and abs(m.negative_slope) <= 1:
        return [A.LeakyReLU(m.negative_slope).to_cpwl()], width
    if hasattr(m, "to_cpwl") and not isinstance(m, (L.AOLConv2d,)):
        return [m.to_cpwl()], width
    if type(m) in _ELEMENTWISE_TORCH:
        factory = _ELEMENTWISE_TORCH[type(m)]
        return ([exact.Elementwise(factory())] if factory else []), width
    foreign = adapters.convert(path, m, width)
    if foreign is not None:
        return foreign
    raise UnsupportedModuleError(
        f"{type(m).__name__} at '{path}' is not supported by the exact export (dense layers, nets "
        "activations, ReLU/LeakyReLU, the channel helpers and the activations of deel-torchlip, "
        "orthogonium and monotonicnetworks are; convolutional models go through restrict_to_line)"
    )


def to_network(module: nn.Module, input_dim: Optional[int] = None) -> Network:
    """The exact :class:`cpwl.Network` of a dense torch model (``nn.Sequential``, nested
    sequentials, the models of :mod:`nets`), with every deployed weight converted exactly.

    ``input_dim`` is needed only when the model starts with a width-dependent helper
    (``ZeroChannelConcatenation``) before any linear layer; :class:`nets.LipschitzMLP` with
    ``embed=True`` records it.

    Example:
        >>> import nets
        >>> net = to_network(nets.LipschitzMLP([2, 4, 1], activation="maxmin"))
        >>> [type(layer).__name__ for layer in net.layers]
        ['Affine', 'MaxMin', 'Affine']
    """
    width = input_dim if input_dim is not None else getattr(module, "input_dim", None)
    layers = []
    with evaluation_mode(module):
        for path, leaf in leaves(module):
            converted, width = _convert(path, leaf, width)
            layers.extend(converted)
    try:
        return Network(layers)
    except CPWLError as err:
        raise UnsupportedModuleError(f"the exported layers do not fit together: {err}") from err


def to_cpwl(module: nn.Module, domain=None, canonical: bool = True):
    """The exact function of a scalar-input model on ``domain`` (a CPWL, or a CPWLMap for
    several outputs).

    Example:
        >>> model = nn.Sequential(nn.Linear(1, 1), nn.ReLU())
        >>> with torch.no_grad():
        ...     _ = model[0].weight.fill_(1.0), model[0].bias.fill_(-0.5)
        >>> to_cpwl(model).breakpoints
        (Fraction(1, 2),)
    """
    return to_network(module, input_dim=1).to_cpwl(domain, canonical=canonical)


def _index_map(leaf: nn.Module, shape: tuple) -> tuple:
    """Apply a selection/permutation/padding module to an index tensor: returns the
    ``gather`` index (``None`` for padded zeros) and the output shape."""
    size = math.prod(shape)
    probe = torch.arange(1, size + 1, dtype=torch.float64).reshape(1, *shape)
    out = leaf(probe)[0]
    return [None if v == 0 else int(v) - 1 for v in out.flatten().tolist()], tuple(out.shape)


def _channel_last(shape: tuple) -> list:
    """Gather index from ``(C, H, W)`` order to ``(H, W, C)`` order."""
    c, h, w = shape
    return [ch * h * w + p for p in range(h * w) for ch in range(c)]


def _spread(layer, shape: tuple):
    """An exact channel-wise layer for a ``(C, H, W)`` feature map, as one flat layer."""
    c, h, w = shape
    if isinstance(layer, exact.Elementwise):
        if layer.width is None:
            return layer
        return exact.Elementwise([f for f in layer.functions for _ in range(h * w)])
    raise UnsupportedModuleError(f"{layer!r} cannot be spread over a feature map")


def _grouped(F, shape: tuple, layer, order: list):
    """Apply an exact group layer to the channels of every pixel: reorder to pixel-major with
    the channels in ``order``, apply, and restore."""
    c, h, w = shape
    forward = [ch * h * w + p for p in range(h * w) for ch in order]
    inverse = [0] * len(forward)
    for pos, src in enumerate(forward):
        inverse[src] = pos
    return F.gather(forward).apply(layer).gather(inverse)


def _plain_conv_checked(path: str, conv: nn.Conv2d) -> None:
    """Raise unless ``conv`` is a stride-1, undilated, ungrouped "same" convolution with an odd
    square kernel and zero or circular padding."""
    k = conv.kernel_size
    same = conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1 and k[0] == k[1] and k[0] % 2 == 1
    if not same or conv.padding not in ((k[0] // 2, k[1] // 2), "same") or conv.padding_mode not in ("zeros", "circular"):
        raise UnsupportedModuleError(
            f"{type(conv).__name__} at '{path}': only stride-1, undilated, ungrouped 'same' convolutions with odd "
            "kernels and zero or circular padding are supported"
        )


def _plain_conv(path: str, conv: nn.Conv2d, F, shape: tuple) -> tuple:
    """A "same" ``nn.Conv2d`` (or a subclass with a parametrized weight, as in deel-torchlip
    and orthogonium): stride 1, odd square kernel, padding ``k // 2``, no dilation or groups."""
    _plain_conv_checked(path, conv)
    kernel = conv.weight.detach().cpu().tolist()
    bias = [0.0] * conv.out_channels if conv.bias is None else conv.bias.detach().cpu().tolist()
    return F.conv2d(kernel, bias, shape, padding=conv.padding_mode), (conv.out_channels, *shape[1:])


def _feature_map_step(path: str, leaf: nn.Module, F, shape: tuple) -> tuple:
    c = shape[0]
    if isinstance(leaf, L.AOLConv2d):
        kernel = leaf.kernel().detach().cpu().tolist()
        bias = [0.0] * leaf.out_channels if leaf.bias is None else leaf.bias.detach().cpu().tolist()
        return F.conv2d(kernel, bias, shape, padding="circular"), (leaf.out_channels, *shape[1:])
    if isinstance(leaf, nn.Conv2d):
        return _plain_conv(path, leaf, F, shape)
    if isinstance(leaf, (L.ZeroChannelConcatenation, L.FirstChannels, L.ConcatenationPooling2D, nn.Flatten)):
        index, out_shape = _index_map(leaf, shape)
        return F.gather(index), out_shape
    if isinstance(leaf, (nn.Identity, nn.Dropout)):
        return F, shape
    if isinstance(leaf, A.MaxMin):
        order = list(range(c)) if leaf.pairing == "adjacent" else [j for i in range(c // 2) for j in (i, i + c // 2)]
        return _grouped(F, shape, exact.MaxMin("adjacent", leaf.order), order), shape
    if isinstance(leaf, A.GroupSort):
        return _grouped(F, shape, leaf.to_cpwl(), list(range(c))), shape
    if isinstance(leaf, A.Householder):
        normals = [[float(v) for v in row] for row in leaf.normals().detach().cpu().tolist()]
        return _grouped(F, shape, exact.Householder(normals * (shape[1] * shape[2])), list(range(c))), shape
    if isinstance(leaf, A.AbsIdentity):
        return F.apply(_spread(leaf.to_cpwl(c), shape)), shape
    layers, _ = _convert(path, leaf, c)
    for layer in layers:
        F = F.apply(_spread(layer, shape))
    return F, shape


def restrict_to_line(module: nn.Module, start, end, canonical: bool = False) -> "cpwl.CPWLMap":
    """The exact outputs of a model along ``start + t (end - start)``, ``t`` in ``[0, 1]``,
    for dense models and convolutional ones (``AOLConv2d``, "same" ``nn.Conv2d`` layers and
    their parametrized subclasses, the channel helpers, channel-wise activations);
    convolutions act on patches, never as dense matrices.  By
    default every breakpoint where some neuron changes piece is kept (``canonical=True``
    keeps only the outputs' kinks).  ``start``/``end`` are tensors of one input's shape (no
    batch dimension); their float values are taken exactly.

    Example:
        >>> model = nn.Sequential(nn.Linear(2, 1), nn.ReLU())
        >>> with torch.no_grad():
        ...     _ = model[0].weight.fill_(1.0), model[0].bias.zero_()
        >>> restrict_to_line(model, torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0])).breakpoints
        (Fraction(1, 2),)
    """
    a, b = torch.as_tensor(start), torch.as_tensor(end)
    if a.shape != b.shape:
        raise ValueError(f"start and end must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    shape = tuple(a.shape)
    F = cpwl.CPWLMap.line(a.flatten().tolist(), b.flatten().tolist())
    with evaluation_mode(module):
        for path, leaf in leaves(module):
            try:
                if len(shape) == 1:
                    layers, width = _convert(path, leaf, shape[0])
                    for layer in layers:
                        F = layer.apply_map(F) if isinstance(layer, Affine) else F.apply(layer)
                    shape = (width,)
                else:
                    F, shape = _feature_map_step(path, leaf, F, shape)
            except CPWLError as err:
                raise type(err)(f"{type(leaf).__name__} at '{path}': {err}") from err
    return F.canonical() if canonical else F
