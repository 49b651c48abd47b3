"""cpwl.Conv2d: every configuration it accepts (kernel shape, stride, dilation, groups,
padding, padding mode) against two independent truths — a direct Fraction convolution written
from torch's definition, and torch's own conv on dyadic values small enough that float64 is
exact — on points and on whole lines."""

from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from oracle import padded_source

import cpwl
from cpwl import Conv2d, CPWLMap


def _oracle(image, kernel, bias, stride, padding, dilation, groups, mode):
    """torch.nn.functional.conv2d's definition, with Fractions and loops."""
    h, w = len(image[0]), len(image[0][0])
    out_c, cg, kh, kw = len(kernel), len(kernel[0]), len(kernel[0][0]), len(kernel[0][0][0])
    top, bottom, left, right = padding
    ho = (h + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = []
    for o in range(out_c):
        g = o // (out_c // groups)
        for y in range(ho):
            for x in range(wo):
                total = Fraction(bias[o])
                for ci in range(cg):
                    for a in range(kh):
                        for b in range(kw):
                            yy = padded_source(y * stride[0] + a * dilation[0] - top, h, mode)
                            xx = padded_source(x * stride[1] + b * dilation[1] - left, w, mode)
                            if yy is not None and xx is not None:
                                total += kernel[o][ci][a][b] * image[g * cg + ci][yy][xx]
                out.append(total)
    return tuple(out)


@st.composite
def configurations(draw):
    groups = draw(st.sampled_from([1, 2]))
    c = groups * draw(st.integers(1, 2))
    out_c = groups * draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))  # non-square kernels included
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(["zeros", "circular", "reflect", "replicate"]))
    limit = {"reflect": (h - 1, w - 1), "circular": (h, w)}.get(mode, (2, 2))
    padding = tuple(draw(st.integers(0, min(2, limit[i // 2]))) for i in range(4))
    if (
        h + padding[0] + padding[1] < dilation[0] * (kh - 1) + 1
        or w + padding[2] + padding[3] < dilation[1] * (kw - 1) + 1
    ):
        padding = (padding[0], padding[1] + dilation[0] * (kh - 1), padding[2], padding[3] + dilation[1] * (kw - 1))
        if mode in ("reflect", "circular"):
            mode = "zeros"
    return dict(
        c=c,
        out_c=out_c,
        h=h,
        w=w,
        kh=kh,
        kw=kw,
        stride=stride,
        dilation=dilation,
        groups=groups,
        padding=padding,
        mode=mode,
    )


def _values(draw, shape, denominator):
    return (
        np.array(
            draw(st.lists(st.integers(-8, 8), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        ).reshape(shape)
        / denominator
    )


@given(configurations(), st.data())
def test_conv_matches_torch_exactly_on_dyadic_values(cfg, data):
    K = _values(data.draw, (cfg["out_c"], cfg["c"] // cfg["groups"], cfg["kh"], cfg["kw"]), 8)
    b = _values(data.draw, (cfg["out_c"],), 8)
    x = _values(data.draw, (cfg["c"], cfg["h"], cfg["w"]), 8)
    layer = Conv2d(
        K,
        b,
        in_shape=(cfg["c"], cfg["h"], cfg["w"]),
        stride=cfg["stride"],
        padding=cfg["padding"],
        dilation=cfg["dilation"],
        groups=cfg["groups"],
        padding_mode=cfg["mode"],
    )
    top, bottom, left, right = cfg["padding"]
    t = torch.tensor(x)[None]
    padded = F.pad(t, (left, right, top, bottom), mode="constant" if cfg["mode"] == "zeros" else cfg["mode"])
    want = F.conv2d(padded, torch.tensor(K), torch.tensor(b), cfg["stride"], 0, cfg["dilation"], cfg["groups"])
    assert layer.out_shape == tuple(want.shape[1:])
    got = layer([Fraction(v) for v in x.ravel().tolist()])
    assert got == tuple(Fraction(v) for v in want.flatten().tolist())  # small dyadics: torch is exact


@given(configurations(), st.data())
def test_conv_on_a_line_matches_the_fraction_oracle(cfg, data):
    q = st.fractions(-2, 2, max_denominator=5)
    shape = (cfg["c"], cfg["h"], cfg["w"])
    kernel = [
        [[[data.draw(q) for _ in range(cfg["kw"])] for _ in range(cfg["kh"])] for _ in range(cfg["c"] // cfg["groups"])]
        for _ in range(cfg["out_c"])
    ]
    bias = [data.draw(q) for _ in range(cfg["out_c"])]
    start = [data.draw(q) for _ in range(int(np.prod(shape)))]
    end = [data.draw(q) for _ in range(int(np.prod(shape)))]
    layer = Conv2d(
        kernel,
        bias,
        in_shape=shape,
        stride=cfg["stride"],
        padding=cfg["padding"],
        dilation=cfg["dilation"],
        groups=cfg["groups"],
        padding_mode=cfg["mode"],
    )
    G = layer.apply_map(CPWLMap.line(start, end))
    for t in (Fraction(0), Fraction(2, 7), Fraction(1)):
        flat = [s + t * (e - s) for s, e in zip(start, end)]
        image = [
            [
                flat[ch * cfg["h"] * cfg["w"] + y * cfg["w"] : ch * cfg["h"] * cfg["w"] + (y + 1) * cfg["w"]]
                for y in range(cfg["h"])
            ]
            for ch in range(cfg["c"])
        ]
        assert G(t) == _oracle(
            image, kernel, bias, cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"], cfg["mode"]
        )


def test_conv_refuses_what_it_cannot_mean():
    with pytest.raises(cpwl.ShapeError):
        Conv2d([[[[1]]]], in_shape=(2, 3, 3))  # kernel for 1 channel, input with 2
    with pytest.raises(cpwl.InvalidArgument):
        Conv2d([[[[1]]]], in_shape=(1, 3, 3), padding=3, padding_mode="reflect")  # torch refuses pad >= size too
    with pytest.raises(cpwl.InvalidArgument):
        Conv2d([[[[1]]]], in_shape=(1, 3, 3), padding_mode="symmetric")
    with pytest.raises(cpwl.ShapeError):
        Conv2d([[[[1, 1, 1, 1]]]], in_shape=(1, 3, 3))  # the kernel does not fit
    with pytest.raises(cpwl.ShapeError):
        Conv2d([[[[1]]]], in_shape=(1, 3, 3)).apply_map(CPWLMap.line([0], [1]))


def _variants(kernel):
    """Convolutions that differ from the first in one thing each."""
    base = dict(in_shape=(2, 5, 5), stride=1, padding=1, dilation=1, groups=1, padding_mode="zeros")
    nudged = kernel.copy()
    nudged[0, 0, 0, 0] = np.nextafter(nudged[0, 0, 0, 0], np.inf)
    changes = [
        {},
        {"padding_mode": "circular"},
        {"padding_mode": "reflect"},
        {"padding_mode": "replicate"},
        {"stride": 2},
        {"dilation": 2},
        {"padding": (0, 2, 1, 1)},
        {"padding_mode": "replicate", "padding": 2},
        {"in_shape": (2, 4, 6)},
    ]
    layers = [Conv2d(kernel, None, **{**base, **change}) for change in changes]
    layers.append(Conv2d(nudged, None, **base))
    layers.append(Conv2d(kernel.reshape(8, 1, 3, 3), None, **{**base, "groups": 2}))  # the same bytes
    return layers


@given(st.integers(0, 2**32 - 1))
def test_remembered_bounds_are_each_layers_own(seed):
    """The l2 bounds remembered by content (so a model translated again is not proven again)
    are the ones each layer gets from its own computation, for layers that differ only in
    padding, stride, dilation, groups, input size or one float step of one tap."""
    from cpwl._floats import subnormals_kept

    kernel = np.random.default_rng(seed).standard_normal((4, 2, 3, 3)) / 3
    layers = _variants(kernel)
    remembered = [layer.lipschitz_bound() for layer in layers]
    remembered_again = [layer.lipschitz_bound() for layer in _variants(kernel)]  # fresh objects: from memory
    with subnormals_kept():
        own = [layer._l2_bound(None) for layer in layers]
    assert remembered == own == remembered_again
    weights = np.array([0.25, 4.0])
    assert layers[0].lipschitz_bound(weights=weights) == layers[0]._l2_bound(weights)
    assert layers[0]._bound_key(weights) != layers[0]._bound_key(None)  # Schur weights are part of the key
    assert Conv2d([[[["1/3"]]]], in_shape=(1, 2, 2))._bound_key(None) is None  # not floats: never remembered
