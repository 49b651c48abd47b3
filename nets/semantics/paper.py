"""The N-activation paper's own modules (Prach & Lampert, ``berndprach/NActivation``),
recognised by class name and attributes — that code is not on the package index, so it lives
under whatever package a user vendors it in — and each checked against its own forward pass
before its meaning is used (:func:`nets.semantics.registry.register_lookalike`).

| class (their code) | attributes | meaning |
|---|---|---|
| ``NActivation``, ``BaseNActivation``, ``RandomLogUniformNActivation``, ``RandomNormalNActivation`` | ``theta`` ``[C, 2]``, ``sqrt_lr_factor`` | N-activation with the sorted ``theta * sqrt_lr_factor`` per channel |
| ``MaxMin`` | | ``[max, min]`` of adjacent channel pairs |
| ``AbsoluteIdentity`` | | ``|x|`` on the first half of the channels, the identity on the second |
| ``AbsoluteValue`` | | ``|x|`` |
| ``Identity``, ``FirstChannels``, ``ZeroChannelConcatenation``, ``ConcatenationPooling2D`` | | the entries they move (their own forward on a probe of positions) |

Their ``AOLLinear``/``AOLConv2d`` subclass ``nn.Linear``/``nn.Conv2d`` with a parametrized weight
and their ``SimplifiedConvNet``/``ConvBlock`` subclass ``nn.Sequential``: the stock entries read
them as written.

Examples:
    >>> from torch import nn
    >>> class AbsoluteValue(nn.Module):     # as in the paper's repository
    ...     def forward(self, x):
    ...         return x.abs()
    >>> from nets.export import to_network
    >>> to_network(nn.Sequential(nn.Linear(1, 1), AbsoluteValue())).layers[1]
    Elementwise(CPWL(breakpoints=[0], slopes=[-1, 1], values=[0], domain=(-inf, inf)))
"""

from __future__ import annotations

from cpwl import activations as exact
from cpwl.errors import ShapeError
from nets.semantics import blocks
from nets.semantics.registry import register_lookalike


def _n_activation(module, shape: tuple) -> tuple:
    c = blocks.channel_axis(shape, module)
    theta = blocks.as_numpy(module, "theta", module.theta * module.sqrt_lr_factor)
    if theta.shape != (c, 2):
        raise ShapeError(f"theta has shape {theta.shape}, expected ({c}, 2) for per-sample shape {shape}")
    layer = exact.NLayer([tuple(pair) for pair in theta.tolist()], repeat=blocks.numel(shape[1:]))
    return [layer], shape


def _maxmin(module, shape: tuple) -> tuple:
    if blocks.channel_axis(shape, module) % 2:
        raise ShapeError(f"MaxMin pairs channels, so it needs an even channel count, got per-sample shape {shape}")
    return blocks.grouped(shape, 0, exact.MaxMin("adjacent", "max_first")), shape


def _absolute_identity(module, shape: tuple) -> tuple:
    c = blocks.channel_axis(shape, module)
    if c % 2:
        raise ShapeError(
            f"AbsoluteIdentity splits the channels in halves, so it needs an even count, got per-sample shape {shape}"
        )
    return [blocks.channelwise([exact.abs_()] * (c // 2) + [exact.identity()] * (c // 2), shape)], shape


def _absolute_value(module, shape: tuple) -> tuple:
    return [exact.Elementwise(exact.abs_())], shape


def _moves_entries(module, shape: tuple) -> tuple:
    gather, out_shape = blocks.index_map(module, shape)
    return [gather], out_shape


register_lookalike(
    ("NActivation", "BaseNActivation", "RandomLogUniformNActivation", "RandomNormalNActivation"),
    attributes=("theta", "sqrt_lr_factor"),
    exact=_n_activation,
)
register_lookalike(("MaxMin",), exact=_maxmin)
register_lookalike(("AbsoluteIdentity",), exact=_absolute_identity)
register_lookalike(("AbsoluteValue",), exact=_absolute_value)
register_lookalike(
    ("Identity", "FirstChannels", "ZeroChannelConcatenation", "ConcatenationPooling2D"), exact=_moves_entries
)
