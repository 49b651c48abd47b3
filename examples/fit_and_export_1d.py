"""Fit a 1-D N-activation network to a target, then export it exactly.

python examples/fit_and_export_1d.py [--quick]
"""

import sys

import torch

import cpwl
import nets
from nets.export import to_cpwl
from nets.train import fit

quick = "--quick" in sys.argv
torch.manual_seed(0)
x = torch.linspace(-3, 3, 400)[:, None]
y = x - 2 * x.clamp(-0.5, 0.5)  # the N-function
model = nets.LipschitzMLP([1, 16, 16, 1], activation="n", layer="aol", embed=True)
fit(model, x, y, epochs=20 if quick else 400, batch_size=100, lr=0.01, progress=not quick)

f = to_cpwl(model, domain=(-3, 3))  # exact: every breakpoint and slope is a rational
print(f"{len(f.breakpoints)} breakpoints, the first ones:", [float(t) for t in f.breakpoints[:5]])
print("exact Lipschitz constant:", f.lipschitz_constant(), "=", float(f.lipschitz_constant()))
print("exact sup distance to the target:", float(cpwl.sup_distance(f, cpwl.activations.n_function().restrict(-3, 3))))
print("monotone:", f.is_monotone())
