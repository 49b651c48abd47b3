"""Every torch.export operator the importer accepts, against the module's own float64
forward pass on dyadic values (small enough that float64 is exact: an equality)."""

import io
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nets.pt2_import import restrict_to_line


class Ops(nn.Module):
    def __init__(self, body, shape):
        super().__init__()
        self.body, self.shape = body, shape
        self.register_buffer("c", torch.arange(1, 1 + int(torch.tensor(shape).prod())).reshape(shape).double() / 4 - 1)
        self.register_buffer("W", torch.tensor([[0.5, -1.0, 0.25], [1.0, 0.75, -0.5]], dtype=torch.float64))

    def forward(self, x):
        return self.body(self, x)


CASES = {
    "relu/abs/leaky_relu/neg": ((3,), lambda m, x: F.leaky_relu(torch.relu(-x) + x.abs(), 0.25)),
    "clamp/hardtanh": ((3,), lambda m, x: F.hardtanh(torch.clamp(x, min=-0.5), -0.25, 0.75)),
    "linear/addmm/mm/matmul": (
        (3,),
        lambda m, x: (
            F.linear(x, m.W, m.W[:, 0])
            + torch.addmm(m.W[:, 1], x, m.W.T, beta=0.5, alpha=2.0)
            + x.mm(m.W.T)
            + x.matmul(m.W.T)
        ),
    ),
    "add/sub alpha, mul, div": (
        (2, 2),
        lambda m, x: (
            torch.sub(torch.add(x, m.c, alpha=0.5), x * 0.25, alpha=2.0)
            / torch.tensor([[2.0, 4.0], [0.5, -1.0]], dtype=torch.float64)
        ),
    ),
    "maximum/minimum": ((4,), lambda m, x: torch.minimum(torch.maximum(x, -x), m.c)),
    "conv2d strided, dilated, grouped": (
        (2, 4, 4),
        lambda m, x: F.conv2d(
            x, torch.arange(-4, 4, dtype=torch.float64).reshape(2, 1, 2, 2) / 4, None, 2, 1, (1, 2), 2
        ),
    ),
    "conv2d 'same'": (
        (1, 3, 3),
        lambda m, x: F.conv2d(x, torch.ones(1, 1, 2, 3, dtype=torch.float64) / 4, padding="same"),
    ),
    "sort values": ((4,), lambda m, x: torch.sort(x, descending=True).values),
    "less/where (the paper's N-activation)": ((2, 2), lambda m, x: torch.where(torch.less(x, m.c), x - 2 * m.c, -x)),
    "gt/ge/le with where": (
        (4,),
        lambda m, x: torch.where(x > 0.5, x - 1.0, torch.where(x <= -0.5, -x - 1.0, torch.where(x >= 0.0, -x, x))),
    ),
    "max.dim/min.dim (the paper's MaxMin)": (
        (4, 1, 1),
        lambda m, x: torch.cat(
            (
                torch.max(x.view(1, 2, 2, 1, 1), dim=2, keepdim=True)[0],
                torch.min(x.view(1, 2, 2, 1, 1), dim=2, keepdim=True)[0],
            ),
            dim=2,
        ).view(1, 4, 1, 1),
    ),
    "amax/amin": ((2, 3), lambda m, x: torch.cat([x.amax(dim=2), x.amin(dim=(1, 2), keepdim=False)[:, None]], dim=1)),
    "index ops": (
        (2, 3),
        lambda m, x: torch.cat([x.flip(-1), F.pad(x, (0, 0, 1, 0)), x.transpose(1, 2).reshape(1, 2, 3)], dim=1)[
            :, 1:, ::2
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_operator_matches_the_forward_pass(case):
    shape, body = CASES[case]
    module = Ops(body, shape).eval()
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(module, (torch.zeros(1, *shape, dtype=torch.float64),)), buffer)
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        x = torch.randint(-8, 9, (1, *shape), generator=generator).double() / 8
        with torch.no_grad():
            want = module(x)[0].flatten().tolist()
        assert restrict_to_line(buffer.getvalue(), x[0], x[0] + 1)(0) == tuple(Fraction(v) for v in want), case


class Jump(nn.Module):
    def forward(self, x):
        return torch.where(x < 0, x, x + 1)  # not continuous: no exact CPWL meaning


def test_a_selection_that_jumps_is_refused():
    from cpwl import UnsupportedOperatorError

    buffer = io.BytesIO()
    torch.export.save(torch.export.export(Jump().eval(), (torch.zeros(1, 1, dtype=torch.float64),)), buffer)
    with pytest.raises(UnsupportedOperatorError, match="jumps"):
        restrict_to_line(buffer.getvalue(), [-1.0], [1.0])
    assert restrict_to_line(buffer.getvalue(), [0.5], [1.0]).dim == 1  # no switch on this segment: fine
