"""The benchmark networks: scalar-input MLPs with float32 weights, as exact cpwl networks and
as torch modules with the same weights."""

from __future__ import annotations

import numpy as np
import torch

from cpwl import Affine, Network, activations

INITS = ("spectral", "he")


def mlp_weights(width: int, depth: int, init: str, seed: int = 0, inputs: int = 1, outputs: int = 1) -> list:
    """``[(W, b), ...]`` float32 for an ``inputs -> width^depth -> outputs`` MLP.  ``"spectral"``: Gaussian
    weights scaled to spectral norm just below 1 (a 1-Lipschitz net); ``"he"``: He-normal
    weights (std ``sqrt(2 / fan_in)``, an unconstrained net).  Biases: ``0.1 * N(0, 1)``."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    rng = np.random.default_rng(seed)
    dims = [inputs] + [width] * depth + [outputs]
    layers = []
    for n_in, n_out in zip(dims, dims[1:]):
        W = rng.standard_normal((n_out, n_in))
        W = W / (np.linalg.norm(W, 2) * 1.0001) if init == "spectral" else W * np.sqrt(2.0 / n_in)
        layers.append((W.astype(np.float32), (0.1 * rng.standard_normal(n_out)).astype(np.float32)))
    return layers


def exact_network(weights: list, activation: str = "relu") -> Network:
    """The exact network with ``activation`` (relu, abs, maxmin, groupsort, n) between layers."""
    width = weights[0][0].shape[0]
    layers = []
    for k, (W, b) in enumerate(weights):
        layers.append(Affine(W, b))
        if k < len(weights) - 1:
            layers.append(_activation(activation, width))
    return Network(layers)


def _activation(name: str, width: int):
    if name == "relu":
        return activations.Elementwise(activations.relu())
    if name == "abs":
        return activations.Elementwise(activations.abs_())
    if name == "maxmin":
        return activations.MaxMin()
    if name == "groupsort":
        return activations.GroupSort(4)
    if name == "n":
        thetas = np.random.default_rng(width).uniform(-1, 1, (width, 2)).astype(np.float32)
        return activations.NLayer([tuple(sorted(pair)) for pair in thetas.tolist()])
    raise ValueError(f"unknown activation {name!r}")


def torch_relu_mlp(weights: list) -> torch.nn.Sequential:
    """The ReLU MLP as a float32 torch module (for regioncam)."""
    modules = []
    for k, (W, b) in enumerate(weights):
        linear = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        modules.append(linear)
        if k < len(weights) - 1:
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)
