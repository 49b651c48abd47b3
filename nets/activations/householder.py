"""The Householder activation on channel pairs (Singla et al.), one learnable angle per pair."""

from __future__ import annotations

import torch
from torch import nn

from cpwl.errors import ShapeError
from nets._checks import channels_of, finite, per_channel
from nets.semantics import blocks
from nets.semantics.registry import register

__all__ = ["Householder"]


class Householder(nn.Module):
    """On each adjacent channel pair ``z``, with ``v = (cos t, sin t)``: ``z`` if ``v·z >= 0``,
    else the reflection ``z - 2 (v·z) v``.  ``t = -pi/4`` gives MaxMin (max first).

    Examples:
        >>> import math
        >>> h = Householder(2, angle=-math.pi / 4)
        >>> [round(v, 6) for v in h(torch.tensor([[1.0, 3.0]]))[0].tolist()]
        [3.0, 1.0]
    """

    def __init__(self, channels: int, angle: float = 0.0):
        super().__init__()
        if channels % 2:
            raise ShapeError(f"Householder acts on channel pairs; it needs an even channel count, got {channels}")
        self.channels = channels
        self.angle = nn.Parameter(torch.full((channels // 2,), float(angle)))

    def normals(self) -> torch.Tensor:
        """The unit normals ``v``, shape ``[channels // 2, 2]``."""
        t = self.angle
        return torch.stack([torch.cos(t), torch.sin(t)], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_of(self, x, expected=self.channels)
        pairs = x.unflatten(1, (self.channels // 2, 2))
        v = self.normals().to(x.dtype)
        v0, v1 = per_channel(v[:, 0], pairs[:, :, 0]), per_channel(v[:, 1], pairs[:, :, 0])
        proj = pairs[:, :, 0] * v0 + pairs[:, :, 1] * v1
        shift = 2 * torch.clamp(proj, max=0)
        return torch.stack([pairs[:, :, 0] - shift * v0, pairs[:, :, 1] - shift * v1], dim=2).flatten(1, 2)

    def exact_layer(self):
        """The exact layer of what :meth:`forward` computes: on each pair ``z``,
        ``z - 2 min(0, v·z) v`` with the float normals ``v = (cos t, sin t)`` as computed in
        the parameters' dtype (:meth:`normals`), taken exactly.  A float ``v`` is a unit
        vector only up to rounding, so this map is orthogonal only up to rounding too, and a
        float32 and a float64 copy of one module export two (slightly) different functions:
        each is the one its own forward pass evaluates.  Its exact Lipschitz constant is
        ``max(1, |1 - 2 v·v|)`` (:meth:`cpwl.activations.Householder.lipschitz_bound`)."""
        from cpwl.activations import Householder as ExactHouseholder

        normals = [[float(c) for c in row] for row in finite(self, "angle", self.normals()).detach().cpu().tolist()]
        return ExactHouseholder(normals, normalized=False)


def _householder(module: Householder, shape: tuple) -> tuple:
    from cpwl.activations import Householder as ExactHouseholder

    if blocks.channel_axis(shape, module) != module.channels:
        raise ShapeError(f"Householder was built for {module.channels} channels, got per-sample shape {shape}")
    layer = module.exact_layer()
    if len(shape) == 1:
        return [layer], shape
    normals = [list(v) for v in layer.v] * blocks.numel(shape[1:])
    return blocks.grouped(shape, 0, ExactHouseholder(normals, normalized=False)), shape


register(Householder, exact=_householder)
