"""Residue products with torch (``cpwl.residue_device``) give the integers numpy gives: the
same maps, integer for integer, for dense nets of every activation, conv nets in every
padding mode, convolutions whose input channels are cut into slices, products longer than
one exact block, and segments run in worker processes.  On the CPU this runs the torch code
path itself; the CUDA parity tests run where a GPU is present."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_event_engine import ACTIVATIONS, _conv_network, _network, _same

from cpwl import Conv2d, CPWLMap, Interval, InvalidArgument, Network, _modular, activations, residue_device
from cpwl.device import current


@pytest.fixture
def torch_products(monkeypatch):
    """Counts the torch products (dense and convolution) that ran."""
    from cpwl import _filtered_conv

    counts = {"dense": 0, "conv": 0}
    dense, conv = _modular.Moduli._torch_matmul, _filtered_conv._torch_conv

    def counted_dense(*args, **kwargs):
        counts["dense"] += 1
        return dense(*args, **kwargs)

    def counted_conv(layer, rows, kernel, device=None):
        counts["conv"] += device is not None
        return conv(layer, rows, kernel, device)

    monkeypatch.setattr(_modular.Moduli, "_torch_matmul", counted_dense)
    monkeypatch.setattr(_filtered_conv, "_torch_conv", counted_conv)
    return counts


def _on(device, net: Network, F: CPWLMap) -> CPWLMap:
    with residue_device(device):
        return net.apply_map(F)


@settings(deadline=None, max_examples=20)
@given(st.integers(0, 2**32 - 1), st.sampled_from(sorted(ACTIVATIONS)), st.sampled_from([4, 24]))
def test_dense_nets_give_the_same_map_with_torch_products(seed, activation, bits):
    net = _network(seed, activation, bits, None, False)
    F = CPWLMap.identity(Interval(-2, 2))
    _same(_on("cpu", net, F), _on(None, net, F))


def test_the_torch_path_runs_and_the_numpy_path_is_the_default(torch_products):
    net = _conv_network(1, 4, "reflect", "relu")
    F = CPWLMap.identity(Interval(-2, 2))
    _same(_on("cpu", net, F), _on(None, net, F))
    assert torch_products["dense"] > 0 and torch_products["conv"] > 0
    before = dict(torch_products)
    net.apply_map(F)
    assert torch_products == before and current() is None


@settings(deadline=None, max_examples=12)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(["zeros", "circular", "reflect", "replicate"]),
    st.sampled_from(sorted(ACTIVATIONS)),
)
def test_conv_nets_give_the_same_map_with_torch_products(seed, padding_mode, activation):
    net = _conv_network(seed, 24, padding_mode, activation)
    F = CPWLMap.identity(Interval(-2, 2))
    _same(_on("cpu", net, F), _on(None, net, F))


def test_a_convolution_cut_into_channel_slices():
    """A 15x15 kernel has at most 9 input channels per exact slice: 12 channels take two."""
    rng = np.random.default_rng(5)
    kernel = np.round(rng.standard_normal((2, 12, 15, 15)) * 64) / 256
    conv = Conv2d(kernel, rng.standard_normal(2).round(3), in_shape=(12, 15, 15), padding=7)
    first = rng.standard_normal((12 * 15 * 15, 1)).round(2)
    from cpwl import Affine

    net = Network([Affine(first, np.zeros(12 * 15 * 15)), conv, activations.relu(), Affine(np.ones((1, 450)))])
    F = CPWLMap.identity(Interval(-1, 1))
    _same(_on("cpu", net, F), _on(None, net, F))


def test_products_longer_than_one_exact_block():
    moduli = _modular.Moduli(3)
    rng = np.random.default_rng(0)
    k = 2 * _modular._CHUNK + 5
    p = moduli.shaped(2)
    left = np.floor(rng.random((3, 4, k)) * p)
    right = np.floor(rng.random((3, k, 6)) * p)
    bias = np.floor(rng.random((3, 6)) * moduli.shaped(1))
    expected = moduli.matmul(left, right, add=(1, bias))
    with residue_device("cpu"):
        got = moduli.matmul(left, right, add=(1, bias))
    assert np.array_equal(got, expected)
    exact = np.einsum("nrk,nkc->nrc", left.astype(object), right.astype(object))  # Python integers
    exact[:, 1:] += bias[:, None, :].astype(object)
    assert np.array_equal(got, (exact % moduli.shaped(2).astype(object)).astype(np.float64))


def test_segments_in_worker_processes_under_a_residue_device():
    net = _network(2, "maxmin", 8, None, False)
    a, b = ["-2"], ["2"]
    whole = net.restrict_to_line(a, b)
    with residue_device("cpu"):
        assert net.restrict_to_line(a, b, segments=2, workers=2) == whole


@pytest.mark.parametrize("device", ["meta", "mps", "tpu", "cuda:99"])
def test_devices_without_float64_products_are_refused(device):
    with pytest.raises(InvalidArgument, match="residue_device"):
        with residue_device(device):
            pass


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


@cuda
@pytest.mark.parametrize("seed", range(3))
def test_cuda_products_give_the_same_maps(seed):
    F = CPWLMap.identity(Interval(-2, 2))
    for net in (_network(seed, "groupsort", 24, None, False), _conv_network(seed, 24, "circular", "abs")):
        _same(_on("cuda", net, F), _on(None, net, F))


@cuda
def test_a_model_on_the_gpu_restricts_on_it():
    from nets.export import restrict_to_line

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3)).double()
    a, b = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    assert restrict_to_line(model.cuda(), a, b) == restrict_to_line(model.cpu(), a, b)
