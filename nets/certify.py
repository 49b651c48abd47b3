"""Sound certificates for trained models: per-layer Lipschitz upper bounds proven on the
deployed weights, and certified robust accuracy with the margin's rounding error bounded.

Power iteration is never used.  Dense layers are proven exactly (Schur/AOL row sums of
``W^T W``, else the exact PSD test of ``I - W^T W``, else an exact bracket of ``||W||_2``);
AOL convolutions by the row-sum test on the kernel self-correlation computed in float64 with
its rounding error bounded; SLL layers by the exact PSD test of ``T - W^T W``.

Example:
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
from typing import Optional

import flint
import torch
import torch.nn.functional as F
from torch import nn

from cpwl import Affine, is_psd, operator_norm_at_most, spectral_norm_enclosure, sqrt_upper
from cpwl import _intarrays
from cpwl.activations import ActivationLayer, Elementwise
from nets import activations as A, adapters, layers as L
from nets.export import UnsupportedModuleError, _convert, _plain_conv_checked, evaluation_mode, leaves

__all__ = ["LayerCertificate", "LineCertificate", "LipschitzCertificate", "RobustnessReport", "bounded_forward", "certified_robust_accuracy", "line_certificate", "lipschitz_certificate"]

_U = 2.0**-53  # unit roundoff of float64


def _gamma(n: int) -> float:
    """``n u / (1 - n u)``, inflated slightly so that its own rounding is covered."""
    return n * _U / (1 - n * _U) * (1 + 2.0**-40)


@dataclass(frozen=True)
class LayerCertificate:
    """A proven upper ``bound`` on one layer's l2 Lipschitz constant and how it was proven."""

    path: str
    module: str
    method: str
    bound: Fraction

    @property
    def ok(self) -> bool:
        """Whether the layer is proven 1-Lipschitz."""
        return self.bound <= 1

    @property
    def excess(self) -> Fraction:
        """``max(0, bound - 1)``: how far above 1 the proven bound is."""
        return max(Fraction(0), self.bound - 1)


@dataclass(frozen=True)
class LipschitzCertificate:
    """Per-layer certificates and their product, a proven Lipschitz bound of the model.

    Example:
        >>> cert = lipschitz_certificate(nn.Sequential(nn.Identity(), nn.ReLU()))
        >>> cert.bound, len(cert.layers)
        (Fraction(1, 1), 2)
    """

    layers: tuple

    @property
    def bound(self) -> Fraction:
        """The product of the layers' proven bounds."""
        return math.prod((layer.bound for layer in self.layers), start=Fraction(1))

    def table(self) -> str:
        """One line per layer: path, module, bound (and excess), method."""
        lines = [f"{'path':<10} {'module':<20} {'bound':<24} method"]
        for c in self.layers:
            shown = "1" if c.bound == 1 else f"{float(c.bound):.12g}" + ("" if c.ok else f" (+{float(c.excess):.3g})")
            lines.append(f"{c.path:<10} {c.module:<20} {shown:<24} {c.method}")
        lines.append(f"product: {float(self.bound):.12g} ({sum(c.ok for c in self.layers)}/{len(self.layers)} layers proven <= 1)")
        return "\n".join(lines)

    def plot(self, ax=None):
        """Bars of each layer's proven bound (green: proven <= 1, red: above); returns the axes."""
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


def _dense_bound(layer: Affine, weights: Optional[list] = None) -> tuple:
    """(bound, method) for an exact dense layer.  ``weights`` (positive, any precision) are the
    Schur-test weights ``q``: ``||W||^2 <= max_j sum_k |W^T W|_jk q_k / q_j``; AOL layers pass
    ``q = 1 / d``, for which the test is their closed-form guarantee."""
    W_int, den = _intarrays.over_common_denominator(layer._W)
    m, n = W_int.shape
    W = flint.fmpz_mat(m, n, W_int.ravel().tolist())
    gram = W.transpose() * W
    q = [Fraction(1)] * n if weights is None else [Fraction(float(v)) for v in weights]
    if all(sum(abs(int(gram[j, k])) * q[k] for k in range(n)) <= q[j] * den * den for j in range(n)):
        return Fraction(1), "exact Schur/AOL row-sum test: sum_k |W^T W|_jk q_k <= q_j"
    if operator_norm_at_most(layer._W):
        return Fraction(1), "exact PSD test of I - W^T W"
    return spectral_norm_enclosure(layer._W).hi, "exact PSD tests bracket ||W||_2 (upper end)"


