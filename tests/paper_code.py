"""A re-creation of the N-activation paper's modules (``berndprach/NActivation``, not on the
package index) with the same class names, attributes, parameter layout and behaviour, written
for these tests: their models must export and certify as written."""

from collections import OrderedDict

import torch
from torch import nn
from torch.nn.utils.parametrize import register_parametrization


def _sorted_pieces(x, theta):
    low, high = torch.sort(theta, dim=1).values.unbind(1)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    low, high = low.reshape(shape), high.reshape(shape)
    middle = torch.where(torch.less(x, low), x - 2 * low, -x)
    return torch.where(torch.less(x, high), middle, x - 2 * high)


class BaseNActivation(nn.Module):
    def __init__(self, in_channels, initializer, trainable=True, lr_factor=1.0):
        super().__init__()
        self.sqrt_lr_factor = lr_factor**0.5
        self.theta = nn.Parameter(initializer((in_channels, 2)) / self.sqrt_lr_factor, requires_grad=trainable)

    def forward(self, x):
        return _sorted_pieces(x, self.theta * self.sqrt_lr_factor)


class NActivation(BaseNActivation):
    def __init__(self, *args, theta_init_values=(-1.0, 0.0, 0.0, 0.0), **kwargs):
        values = torch.tensor(theta_init_values)
        super().__init__(
            *args, initializer=lambda shape: values.repeat(shape[0] * 2 // len(values)).reshape(shape), **kwargs
        )


class MaxMin(nn.Module):
    @staticmethod
    def forward(x):
        pairs = x.view(x.shape[0], x.shape[1] // 2, 2, *x.shape[2:])
        top, bottom = pairs.max(dim=2, keepdim=True).values, pairs.min(dim=2, keepdim=True).values
        return torch.cat((top, bottom), dim=2).view(*x.shape)


class AbsoluteIdentity(nn.Module):
    @staticmethod
    def forward(x, axis=1):
        first, second = x.split(x.shape[axis] // 2, axis)
        return torch.cat([first.abs(), second], dim=axis)


class AbsoluteValue(nn.Module):
    def forward(self, x):
        return x.abs()


class FirstChannels(nn.Module):
    def __init__(self, nrof_channels):
        super().__init__()
        self.nrof_channels = nrof_channels

    def forward(self, x):
        return x[:, : self.nrof_channels]


class ZeroChannelConcatenation(nn.Module):
    def __init__(self, concatenate_to):
        super().__init__()
        self.concatenate_to = concatenate_to

    def forward(self, x):
        missing = max(self.concatenate_to - x.shape[1], 0)
        return torch.cat((x, torch.zeros(x.shape[0], missing, *x.shape[2:], device=x.device)), 1)


class ConcatenationPooling2D(nn.Module):
    """Window-major: output channel ``(dy * pw + dx) * C + c`` holds ``x[c, ph * i + dy, pw * j + dx]``."""

    def __init__(self, window_shape):
        super().__init__()
        self.window_shape = window_shape

    def forward(self, x):
        b, c, h, w = x.shape
        ph, pw = self.window_shape
        blocks = x.view(b, c, h // ph, ph, w // pw, pw).permute(0, 3, 5, 1, 2, 4)
        return blocks.reshape(b, c * ph * pw, h // ph, w // pw)


class _AOLConvScaling(nn.Module):
    def forward(self, weight):
        k1, k2 = weight.shape[2:]
        flipped = weight.transpose(0, 1)
        correlation = nn.functional.conv2d(flipped, flipped, padding=(k1 - 1, k2 - 1))
        norms = correlation.abs().sum(dim=(1, 2, 3), keepdim=True).transpose(0, 1)
        return weight / (norms + 1e-6).sqrt()


class _AOLLinearScaling(nn.Module):
    def forward(self, weight):
        return weight / ((weight.T @ weight).abs().sum(dim=0, keepdim=True) + 1e-6).sqrt()


class AOLConv2d(nn.Conv2d):
    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        initializer=None,
        padding="same",
        padding_mode="circular",
        **kwargs,
    ):
        super().__init__(in_channels, out_channels, kernel_size, padding=padding, padding_mode=padding_mode, **kwargs)
        (initializer or nn.init.dirac_)(self.weight)
        nn.init.zeros_(self.bias)
        register_parametrization(self, "weight", _AOLConvScaling())


class AOLLinear(nn.Linear):
    def __init__(self, in_features, out_features, initializer=None, **kwargs):
        super().__init__(in_features, out_features, **kwargs)
        (initializer or nn.init.eye_)(self.weight)
        nn.init.zeros_(self.bias)
        register_parametrization(self, "weight", _AOLLinearScaling())


class ConvBlock(nn.Sequential):
    def __init__(self, conv_cls, activation_cls, in_channels, nrof_convolutions, kernel_size, with_pooling=True):
        layers = []
        for _ in range(nrof_convolutions):
            layers += [conv_cls(in_channels, in_channels, kernel_size), activation_cls(in_channels)]
        if with_pooling:
            layers += [FirstChannels(in_channels // 2), ConcatenationPooling2D((2, 2))]
        super().__init__(*layers)


class SimplifiedConvNet(nn.Sequential):
    """The paper's image model with its layer names (ZeroConcatenation, FirstConv, Block1...)."""

    def __init__(
        self,
        activation_cls,
        conv_cls=AOLConv2d,
        base_width=16,
        nrof_blocks=5,
        nrof_layers_per_block=5,
        kernel_size=3,
        nrof_classes=10,
    ):
        layers = [
            ("ZeroConcatenation", ZeroChannelConcatenation(base_width)),
            ("FirstConv", conv_cls(base_width, base_width, 1)),
            ("FirstActivation", activation_cls(base_width)),
        ]
        for i in range(nrof_blocks):
            k = kernel_size if i < nrof_blocks - 1 else 1
            layers.append(
                (f"Block{i + 1}", ConvBlock(conv_cls, activation_cls, base_width * 2**i, nrof_layers_per_block, k))
            )
        width = base_width * 2**nrof_blocks
        layers.append(
            ("ClassificationHead", nn.Sequential(conv_cls(width, width, 1), FirstChannels(nrof_classes), nn.Flatten()))
        )
        super().__init__(OrderedDict(layers))
