"""Models: a Lipschitz MLP for 1-D and tabular inputs, and the paper's simplified conv net."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from cpwl.errors import InvalidArgument
from nets import activations as A
from nets import layers as L

__all__ = ["ACTIVATIONS", "LAYERS", "make_activation", "LipschitzMLP", "SimplifiedConvNet"]

#: Activation names accepted by the models, mapped to a factory ``channels -> module``.
ACTIVATIONS: dict = {
    "relu": lambda c: nn.ReLU(),
    "abs": lambda c: A.Abs(),
    "absid": lambda c: A.AbsIdentity(),
    "maxmin": lambda c: A.MaxMin(),
    "groupsort": lambda c: A.GroupSort(4 if c % 4 == 0 else 2),
    "householder": lambda c: A.Householder(c),
    "n": lambda c: A.NActivation(c),
    "spline": lambda c: A.LinearSpline(c),
    "leaky_relu": lambda c: A.LeakyReLU(0.1),
}

#: Dense layer names: ``plain`` is an unconstrained ``nn.Linear`` (a baseline, not Lipschitz).
LAYERS: dict = {
    "aol": L.AOLLinear,
    "orthogonal": L.OrthogonalLinear,
    "bjorck": L.BjorckLinear,
    "frobenius": L.FrobeniusLinear,
    "spectral": L.SpectralNormLinear,
    "plain": nn.Linear,
}


def make_activation(name_or_factory, channels: int) -> nn.Module:
    """An activation module from a name of :data:`ACTIVATIONS` or a factory ``channels -> module``.

    Examples:
        >>> make_activation("n", 4)
        NActivation(channels=4, lr_factor=1.0)
    """
    if callable(name_or_factory):
        return name_or_factory(channels)
    if name_or_factory not in ACTIVATIONS:
        raise InvalidArgument(
            f"unknown activation {name_or_factory!r}; choose from {sorted(ACTIVATIONS)} or pass a factory"
        )
    return ACTIVATIONS[name_or_factory](channels)


class LipschitzMLP(nn.Sequential):
    """Dense layers of the given ``widths`` (``[in, hidden..., out]``) with an activation
    between them.  ``embed=True`` follows the paper's toy model: zero-pad the input to the
    first hidden width, square layers, and keep the first ``out`` channels.

    Examples:
        >>> import torch
        >>> model = LipschitzMLP([1, 8, 8, 1], activation="n", layer="aol")
        >>> model(torch.zeros(5, 1)).shape
        torch.Size([5, 1])
    """

    def __init__(self, widths: Sequence[int], activation="maxmin", layer: str = "aol", embed: bool = False):
        if len(widths) < 2:
            raise InvalidArgument(f"widths needs at least an input and an output size, got {list(widths)}")
        if layer not in LAYERS:
            raise InvalidArgument(f"unknown layer {layer!r}; choose from {sorted(LAYERS)}")
        dense: Callable = LAYERS[layer]
        modules = []
        dims = list(widths)
        if embed:
            hidden = max(dims[1:-1] or [dims[-1]])
            modules.append(L.ZeroChannelConcatenation(hidden))
            dims = [hidden] * len(dims)
        for k in range(len(dims) - 1):
            modules.append(dense(dims[k], dims[k + 1]))
            if k < len(dims) - 2:
                modules.append(make_activation(activation, dims[k + 1]))
        if embed:
            modules.append(L.FirstChannels(widths[-1]))
        super().__init__(*modules)
        #: Input width (lets the exact export size the zero-channel embedding).
        self.input_dim = widths[0]
        #: Constructor arguments, saved with the weights by :func:`nets.model_file.save`.
        self.spec = {"widths": list(widths), "activation": activation, "layer": layer, "embed": embed}


class SimplifiedConvNet(nn.Sequential):
    """The paper's image architecture (docs/theory.md §7.2), scaled by its arguments: zero-pad the
    input channels to ``base_width``, a 1x1 AOL conv and an activation; ``blocks`` blocks of
    ``layers_per_block`` x (AOL conv ``kernel_size``, activation), each ending with
    FirstChannels(c/2) and 2x2 concatenation pooling (channels double, size halves); a 1x1
    conv head, FirstChannels(num_classes), flatten.  The input size must be ``2**blocks``.

    Examples:
        >>> import torch
        >>> net = SimplifiedConvNet(1, 10, base_width=8, blocks=3, layers_per_block=1)
        >>> net(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        base_width: int = 16,
        blocks: int = 3,
        layers_per_block: int = 2,
        activation="maxmin",
        kernel_size: int = 3,
        pooling_order: str = "window_major",
    ):
        if base_width < in_channels:
            raise InvalidArgument(f"base_width {base_width} must be at least in_channels {in_channels}")
        c = base_width
        modules = [
            L.ZeroChannelConcatenation(c),
            L.AOLConv2d(c, c, 1, init="orthogonal"),
            make_activation(activation, c),
        ]
        for b in range(blocks):
            k = kernel_size if b < blocks - 1 else 1
            for _ in range(layers_per_block):
                modules += [L.AOLConv2d(c, c, k), make_activation(activation, c)]
            modules += [L.FirstChannels(c // 2), L.ConcatenationPooling2D(pooling_order)]
            c *= 2
        if c < num_classes:
            raise InvalidArgument(f"the head has {c} channels, fewer than num_classes={num_classes}; raise base_width")
        modules += [L.AOLConv2d(c, c, 1, init="orthogonal"), L.FirstChannels(num_classes), nn.Flatten()]
        super().__init__(*modules)
        #: Constructor arguments, saved with the weights by :func:`nets.model_file.save`.
        self.spec = {
            "in_channels": in_channels,
            "num_classes": num_classes,
            "base_width": base_width,
            "blocks": blocks,
            "layers_per_block": layers_per_block,
            "activation": activation,
            "kernel_size": kernel_size,
            "pooling_order": pooling_order,
        }
        #: Input shape ``(channels, height, width)``.
        self.input_shape = (in_channels, 2**blocks, 2**blocks)

    def load_paper_state_dict(self, state_dict: dict) -> None:
        """Load a ``state_dict`` of the N-activation paper's ``SimplifiedConvNet`` (its layer
        names, AOL weights stored as ``parametrizations.weight.original``) into this model,
        which must have the same architecture: layers are matched in order and, within a
        layer, kernels, biases and thetas by kind; every shape is checked.

        Examples:
            >>> import torch
            >>> ours = SimplifiedConvNet(1, 4, base_width=4, blocks=1, layers_per_block=1, activation="n")
            >>> theirs = {k.replace(".P", ".parametrizations.weight.original"): v for k, v in ours.state_dict().items()}
            >>> ours.load_paper_state_dict(theirs)
        """

        def layers(entries) -> list:
            """``[(layer prefix, {kind: (key, tensor)})]`` in order of first appearance."""
            grouped = {}
            for key, value in entries.items():
                parametrized = key.endswith(".parametrizations.weight.original")
                prefix, _, name = key.rpartition(".")
                if parametrized:
                    prefix, name = key.removesuffix(".parametrizations.weight.original"), "weight"
                kind = "weight" if name in ("weight", "P") else name
                if kind in ("weight", "bias", "theta"):
                    grouped.setdefault(prefix, {})[kind] = (key, value)
            return list(grouped.items())

        theirs, ours = layers(state_dict), layers(self.state_dict())
        if [sorted(k) for _, k in theirs] != [sorted(k) for _, k in ours]:
            raise InvalidArgument(
                "the paper's state_dict does not have this model's layers (kernels, biases, thetas) in this "
                "order: the architectures differ"
            )
        mapped = {}
        for (_, their_layer), (_, our_layer) in zip(theirs, ours):
            for kind, (our_key, target) in our_layer.items():
                their_key, value = their_layer[kind]
                if value.shape != target.shape:
                    raise InvalidArgument(
                        f"{their_key} {tuple(value.shape)} does not fit {our_key} {tuple(target.shape)}: the "
                        "architectures differ"
                    )
                mapped[our_key] = value
        self.load_state_dict(mapped)