def _activation_bound(layer: ActivationLayer) -> tuple:
    if isinstance(layer, Elementwise):
        return max(f.lipschitz_constant() for f in layer.functions), "exact max |slope| of the activation"
    return Fraction(1), "permutation or exact reflection on each group (1-Lipschitz by construction)"


def _conv_bound(kernel: torch.Tensor, q: torch.Tensor) -> tuple:
    """Weighted Schur (row-sum) bound on ``||conv||_2^2`` from the self-correlation of a
    ``[out, in, k, k]`` kernel with positive weights ``q`` per input channel (AOL layers use
    ``q = 1/d``, for which the test is their closed-form guarantee), every float64 rounding
    bounded.  Valid for circular and zero padding (boundary terms only shrink the Gram
    operator's entries)."""
    exact_products = kernel.dtype == torch.float32  # products of two float32 are exact in float64
    K = kernel.detach().double()
    q = q.detach().double()
    k = K.shape[-1]
    Kt = K.transpose(0, 1)
    terms = K.shape[0] * k * k
    corr = F.conv2d(Kt, Kt, padding=k - 1)  # [in, in, 2k-1, 2k-1]
    magnitude = F.conv2d(Kt.abs(), Kt.abs(), padding=k - 1)
    entry = corr.abs() + _gamma(terms + (0 if exact_products else 1)) * magnitude * (1 + _gamma(terms))
    weighted = (entry * q[None, :, None, None]).sum(dim=(1, 2, 3)) / q  # sum_k |G_jk| q_k / q_j
    row_max = float(weighted.max()) * (1 + _gamma(corr[0].numel() + 3))
    bound = Fraction(1) if row_max <= 1 else sqrt_upper(Fraction(row_max))
    return bound, "float64 weighted row-sum test of the kernel self-correlation, rounding bounded"


def _conv_leaf_bound(leaf: nn.Module) -> tuple:
    if isinstance(leaf, L.AOLConv2d):
        return _conv_bound(leaf.kernel(), 1 / leaf.scales())
    return _conv_bound(leaf.weight, torch.ones(leaf.in_channels))


def _sll_bound(layer: L.SLLLinear) -> tuple:
    W = [[Fraction(v) for v in row] for row in layer.W.detach().cpu().tolist()]
    t = [Fraction(v) for v in layer.scales().detach().cpu().tolist()]
    m = len(t)
    gram = [[sum(row[i] * row[j] for row in W) for j in range(m)] for i in range(m)]
    if is_psd([[(t[i] if i == j else 0) - gram[i][j] for j in range(m)] for i in range(m)]):
        return Fraction(1), "exact PSD test of T - W^T W (SLL condition)"
    scaled = [[w / t[j] for j, w in enumerate(row)] for row in W]
    bound = 1 + 2 * spectral_norm_enclosure(scaled).hi * spectral_norm_enclosure(W).hi
    return bound, "SLL condition fails exactly; triangle bound 1 + 2 ||W T^-1|| ||W|| (exact brackets)"


_ISOMETRIES = (L.ZeroChannelConcatenation, L.ConcatenationPooling2D, nn.Flatten, nn.Identity, nn.Dropout)


