"""Every module family the translation table accepts, as hypothesis-drawn instances.

``FAMILIES[name](draw)`` returns ``(module, input_shape)`` with random weights (float64), on
the shapes and parameter values where a bound or a convention could break: weights scaled so
the norm sits within ``2**-20..2**-52`` of 1, tied thresholds, tied pair inputs, paddings that
copy border pixels, strides, dilations, groups, non-square kernels.  ``LINEAR`` lists the
families that are linear maps (their true operator norm is computed from the dense matrix).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import strategies as st
from torch import nn

import nets


def _rng(draw) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _tensor(draw, shape, scale=None) -> torch.Tensor:
    scale = draw(st.sampled_from([0.25, 1.0, 3.0])) if scale is None else scale
    return torch.tensor(_rng(draw).standard_normal(shape) * scale, dtype=torch.float64)


def _near_unit(draw, W: torch.Tensor) -> torch.Tensor:
    """Sometimes rescale ``W`` so its norm is within a hair of 1 (either side)."""
    choice = draw(st.sampled_from(["raw", "raw", "above", "below", "one"]))
    if choice == "raw" or not W.abs().sum():
        return W
    k = draw(st.sampled_from([20, 40, 52]))
    factor = {"above": 1 + 2.0**-k, "below": 1 - 2.0**-k, "one": 1.0}[choice]
    return W / torch.linalg.matrix_norm(W, 2) * factor


def _set(param: torch.Tensor, value: torch.Tensor) -> None:
    with torch.no_grad():
        param.copy_(value.to(param.dtype))


def _flat_or_map(draw, even: bool = False, divisible: int = 1) -> tuple:
    unit = 2 if even else divisible
    c = unit * draw(st.integers(1, 3 if unit == 1 else 2))
    return (c,) if draw(st.booleans()) else (c, draw(st.integers(1, 2)), draw(st.integers(1, 2)))


# ------------------------------------------------------------------ linear families
def linear(draw):
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    layer = nn.Linear(n, m).double()
    _set(layer.weight, _near_unit(draw, _tensor(draw, (m, n))))
    _set(layer.bias, _tensor(draw, (m,)))
    return layer, (n,)


def conv_config(draw) -> dict:
    groups = draw(st.sampled_from([1, 2]))
    c, out_c = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    h, w = draw(st.integers(2, 4)), draw(st.integers(2, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(["zeros", "circular", "reflect", "replicate"]))
    limit = {"reflect": (h - 1, w - 1), "circular": (h, w)}.get(mode, (2, 2))
    padding = (draw(st.integers(0, min(2, limit[0]))), draw(st.integers(0, min(2, limit[1]))))
    if h + 2 * padding[0] < dilation[0] * (kh - 1) + 1 or w + 2 * padding[1] < dilation[1] * (kw - 1) + 1:
        kh, kw = 1, 1
    return dict(
        c=c,
        out_c=out_c,
        h=h,
        w=w,
        kernel=(kh, kw),
        stride=stride,
        dilation=dilation,
        groups=groups,
        padding=padding,
        mode=mode,
    )


def conv2d(draw):
    cfg = conv_config(draw)
    layer = nn.Conv2d(
        cfg["c"],
        cfg["out_c"],
        cfg["kernel"],
        stride=cfg["stride"],
        padding=cfg["padding"],
        dilation=cfg["dilation"],
        groups=cfg["groups"],
        padding_mode=cfg["mode"],
    ).double()
    _set(layer.weight, _tensor(draw, layer.weight.shape))
    _set(layer.bias, _tensor(draw, layer.bias.shape))
    return layer, (cfg["c"], cfg["h"], cfg["w"])


def conv2d_dyadic(draw):
    """Small dyadic kernels: every sum the bound forms is exact, and the Schur bound is often
    tight (a norm of exactly 1 sits on the boundary of "proven <= 1")."""
    cfg = conv_config(draw)
    layer = nn.Conv2d(
        cfg["c"],
        cfg["out_c"],
        cfg["kernel"],
        stride=cfg["stride"],
        padding=cfg["padding"],
        dilation=cfg["dilation"],
        groups=cfg["groups"],
        padding_mode=cfg["mode"],
    ).double()
    values = draw(
        st.lists(
            st.sampled_from([0.0, 0.25, -0.25, 0.5, -0.5, 1.0, -1.0]),
            min_size=layer.weight.numel(),
            max_size=layer.weight.numel(),
        )
    )
    _set(layer.weight, torch.tensor(values).reshape(layer.weight.shape))
    return layer, (cfg["c"], cfg["h"], cfg["w"])


def conv2d_same(draw):
    k = draw(st.sampled_from([(1, 2), (2, 2), (3, 2), (2, 3)]))
    layer = nn.Conv2d(
        1, 2, k, padding="same", padding_mode=draw(st.sampled_from(["zeros", "circular", "replicate"]))
    ).double()
    _set(layer.weight, _tensor(draw, layer.weight.shape))
    return layer, (1, 3, 3)


def _lipschitz_linear(cls, **kwargs):
    def factory(draw):
        n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        layer = cls(n, m, **kwargs).double()
        params = dict(layer.named_parameters())
        name = next(
            k
            for k in ("P", "linear.parametrizations.weight.original", "linear.weight_orig", "linear.weight")
            if k in params
        )
        _set(params[name], _tensor(draw, params[name].shape))
        _set(layer.bias, _tensor(draw, layer.bias.shape))
        return layer.eval(), (n,)

    return factory


def aol_conv(draw):
    c_in, c_out, k = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.sampled_from([1, 3]))
    layer = nets.AOLConv2d(c_in, c_out, k).double()
    _set(layer.P, _tensor(draw, layer.P.shape))
    _set(layer.bias, _tensor(draw, layer.bias.shape))
    return layer, (c_in, draw(st.integers(1, 3)), draw(st.integers(1, 3)))


def zero_channels(draw):
    shape = _flat_or_map(draw)
    return nets.ZeroChannelConcatenation(shape[0] + draw(st.integers(0, 2))), shape


def first_channels(draw):
    shape = _flat_or_map(draw)
    return nets.FirstChannels(draw(st.integers(1, shape[0]))), shape


def pooling(draw):
    return nets.ConcatenationPooling2D(), (
        draw(st.integers(1, 2)),
        2 * draw(st.integers(1, 2)),
        2 * draw(st.integers(1, 2)),
    )


def flatten(draw):
    return nn.Flatten(), (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2)))


def _plain(module_factory):
    return lambda draw: (module_factory(), _flat_or_map(draw))


def monotonic_layer(draw):
    monotonic = pytest.importorskip("monotonicnetworks")
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    constraints = [draw(st.sampled_from([-1, 0, 1])) for _ in range(n)]
    layer = monotonic.MonotonicLayer(
        n, m, monotonic_constraints=constraints, kind=draw(st.sampled_from(["one", "inf", "one-inf", "two-inf"]))
    ).double()
    _set(layer.parametrizations.weight.original, _tensor(draw, (m, n)))
    return layer, (n,)


def monotonic_linear(draw):
    monotonic = pytest.importorskip("monotonicnetworks")
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    layer = monotonic.LipschitzLinear(n, m, kind=draw(st.sampled_from(["one", "inf", "one-inf", "two-inf"]))).double()
    _set(layer.parametrizations.weight.original, _tensor(draw, (m, n)))
    return layer, (n,)


def torchlip_linear(draw):
    torchlip = pytest.importorskip("deel.torchlip")
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    cls = draw(st.sampled_from([torchlip.SpectralLinear, torchlip.FrobeniusLinear]))
    return cls(n, m).double().eval(), (n,)


def torchlip_conv(draw):
    torchlip = pytest.importorskip("deel.torchlip")
    return torchlip.SpectralConv2d(1, 2, 3, padding=1).double().eval(), (1, 3, 3)


def ortho_linear(draw):
    layers = pytest.importorskip("orthogonium.layers")
    n = draw(st.integers(1, 3))
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # its parametrization keeps float32 buffers otherwise
    try:
        return layers.OrthoLinear(n, draw(st.integers(1, 3))).eval(), (n,)
    finally:
        torch.set_default_dtype(default)


# ------------------------------------------------------------------ nonlinear families
def leaky(draw):
    return nn.LeakyReLU(draw(st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.1, 1.0, 2.0]))), _flat_or_map(draw)


def nets_leaky(draw):
    return nets.LeakyReLU(draw(st.sampled_from([-1.0, -0.25, 0.0, 0.5, 1.0]))), _flat_or_map(draw)


def prelu(draw):
    shape = _flat_or_map(draw)
    layer = nets.PReLU(shape[0]).double()
    _set(layer.slope, _tensor(draw, (shape[0],), 2.0))
    return layer, shape


def n_activation(draw):
    shape = _flat_or_map(draw)
    theta = _tensor(draw, (shape[0], 2))
    if draw(st.booleans()):
        theta[:, 1] = theta[:, 0]  # tied thresholds: the N-activation is then a shift
    return nets.NActivation(shape[0], theta_init=theta).double(), shape


def maxmin(draw):
    return nets.MaxMin(
        draw(st.sampled_from(["adjacent", "halves"])), draw(st.sampled_from(["max_first", "min_first"]))
    ), _flat_or_map(draw, even=True)


def group_sort(draw):
    g = draw(st.sampled_from([1, 2, 3]))
    shape = _flat_or_map(draw, divisible=g)
    return nets.GroupSort(g, descending=draw(st.booleans())), shape


def householder(draw):
    shape = _flat_or_map(draw, even=True)
    layer = nets.Householder(shape[0]).to(draw(st.sampled_from([torch.float32, torch.float64])))
    _set(layer.angle, _tensor(draw, layer.angle.shape, 3.0))
    return layer, shape  # float32 normals stay float32: forward casts them, exactly as exported


def spline(draw):
    shape = _flat_or_map(draw)
    layer = nets.LinearSpline(
        shape[0], size=draw(st.integers(2, 5)), range_=draw(st.sampled_from([0.5, 1.0, 2.0]))
    ).double()
    _set(layer.coefficients, _tensor(draw, layer.coefficients.shape))
    return layer, shape


def abs_identity(draw):
    return nets.AbsIdentity(), _flat_or_map(draw, even=True)


def sll(draw):
    n = draw(st.integers(1, 3))
    layer = nets.SLLLinear(n, hidden=draw(st.integers(1, 3))).double()
    _set(layer.W, _tensor(draw, layer.W.shape))
    _set(layer.bias, _tensor(draw, layer.bias.shape))
    _set(layer.log_q, _tensor(draw, layer.log_q.shape))
    return layer, (n,)


def torchlip_activation(draw):
    torchlip = pytest.importorskip("deel.torchlip")
    shape = _flat_or_map(draw, even=True)
    module = draw(st.sampled_from(["MaxMin", "GroupSort2", "FullSort", "GroupSort"]))
    if module == "GroupSort":
        return torchlip.GroupSort(draw(st.sampled_from([1, 2]))), shape
    return getattr(torchlip, module)(), shape


def orthogonium_activation(draw):
    layers = pytest.importorskip("orthogonium.layers")
    shape = _flat_or_map(draw, even=True)
    return (layers.MaxMin() if draw(st.booleans()) else layers.Abs()), shape


def monotonic_group_sort(draw):
    monotonic = pytest.importorskip("monotonicnetworks")
    n = draw(st.sampled_from([1, 2]))
    c = n * draw(st.integers(1, 2))
    return monotonic.GroupSort(n), (c,)


def stock_pooling(draw):
    c = draw(st.integers(1, 2))
    k = draw(st.sampled_from([1, 2]))
    module = draw(st.sampled_from(["avg", "avg padded", "unshuffle", "shuffle"]))
    if module == "avg":
        return nn.AvgPool2d(k), (c, 2 * k, 2 * k)
    if module == "avg padded":
        return nn.AvgPool2d(3, stride=draw(st.integers(1, 2)), padding=1), (c, 3, 4)
    if module == "unshuffle":
        return nn.PixelUnshuffle(2), (c, 4, 2)
    return nn.PixelShuffle(2), (4 * c, 1, 2)


def stock_prelu(draw):
    shape = _flat_or_map(draw)
    layer = nn.PReLU(draw(st.sampled_from([1, shape[0]]))).double()
    _set(layer.weight, _tensor(draw, layer.weight.shape, 2.0))
    return layer, shape


def torchlip_more(draw):
    torchlip = pytest.importorskip("deel.torchlip")
    which = draw(
        st.sampled_from(
            ["avg", "adaptive avg", "downsampling", "lprelu", "householder", "scaled maxmin", "scaled groupsort"]
        )
    )
    if which == "avg":
        return torchlip.ScaledAvgPool2d(2, k_coef_lip=draw(st.sampled_from([1.0, 0.5]))), (2, 4, 4)
    if which == "adaptive avg":
        return torchlip.ScaledAdaptiveAvgPool2d((1, 1)), (2, 2, 3)
    if which == "downsampling":
        return torchlip.InvertibleDownSampling(2), (1, 2, 4)
    if which == "lprelu":
        layer = torchlip.LPReLU(2, k_coef_lip=draw(st.sampled_from([1.0, 0.5]))).double()
        _set(layer.weight, _tensor(draw, (2,), 2.0))
        return layer, (2, 2, 1)
    if which == "householder":
        layer = torchlip.HouseHolder(4).double()
        _set(layer.theta, _tensor(draw, (2,), 3.0))
        return layer, draw(st.sampled_from([(4,), (4, 1, 2)]))
    k = draw(st.sampled_from([0.5, 2.0]))
    return (torchlip.MaxMin(k_coef_lip=k) if which == "scaled maxmin" else torchlip.GroupSort(2, k_coef_lip=k)), (
        2,
        1,
        2,
    )


def orthogonium_more(draw):
    layers = pytest.importorskip("orthogonium.layers")
    which = draw(st.sampled_from(["householder", "batch centering", "layer centering", "shuffle"]))
    if which == "householder":
        layer = layers.HouseHolder(4).double()
        _set(layer.theta, _tensor(draw, layer.theta.shape, 3.0))
        return layer, (4, 1, 2)
    if which == "batch centering":
        layer = layers.BatchCentering2D(2).double()
        layer.running_mean = _tensor(draw, (1, 2, 1, 1))
        _set(layer.bias, _tensor(draw, (1, 2, 1, 1)))
        return layer.eval(), (2, 2, 2)
    if which == "layer centering":
        layer = layers.LayerCentering2D(2).double()
        _set(layer.bias, _tensor(draw, (1, 2, 1, 1)))
        return layer, (2, 2, 3)
    return layers.ChannelShuffle(2, 2), (4, 1, 2)


def orthogonium_convs(draw):
    pytest.importorskip("orthogonium")
    from orthogonium.layers.conv.AOC import AdaptiveOrthoConv2d

    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        stride = draw(st.sampled_from([1, 2]))
        kernel = draw(st.sampled_from([2, 3])) if stride == 2 else 3
        padding = {"same": "same", 1: 1, 0: 0}[
            draw(st.sampled_from(["same", 1])) if stride == 1 else (1 if kernel == 3 else 0)
        ]
        conv = AdaptiveOrthoConv2d(
            2,
            2 * stride * stride if stride == 2 else 2,
            kernel,
            stride=stride,
            padding=padding,
            padding_mode="circular" if padding != 0 else "zeros",
        )
        return conv.eval(), (2, 4, 4)
    finally:
        torch.set_default_dtype(default)


def sort_neurons(draw):
    """Sort neurons with ties: sometimes two weight columns equal (equal distances)."""
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    layer = nets.SortNeurons(
        n, m, q=draw(st.sampled_from([1, "1/2", "1/3"])), truncate=draw(st.integers(1, n))
    ).double()
    weight = _tensor(draw, (m, n))
    if n > 1 and draw(st.booleans()):
        weight[:, 1] = weight[:, 0]
    _set(layer.weight, weight)
    _set(layer.bias, _tensor(draw, (m,)))
    return layer, (n,)


def monotonic_wrapper(draw):
    monotonic = pytest.importorskip("monotonicnetworks")
    n = draw(st.integers(1, 3))
    inner = nn.Sequential(
        monotonic.LipschitzLinear(n, 4, kind="one-inf"),
        monotonic.GroupSort(2),
        monotonic.LipschitzLinear(4, 1, kind="inf"),
    ).double()
    for m in inner:
        if isinstance(m, nn.Linear):
            _set(m.parametrizations.weight.original, _tensor(draw, m.parametrizations.weight.original.shape))
    return monotonic.MonotonicWrapper(
        inner, monotonic_constraints=[draw(st.sampled_from([-1, 0, 1])) for _ in range(n)]
    ).double(), (n,)


FAMILIES = {
    "nn.Linear": linear,
    "nn.Conv2d": conv2d,
    "nn.Conv2d dyadic": conv2d_dyadic,
    "nn.Conv2d 'same'": conv2d_same,
    "AOLLinear": _lipschitz_linear(nets.AOLLinear),
    "OrthogonalLinear": _lipschitz_linear(nets.OrthogonalLinear),
    "BjorckLinear": _lipschitz_linear(nets.BjorckLinear, iterations=3),
    "FrobeniusLinear": _lipschitz_linear(nets.FrobeniusLinear),
    "SpectralNormLinear": _lipschitz_linear(nets.SpectralNormLinear),
    "AOLConv2d": aol_conv,
    "ZeroChannelConcatenation": zero_channels,
    "FirstChannels": first_channels,
    "ConcatenationPooling2D": pooling,
    "nn.Flatten": flatten,
    "nn.Identity": _plain(nn.Identity),
    "nn.Dropout": _plain(nn.Dropout),
    "monotonicnetworks MonotonicLayer": monotonic_layer,
    "monotonicnetworks LipschitzLinear": monotonic_linear,
    "deel-torchlip linear": torchlip_linear,
    "deel-torchlip SpectralConv2d": torchlip_conv,
    "orthogonium OrthoLinear": ortho_linear,
    "orthogonium AOC convs": orthogonium_convs,
    "nn pooling and pixel shuffles": stock_pooling,
    "nn.ReLU": _plain(nn.ReLU),
    "nn.LeakyReLU": leaky,
    "nets.Abs": _plain(nets.Abs),
    "nets.AbsIdentity": abs_identity,
    "nets.LeakyReLU": nets_leaky,
    "nets.PReLU": prelu,
    "nets.NActivation": n_activation,
    "nets.MaxMin": maxmin,
    "nets.GroupSort": group_sort,
    "nets.Householder": householder,
    "nets.LinearSpline": spline,
    "nets.SLLLinear": sll,
    "nets.SortNeurons": sort_neurons,
    "deel-torchlip activations": torchlip_activation,
    "orthogonium activations": orthogonium_activation,
    "monotonicnetworks GroupSort": monotonic_group_sort,
    "monotonicnetworks MonotonicWrapper": monotonic_wrapper,
    "nn.PReLU": stock_prelu,
    "deel-torchlip pooling and activations": torchlip_more,
    "orthogonium activations and centering": orthogonium_more,
}

#: Families whose torch.export graphs are chains of layers (nets.graph_model): the graph family
#: below draws one, exports it and reads the file back.
_GRAPHED = [
    "nn.Linear",
    "nn.Conv2d 'same'",
    "AOLConv2d",
    "ZeroChannelConcatenation",
    "ConcatenationPooling2D",
    "nn.LeakyReLU",
    "nets.AbsIdentity",
    "nets.NActivation",
    "nets.MaxMin",
    "nets.SLLLinear",
    "monotonicnetworks GroupSort",
]


def graph_file(draw):
    """A module of another family exported with torch.export and read back as a
    :class:`nets.graph_model.GraphModel` (its forward pass is the exported program's)."""
    import io

    from nets.graph_model import GraphModel

    module, shape = FAMILIES[draw(st.sampled_from(_GRAPHED))](draw)
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(module.eval(), (torch.zeros(1, *shape, dtype=torch.float64),)), buffer)
    return GraphModel(buffer.getvalue(), ".pt2"), shape


FAMILIES["torch.export graph"] = graph_file

LINEAR = [name for name in FAMILIES if list(FAMILIES).index(name) < list(FAMILIES).index("nn.ReLU")]


def numel(shape: tuple) -> int:
    return math.prod(shape)
