"""One test per mutant that survived the mutation audit (a bug of that shape would have
shipped): each test fails on the mutant and passes on the code.

* AOL rescaling by ``1/r`` instead of ``1/sqrt(r)`` (every AOL test started from ``r = 1``);
* the certification comparison with ``>=`` instead of ``>`` (the rigorous forward pass never
  let an exact tie reach it);
* ``CPWL.compose`` without one side of its domain check;
* a wrong sign in the exact PSD test, which made ``spectral_norm_enclosure`` loop forever.

The proofs' end-slope probe (``proofs.n_universality``) kills the fifth survivor.
"""

import signal
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import cpwl
import nets
from cpwl import CPWL
from nets.certify import margin_certifies


@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_aol_scales_follow_the_closed_form_on_any_parameter(m, n, seed):
    """``d_j = (sum_k |P^T P|_jk + eps)^(-1/2)`` for a random (non-orthogonal) ``P``, computed
    independently in float64."""
    layer = nets.AOLLinear(n, m).double()
    P = np.random.default_rng(seed).standard_normal((m, n)) * 3
    with torch.no_grad():
        layer.P.copy_(torch.tensor(P))
    want = 1 / np.sqrt(np.abs(P.T @ P).sum(axis=1) + layer.eps)
    assert np.allclose(layer.scales().detach().numpy(), want, rtol=1e-12)
    assert np.linalg.norm(layer.weight_matrix().detach().numpy(), 2) <= 1 + 1e-12


def test_aol_is_tight_on_a_scaled_orthogonal_parameter():
    """``P = 3 Q`` with ``Q`` orthogonal: AOL returns ``Q`` (norm 1), not ``Q / 3``."""
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 4)))[0]
    dense = nets.AOLLinear(4, 4).double()
    conv = nets.AOLConv2d(2, 2, 3).double()
    with torch.no_grad():
        dense.P.copy_(torch.tensor(3 * Q))
        conv.P.mul_(3)  # 3 x the dirac kernel
    assert np.allclose(dense.weight_matrix().detach().numpy(), Q, atol=1e-6)
    assert np.allclose(conv.kernel().detach().numpy(), torch.nn.init.dirac_(torch.empty(2, 2, 3, 3)).numpy(), atol=1e-6)


@pytest.mark.parametrize("norm, factor", [("inf", 2), (1, 1)])
def test_an_exact_tie_is_never_certified(norm, factor):
    L, eps = Fraction(3, 2), Fraction(1, 7)
    tie = factor * L * eps
    assert not margin_certifies(tie, L, eps, norm)
    assert margin_certifies(tie + Fraction(1, 2**60), L, eps, norm)


def test_a_zero_margin_at_radius_zero_is_not_certified():
    """The only exact tie of the l2 rule with rational numbers: margin 0 at eps 0."""
    for norm in (2, 1, "inf"):
        assert not margin_certifies(Fraction(0), Fraction(1), Fraction(0), norm)
        assert margin_certifies(Fraction(1, 2**60), Fraction(1), Fraction(0), norm)
    assert not margin_certifies(Fraction(-1), Fraction(1), Fraction(0))  # a negative margin, squared, is positive


@pytest.mark.parametrize("low, high", [("-1/100", 1), (0, "101/100"), (0, 1)])
def test_compose_checks_both_ends_of_the_outer_domain(low, high):
    outer = CPWL.from_points([(0, 0), (1, 1)])  # domain [0, 1]
    inner = CPWL.from_points([(0, low), (1, high)])
    if (low, high) == (0, 1):
        assert outer.compose(inner)(Fraction(1, 2)) == Fraction(1, 2)
    else:
        with pytest.raises(cpwl.DomainError):
            outer.compose(inner)


def test_a_wrong_psd_verdict_fails_instead_of_hanging(monkeypatch):
    """If the exact test ever said ``||W|| > c`` for every ``c``, the bracket search would
    run forever; it must stop at the Frobenius bound with an error (an alarm turns a hang into
    a failure)."""
    import cpwl.linalg as linalg

    monkeypatch.setattr(linalg, "_spectral_at_most", lambda gram, den2, c: False)

    def hang(*_):
        raise AssertionError("spectral_norm_enclosure did not terminate")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(20)
    try:
        with pytest.raises(cpwl.CPWLError, match="Frobenius"):
            linalg.spectral_norm_enclosure([[3, 4], [0, 1]])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