def lipschitz_certificate(module: nn.Module) -> LipschitzCertificate:
    """Proven per-layer l2 Lipschitz bounds of the deployed model and their product.

    Example:
        >>> import nets
        >>> cert = lipschitz_certificate(nets.LipschitzMLP([2, 4, 1], activation="n", layer="aol"))
        >>> cert.bound <= 1
        True
    """
    certificates = []
    width = getattr(module, "input_dim", None)
    with evaluation_mode(module):
        for path, leaf in leaves(module):
            name = type(leaf).__name__
            if isinstance(leaf, _ISOMETRIES) or isinstance(leaf, L.FirstChannels):
                certificates.append(LayerCertificate(path, name, "isometry or coordinate projection (by construction)", Fraction(1)))
                width = leaf.channels if hasattr(leaf, "channels") else width
                continue
            if isinstance(leaf, nn.Conv2d) or isinstance(leaf, L.AOLConv2d):
                certificates.append(LayerCertificate(path, name, *reversed(_conv_leaf_bound(leaf))))
                continue
            if isinstance(leaf, L.SLLLinear):
                certificates.append(LayerCertificate(path, name, *reversed(_sll_bound(leaf))))
                continue
            if adapters.is_one_lipschitz_activation(leaf):
                certificates.append(LayerCertificate(path, name, "library activation, 1-Lipschitz by construction", Fraction(1)))
                converted = adapters.convert(path, leaf, width)
                width = converted[1] if converted else width
                continue
            if isinstance(leaf, (A.AbsIdentity, A.MaxMin, A.GroupSort)) and width is None:
                certificates.append(LayerCertificate(path, name, "permutation or abs/identity on each group (1-Lipschitz by construction)", Fraction(1)))
                continue
            exact_layers, width = _convert(path, leaf, width)
            weights = (1 / leaf.scales()).tolist() if isinstance(leaf, L.AOLLinear) else None
            for layer in exact_layers:
                bound, method = _dense_bound(layer, weights) if isinstance(layer, Affine) else _activation_bound(layer)
                certificates.append(LayerCertificate(path, name, method, bound))
    return LipschitzCertificate(tuple(certificates))


# ---------------------------------------------------------------------- rigorous forward pass
def _linear(x, e, W, b):
    """``W x + b`` in float64 and a bound on its distance to the exact value."""
    y = F.linear(x, W, b)
    absW = W.abs()
    rounding = _gamma(W.shape[1] + 1) * (F.linear(x.abs(), absW) + (0 if b is None else b.abs()))
    return y, (F.linear(e, absW) + rounding) * (1 + _gamma(W.shape[1] + 2))


def _conv(x, e, kernel: torch.Tensor, bias, mode: str):
    """A "same" convolution in float64 and a bound on its distance to the exact value."""
    K = kernel.detach().double()
    b = None if bias is None else bias.detach().double()
    pad = K.shape[-1] // 2
    same = lambda t: F.pad(t, (pad, pad, pad, pad), mode="circular" if mode == "circular" else "constant")  # noqa: E731
    y = F.conv2d(same(x), K, b)
    n = K.shape[1] * K.shape[-1] ** 2 + 1
    magnitude = F.conv2d(same(x.abs()), K.abs()) + (0 if b is None else b.abs()[None, :, None, None])
    return y, (F.conv2d(same(e), K.abs()) + _gamma(n) * magnitude) * (1 + _gamma(n + 1))


def bounded_forward(module: nn.Module, x: torch.Tensor) -> tuple:
    """Float64 outputs ``y`` and bounds ``err`` with ``|y - f(x)| <= err`` elementwise, where
    ``f`` is the exact function of the stored weights and ``x`` is taken exactly.

    Supports dense and convolutional models with ReLU, abs, leaky ReLU, N, MaxMin, GroupSort
    activations and the channel helpers; anything else raises
    :class:`nets.export.UnsupportedModuleError`.

    Example:
        >>> import nets
        >>> y, err = bounded_forward(nets.LipschitzMLP([2, 4, 1], activation="n"), torch.ones(1, 2))
        >>> bool((err >= 0).all() and (err < 1e-12).all())
        True
    """
    y = x.detach().double()
    e = torch.zeros_like(y)
    with evaluation_mode(module):
        for path, leaf in leaves(module):
            y, e = _bounded_step(path, leaf, y, e)
    return y, e


