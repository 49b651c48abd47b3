"""Private: a proven bound on the spectral norm of a 2-D convolution, computed in float64 with
every rounding bounded.

The bound is Schur's test on the Gram operator of the convolution *on a torus*: for a kernel
``K[o, i, u, v]`` (dilation already spread into zeros) the Gram entries between input channels
``i, j`` at offset ``lag`` are the kernel's self-correlation ``corr_ij(lag) = sum_o sum_u
K[o, i, u] K[o, j, u + lag]`` (summed over aliased lags on a small torus), so with positive
weights ``q`` per input channel ::

    ||C_torus||^2 <= max_i sum_j sum_lag |corr_ij(lag)| q_j / q_i.

Every convolution the layer accepts is ``R C_torus E`` or ``C_valid Pad``:

* zero padding: a big torus holds the zero-padded input without wrapping, so the layer is a
  restriction of ``C_torus`` (``||R|| = ||E|| = 1``);
* circular padding: the output at ``o`` is the torus output at ``(o * stride - pad) mod size``;
  ``R`` repeats a torus output at most ``m`` times, ``||R||^2 = m``;
* reflect and replicate padding: ``Pad`` copies each input pixel at most ``c`` times
  (``Pad^T Pad`` is diagonal with the copy counts), ``||Pad||^2 = c``, and the valid
  convolution is a restriction of ``C_torus``.

Strides only select outputs (a restriction) and groups make the operator block diagonal (the
largest block bound is the bound).
"""

from __future__ import annotations

import numpy as np

_U = 2.0**-53


def _gamma(n: int) -> float:
    """``n u / (1 - n u)``, inflated so that its own rounding is covered."""
    return n * _U / (1 - n * _U) * (1 + 2.0**-40)


def _correlations(K: np.ndarray) -> np.ndarray:
    """``corr[i, j, dy, dx]`` for a kernel ``[out, in, kh, kw]`` (lags ``-(k-1)..k-1`` at
    index ``lag + k - 1``), by one matrix product per lag."""
    out, cin, kh, kw = K.shape
    corr = np.zeros((cin, cin, 2 * kh - 1, 2 * kw - 1))
    for dy in range(-kh + 1, kh):
        for dx in range(-kw + 1, kw):
            a = K[:, :, max(0, -dy) : kh - max(0, dy), max(0, -dx) : kw - max(0, dx)]
            b = K[:, :, max(0, dy) : kh - max(0, -dy), max(0, dx) : kw - max(0, -dx)]
            left = a.transpose(1, 0, 2, 3).reshape(cin, -1)
            right = b.transpose(1, 0, 2, 3).reshape(cin, -1)
            corr[:, :, dy + kh - 1, dx + kw - 1] = left @ right.T
    return corr


def dilate(K: np.ndarray, dilation: tuple) -> np.ndarray:
    """The kernel with ``dilation - 1`` zeros between taps."""
    dh, dw = dilation
    out, cin, kh, kw = K.shape
    spread = np.zeros((out, cin, (kh - 1) * dh + 1, (kw - 1) * dw + 1), dtype=K.dtype)
    spread[:, :, ::dh, ::dw] = K
    return spread


def schur_row_max(K: np.ndarray, groups: int, q, products_exact: bool, kernel_exact: bool, sums_exact: bool = False) -> float:
    """A float64 upper bound, rounding included, of ``max_i sum_j sum_lag |corr_ij(lag)| q_j
    / q_i`` over the groups of a (dilated) kernel ``[out, in / groups, kh, kw]``; ``q=None``
    means all ones.

    ``products_exact``: every product of two kernel entries is exact in float64 (true for
    float32 kernels); ``kernel_exact``: the float kernel equals the exact one (else each entry
    is within a relative ``2**-52``); ``sums_exact`` (only with ``q=None``): every sum the
    test forms is exact in float64 (small dyadic kernels), so nothing needs inflating."""
    out, cin_g, kh, kw = K.shape
    out_g = out // groups
    terms = out_g * kh * kw
    exact = sums_exact and q is None
    gamma = _gamma(terms + (0 if products_exact else 1))
    inexact = 0.0 if kernel_exact else 2.0**-50  # |K~ K~' - K K'| <= 2 * 2**-52 (1 + tiny) |K~ K~'|
    nonzero = np.abs(K[K != 0])
    underflow = terms * 2.0**-1073 if nonzero.size and nonzero.min() < 2.0**-511 else 0.0
    weights = np.ones(cin_g * groups) if q is None else q
    worst = 0.0
    for g in range(groups):
        Kg = K[g * out_g : (g + 1) * out_g]
        corr = np.abs(_correlations(Kg))
        entry = corr if exact else corr + (gamma + inexact) * _correlations(np.abs(Kg)) * (1 + gamma) + underflow
        qg = weights[g * cin_g : (g + 1) * cin_g]
        weighted = entry.sum(axis=(2, 3)) @ qg / qg
        worst = max(worst, float(weighted.max()))
    return worst if exact else worst * (1 + _gamma(cin_g * (2 * kh - 1) * (2 * kw - 1) + 3))
