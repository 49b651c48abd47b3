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

from cpwl._floats import subnormal

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


def schur_row_max(
    K: np.ndarray, groups: int, q, products_exact: bool, kernel_exact: bool, sums_exact: bool = False
) -> float:
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
    underflow = terms * subnormal(-1073) if nonzero.size and nonzero.min() < 2.0**-511 else 0.0
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


# ---------------------------------------------------------------------- the spectral bound
def _twiddles(n: int) -> np.ndarray:
    """``exp(-2 pi i m / n)`` for ``m = 0..n-1``, each part within ``2**-52`` of the truth
    (MPFR at 120 bits, correctly rounded, then rounded to float64)."""
    import gmpy2

    with gmpy2.context(precision=120) as ctx:
        del ctx
        angles = [2 * gmpy2.const_pi() * m / n for m in range(n)]
        return np.array([complex(float(gmpy2.cos(a)), -float(gmpy2.sin(a))) for a in angles])


def _axis_factors(n: int, taps: int, dilation: int) -> np.ndarray:
    """``F[k, u] = exp(-2 pi i k u dilation / n)`` for frequencies ``k`` and kernel taps ``u``."""
    table = _twiddles(n)
    return table[(np.arange(n)[:, None] * np.arange(taps)[None, :] * dilation) % n]


#: From this size on, the largest eigenvalue of a Gram matrix is estimated by Lanczos
#: iterations (a few dozen products with it) instead of a full decomposition.
_LANCZOS_FROM = 256


def _largest_eigenvalues(G: np.ndarray) -> np.ndarray:
    """Float estimates of the largest eigenvalue of each Hermitian matrix of the stack ``G``
    (only a starting guess for the proof in :func:`_sigma_squared_upper`)."""
    n = G.shape[1]
    if n < _LANCZOS_FROM:
        return np.linalg.eigvalsh(G)[:, -1]
    from scipy.sparse.linalg import ArpackNoConvergence, eigsh

    out = np.empty(len(G))
    for k, matrix in enumerate(G):
        try:
            out[k] = eigsh(matrix, k=1, which="LA", tol=2.0**-30, return_eigenvectors=False)[0]
        except ArpackNoConvergence:
            out[k] = np.linalg.eigvalsh(matrix)[-1]
    return out


def _sigma_squared_upper(M: np.ndarray) -> np.ndarray:
    """Upper bounds of ``sigma_max(M)**2`` for a stack of complex matrices ``M`` (float
    inputs taken as exact): the Gram matrix ``G = M^H M`` is formed with its rounding bounded,
    and ``s I - G`` is shown positive definite by a floating-point Cholesky factorisation
    ``R``, whose backward error is at most ``gamma |R^H| |R|`` (Higham, Thm 10.3), so
    ``lambda_max(G) <= s + gamma ||R||_F^2``."""
    count, m, n = M.shape
    G = np.matmul(M.conj().transpose(0, 2, 1), M)
    G = (G + G.conj().transpose(0, 2, 1)) / 2  # exactly Hermitian (the average moves entries by at most their rounding)
    absM = np.abs(M)
    gram_err = 4 * _gamma(2 * m + 4) * np.sqrt((np.matmul(absM.transpose(0, 2, 1), absM) ** 2).sum(axis=(1, 2)))
    s = _largest_eigenvalues(G) * (1 + 2.0**-30) + 2.0**-1000  # a guess: the factorisation below proves it
    bound = np.full(count, np.inf)
    pending = np.arange(count)
    for _ in range(40):
        if not len(pending):
            break
        shifted = s[pending, None, None] * np.eye(n)[None] - G[pending]
        failed = []
        for position, index in enumerate(pending):
            try:
                R = np.linalg.cholesky(shifted[position])
            except np.linalg.LinAlgError:
                failed.append(index)
                continue
            tau = 4 * _gamma(n + 2) * float((np.abs(R) ** 2).sum()) * (1 + 2.0**-40)
            bound[index] = (s[index] + tau + gram_err[index]) * (1 + 2.0**-40) + 2.0**-1000
        pending = np.array(failed, dtype=int)
        s[pending] *= 1 + 2.0**-20
    return bound


def polyphase(K: np.ndarray, groups: int, stride: tuple) -> np.ndarray:
    """The kernel of a strided convolution seen as an unstrided one on the polyphase
    components of its input: ``y[i] = sum_u K[u] x[s i + u] = sum_(a, u') K[s u' + a]
    x_a[i + u']`` with ``x_a[j] = x[s j + a]``, an orthogonal regrouping of the input, so both
    convolutions have the same singular values.  ``[out, in_g s_h s_w, ceil(kh / s_h),
    ceil(kw / s_w)]`` (input channels grouped per group, phases inside)."""
    sh, sw = stride
    out, cin_g, kh, kw = K.shape
    th, tw = -(-kh // sh), -(-kw // sw)
    padded = np.zeros((out, cin_g, th * sh, tw * sw), dtype=K.dtype)
    padded[:, :, :kh, :kw] = K
    phases = padded.reshape(out, cin_g, th, sh, tw, sw).transpose(0, 1, 3, 5, 2, 4)  # [out, c, a_h, a_w, u', v']
    return phases.reshape(out, cin_g * sh * sw, th, tw)


def spectral_norm_upper(
    K: np.ndarray, groups: int, torus: tuple, dilation: tuple, kernel_exact: bool, stride: tuple = (1, 1)
) -> float:
    """A float64 upper bound, every rounding bounded, of the spectral norm of the circular
    convolution of kernel ``K`` ``[out, in / groups, kh, kw]`` on a torus of ``torus`` pixels
    (divisible by ``stride``, whose outputs are kept): the largest singular value of the
    kernel's transfer matrices ``K^(w)`` over the torus frequencies (the discrete Fourier
    transform block-diagonalises a circular convolution); a strided one goes through its
    :func:`polyphase` kernel on the smaller torus."""
    if stride != (1, 1):
        wide = dilate(K, dilation)
        return spectral_norm_upper(
            polyphase(wide, groups, stride),
            groups,
            (torus[0] // stride[0], torus[1] // stride[1]),
            (1, 1),
            kernel_exact,
        )
    out, cin_g, kh, kw = K.shape
    out_g = out // groups
    Fh, Fw = _axis_factors(torus[0], kh, dilation[0]), _axis_factors(torus[1], kw, dilation[1])
    half = torus[1] // 2 + 1  # real kernels: the frequencies -w give conjugate matrices
    Fw = Fw[:half]
    rel = (0.0 if kernel_exact else 2.0**-52) + 6 * 2.0**-52 + 2 * _gamma(2 * kh * kw + 4)
    worst = 0.0
    for g in range(groups):
        Kg = K[g * out_g : (g + 1) * out_g]
        hat = np.einsum("oiuv,xu,yv->xyoi", Kg.astype(np.complex128), Fh, Fw).reshape(-1, out_g, cin_g)
        entry_err = rel * np.abs(Kg).sum(axis=(2, 3)) + kh * kw * subnormal(
            -1070
        )  # |K^ - K^~| per entry, every frequency
        delta = float(np.sqrt((entry_err**2).sum())) * (1 + 2.0**-40)
        sigma = float(np.sqrt(_sigma_squared_upper(hat).max())) * (1 + 2.0**-40)
        worst = max(worst, sigma + delta)
    return worst * (1 + 2.0**-40)