def _bounded_step(path, leaf, y, e):
    if isinstance(leaf, L.LipschitzLinear):
        W, b = leaf.weight_matrix().detach().double(), None if leaf.bias is None else leaf.bias.detach().double()
        return _linear(y, e, W, b)
    if isinstance(leaf, nn.Linear):
        return _linear(y, e, leaf.weight.detach().double(), None if leaf.bias is None else leaf.bias.detach().double())
    if isinstance(leaf, L.AOLConv2d):
        return _conv(y, e, leaf.kernel(), leaf.bias, "circular")
    if isinstance(leaf, nn.Conv2d):
        _plain_conv_checked(path, leaf)
        return _conv(y, e, leaf.weight, leaf.bias, leaf.padding_mode)
    if isinstance(leaf, (nn.ReLU, A.Abs, A.AbsIdentity)):
        return leaf(y), e  # exact in floats, 1-Lipschitz
    if isinstance(leaf, (A.LeakyReLU, A.PReLU)):
        return leaf(y), e + _U * leaf(y).abs()  # one rounded product
    if isinstance(leaf, A.NActivation):
        out = leaf(y)
        return out, e + _U * out.abs()  # clamp and doubling are exact; one rounded subtraction
    if isinstance(leaf, (A.MaxMin, A.GroupSort)):
        size = 2 if isinstance(leaf, A.MaxMin) else leaf.group_size
        if isinstance(leaf, A.MaxMin) and leaf.pairing == "halves":
            c = e.shape[1] // 2
            m = torch.maximum(e[:, :c], e[:, c:])
            return leaf(y), torch.cat([m, m], dim=1)
        groups = e.unflatten(1, (e.shape[1] // size, size)).amax(dim=2, keepdim=True)
        return leaf(y), groups.expand(*groups.shape[:2], size, *groups.shape[3:]).flatten(1, 2)
    if isinstance(leaf, _ISOMETRIES) or isinstance(leaf, L.FirstChannels):
        return leaf(y), leaf(e)
    raise UnsupportedModuleError(f"{type(leaf).__name__} at '{path}' has no rigorous float forward pass yet")


@dataclass(frozen=True)
class RobustnessReport:
    """Certified robust accuracy, proven (``certified``) and by the naive float rule
    (``naive``), the Lipschitz bound used, and the samples where the two rules disagree."""

    eps: Fraction
    lipschitz: Fraction
    certified: float
    naive: float
    certified_mask: tuple
    naive_mask: tuple

    @property
    def disagreements(self) -> list:
        """Indices where the naive rule certifies and the proof does not (or the reverse)."""
        return [i for i, (a, b) in enumerate(zip(self.certified_mask, self.naive_mask)) if a != b]


def certified_robust_accuracy(module: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, eps: float, lipschitz: Optional[Fraction] = None) -> RobustnessReport:
    """A sample is certified iff the exact function's margin ``M`` provably satisfies
    ``M > sqrt(2) L eps`` (strictly; ``L`` = the proven bound of :func:`lipschitz_certificate`
    unless given): the lower bound of ``M`` from :func:`bounded_forward` is compared exactly
    (``M_lo > 0`` and ``M_lo^2 > 2 L^2 eps^2``).  The naive rule evaluates the model in its
    own precision and compares floats.

    Example:
        >>> import nets
        >>> model = nets.LipschitzMLP([2, 4, 3], activation="maxmin", layer="aol")
        >>> report = certified_robust_accuracy(model, torch.randn(8, 2), torch.zeros(8, dtype=torch.long), 0.1)
        >>> 0 <= report.certified <= 1
        True
    """
    L_bound = lipschitz_certificate(module).bound if lipschitz is None else Fraction(lipschitz)
    eps_q = Fraction(float(eps))
    y, err = bounded_forward(module, inputs)
    certified = []
    for scores, bounds, label in zip(y.tolist(), err.tolist(), labels.tolist()):
        low = Fraction(scores[label]) - Fraction(bounds[label])
        high = max((Fraction(s) + Fraction(b) for i, (s, b) in enumerate(zip(scores, bounds)) if i != label), default=None)
        margin = low - high if high is not None else Fraction(0)
        certified.append(margin > 0 and margin * margin > 2 * L_bound * L_bound * eps_q * eps_q)
    with evaluation_mode(module):
        native = module(inputs.to(next(module.parameters()).dtype))
    true = native.gather(1, labels[:, None])[:, 0]
    others = native.clone()
    others.scatter_(1, labels[:, None], float("-inf"))
    naive = (true - others.max(dim=1).values > math.sqrt(2) * float(L_bound) * float(eps)).tolist()
    n = max(1, len(certified))
    return RobustnessReport(eps_q, L_bound, sum(certified) / n, sum(naive) / n, tuple(certified), tuple(naive))


# ---------------------------------------------------------------------- exact 1-D certificates
@dataclass(frozen=True)
class LineCertificate:
    """Exact facts about a model along the segment ``start + t (end - start)``, ``t`` in
    ``[0, 1]``: the label at ``t = 0`` (``None`` if the top score is tied there), the first
    ``t`` at which the exact argmax stops being that label (a tie counts as a change;
    ``None`` if it never does on the segment), ``||end - start||^2`` (the distance to the
    change is ``t * sqrt(length_squared)``), and the exact squared Lipschitz constant of the
    outputs along the line: the largest ``||dF/dx||^2`` over the pieces, per unit of input
    distance."""

    label: Optional[int]
    t: Optional[Fraction]
    length_squared: Fraction
    lipschitz_squared: Fraction

    @property
    def lipschitz_upper(self) -> Fraction:
        """A rational upper bound (within ``2**-40``) of the exact Lipschitz constant of the
        outputs along the segment, ``sqrt(lipschitz_squared)``."""
        return sqrt_upper(self.lipschitz_squared)

    @property
    def distance_squared(self) -> Optional[Fraction]:
        """Squared Euclidean distance from ``start`` to the first label change (exact)."""
        return None if self.t is None else self.t * self.t * self.length_squared


def _first_nonpositive(g) -> Optional[Fraction]:
    """First ``t`` of the domain where the CPWL ``g`` is ``<= 0``, or ``None``."""
    for lo, hi, s, c in g.pieces():
        if s * lo + c <= 0:
            return lo
        if s * hi + c <= 0:
            return -c / s
    return None


def line_certificate(module: nn.Module, start, end) -> LineCertificate:
    """Exact distance, along a segment, to the nearest change of the predicted label, from
    the exact piecewise-linear outputs of the deployed model (no float decision involved).

    Example:
        >>> model = nn.Sequential(nn.Linear(1, 2))
        >>> with torch.no_grad():
        ...     _ = model[0].weight.copy_(torch.tensor([[-1.0], [1.0]])), model[0].bias.zero_()
        >>> line_certificate(model, [-1.0], [1.0]).t      # the scores cross at x = 0
        Fraction(1, 2)
    """
    from nets.export import restrict_to_line

    a = [Fraction(v) for v in torch.as_tensor(start, dtype=torch.float64).flatten().tolist()]
    b = [Fraction(v) for v in torch.as_tensor(end, dtype=torch.float64).flatten().tolist()]
    F_line = restrict_to_line(module, start, end)
    length_squared = sum((y - x) ** 2 for x, y in zip(a, b))
    comps = F_line.components
    per_piece = zip(*(f.slopes for f in comps))
    lipschitz_squared = max(sum(s * s for s in slopes) for slopes in per_piece) / length_squared if length_squared else Fraction(0)
    scores = F_line(0)
    top = max(scores)
    if scores.count(top) > 1:
        return LineCertificate(None, Fraction(0), length_squared, lipschitz_squared)
    label = scores.index(top)
    changes = [t for i in range(len(comps)) if i != label if (t := _first_nonpositive(comps[label] - comps[i])) is not None]
    return LineCertificate(label, min(changes, default=None), length_squared, lipschitz_squared)
