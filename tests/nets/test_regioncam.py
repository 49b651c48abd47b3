"""Line restriction against a real peer: regioncam (Rust, float32) finds the same breakpoints
on ReLU MLPs as our exact restrict_to_line, to float32 precision."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from cpwl import Affine
from nets.export import restrict_to_line, to_network

regioncam = pytest.importorskip("regioncam")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("widths", [(2, 16, 3), (2, 16, 16, 3), (3, 32, 32, 32, 2)])
def test_same_breakpoints_as_regioncam(seed, widths):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(widths, widths[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    rng = np.random.default_rng(seed)
    p0, p1 = rng.standard_normal((2, widths[0])).astype(np.float32)
    cam = regioncam.Regioncam1D.through_points(np.stack([p0, p1]))
    cam.add(regioncam.nn.convert(model))
    u = np.asarray(cam.inputs, dtype=np.float64)  # signed distance from the midpoint along the line
    mid, d = (p0.astype(np.float64) + p1) / 2, p1.astype(np.float64) - p0
    half = u[-1] / np.linalg.norm(d)
    F = restrict_to_line(model.double(), torch.tensor(mid - half * d), torch.tensor(mid + half * d))
    ours = np.array([(2 * float(t) - 1) * u[-1] for t in F.breakpoints])
    assert len(ours) == len(u) - 2
    assert np.max(np.abs(ours - u[1:-1]), initial=0.0) <= 1e-5 * max(1.0, abs(u[-1]))
    # and every exact breakpoint is one: some neuron's pre-activation is exactly zero there
    net = to_network(model.double())
    a, b = [Fraction(v) for v in (mid - half * d).tolist()], [Fraction(v) for v in (mid + half * d).tolist()]
    for t in F.breakpoints:
        values, zero = [x + t * (y - x) for x, y in zip(a, b)], False
        for layer in net.layers:
            zero = zero or (not isinstance(layer, Affine) and 0 in values)
            values = list(layer(values))
        assert zero
