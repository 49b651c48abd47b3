"""Proven per-module Lipschitz bounds of a deployed model (l2, l1 or l-infinity), and their
product.

Each module's bound comes from the translation table (:mod:`nets.semantics`): a proven bound
registered with the module (AOL's weighted Schur test, the SLL condition), else the product
of its exact layers' own proven bounds (:meth:`cpwl.Layer.lipschitz_bound`: exact Schur/PSD
tests for dense layers, a rounding-bounded Schur test for convolutions, exact slopes for
activations; exact row and column sums in l-infinity and l1).  Power iteration is never
used, and no module gets a bound it was not proven to have: an exact layer type without a
bound cannot exist.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.tensor([[0.6, 0.8], [-0.8, 0.6]]))
    >>> cert = lipschitz_certificate(model)
    >>> [layer.ok for layer in cert.layers]
    [False, True]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from torch import nn

from cpwl.layer import norm_name
from nets.semantics import translate

__all__ = ["LayerCertificate", "LipschitzCertificate", "lipschitz_certificate"]


@dataclass(frozen=True)
class LayerCertificate:
    """A proven upper ``bound`` on one module's Lipschitz constant and how it was proven."""

    path: str
    module: str
    method: str
    bound: Fraction

    @property
    def ok(self) -> bool:
        """Whether the module is proven 1-Lipschitz."""
        return self.bound <= 1

    @property
    def excess(self) -> Fraction:
        """``max(0, bound - 1)``: how far above 1 the proven bound is."""
        return max(Fraction(0), self.bound - 1)


@dataclass(frozen=True)
class LipschitzCertificate:
    """Per-module certificates and their product, a proven Lipschitz bound of the model in
    ``norm`` (2, 1 or ``"inf"``; the same norm on inputs and outputs).

    Examples:
        >>> cert = lipschitz_certificate(nn.Sequential(nn.Identity(), nn.ReLU()), input_shape=(3,))
        >>> cert.bound, len(cert.layers)
        (Fraction(1, 1), 2)
    """

    layers: tuple
    norm: object = 2

    @property
    def bound(self) -> Fraction:
        """The product of the modules' proven bounds."""
        return math.prod((layer.bound for layer in self.layers), start=Fraction(1))

    def table(self) -> str:
        """One line per module: path, module, bound (and excess), method."""
        lines = [f"{'path':<10} {'module':<24} {'bound':<24} method"]
        for c in self.layers:
            shown = "1" if c.bound == 1 else f"{float(c.bound):.12g}" + ("" if c.ok else f" (+{float(c.excess):.3g})")
            lines.append(f"{c.path:<10} {c.module:<24} {shown:<24} {c.method}")
        lines.append(
            f"product: {float(self.bound):.12g} in the l{self.norm} norm "
            f"({sum(c.ok for c in self.layers)}/{len(self.layers)} modules proven <= 1)"
        )
        return "\n".join(lines)

    def plot(self, ax=None):
        """Bars of each module's proven bound (green: proven <= 1, red: above); returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(max(4, 0.35 * len(self.layers)), 3))
        bounds = [float(c.bound) for c in self.layers]
        ax.bar(range(len(bounds)), bounds, color=["tab:green" if c.ok else "tab:red" for c in self.layers])
        ax.axhline(1.0, color="0.3", lw=0.8)
        ax.set_xticks(range(len(bounds)), [c.path for c in self.layers], rotation=90, fontsize=7)
        ax.set_ylabel("proven Lipschitz bound")
        low, high = min(bounds), max(bounds)
        ax.set_ylim(min(0.0, low), max(1.05, high * 1.02))
        return ax


def lipschitz_certificate(module: nn.Module, input_shape=None, norm=2) -> LipschitzCertificate:
    """Proven per-module Lipschitz bounds of the deployed model in ``norm`` (2, 1 or
    ``"inf"``) and their product, for per-sample inputs of ``input_shape`` (default: what the
    model records or its first dense layer takes; convolutional models need it unless they
    record it).

    Examples:
        >>> import nets
        >>> cert = lipschitz_certificate(nets.LipschitzMLP([2, 4, 1], activation="n", layer="aol"))
        >>> cert.bound <= 1
        True
        >>> import torch
        >>> layer = nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = layer.weight.copy_(torch.tensor([[0.5, -0.25]]))
        >>> lipschitz_certificate(layer, norm="inf").bound     # largest row sum of |W|
        Fraction(3, 4)
    """
    norm = norm_name(norm)
    translation = translate(module, input_shape, bounds=True, exact=False, norm=norm)
    return LipschitzCertificate(
        tuple(LayerCertificate(s.path, s.module, s.bound.method, s.bound.value) for s in translation.steps), norm
    )
