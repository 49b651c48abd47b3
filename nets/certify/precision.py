"""IEEE arithmetic for the rigorous passes, whatever the process's precision settings.

Every rounding bound in :mod:`nets.certify` assumes IEEE float32/float64 products and sums
(each within a relative ``2**-24`` / ``2**-53``) and dot products in the ``gamma_n`` model.
Several torch settings silently break that: TF32 matmuls and convolutions on CUDA (cuDNN
convolutions default to TF32), bf16 matmuls on CPU after
``torch.set_float32_matmul_precision("medium")``, cuDNN's FFT and Winograd convolutions
(their error is not a dot product's), and flushing subnormals to zero on CPU
(``torch.set_flush_denormal(True)``, see :func:`cpwl._floats.subnormals_kept`).
:func:`ieee_arithmetic` sets each of them to IEEE for the duration of a rigorous pass and
puts back exactly what it found.  The settings are
process-wide, so a pass must not run concurrently with float32 work in other threads that
relies on TF32.

Examples:
    >>> import torch
    >>> torch.set_float32_matmul_precision("medium")
    >>> with ieee_arithmetic():
    ...     torch.backends.mkldnn.matmul.fp32_precision
    'ieee'
    >>> torch.backends.mkldnn.matmul.fp32_precision   # restored
    'bf16'
    >>> torch.set_float32_matmul_precision("highest")
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from cpwl._floats import subnormals_kept

__all__ = ["ieee_arithmetic", "PRECISION_SETTINGS"]

#: The torch settings objects whose ``fp32_precision`` must be ``"ieee"`` in a rigorous pass
#: (the leaves of torch's precision tree: a leaf's own value overrides its parents').
PRECISION_SETTINGS = (
    ("torch.backends.cuda.matmul", torch.backends.cuda.matmul),
    ("torch.backends.cudnn.conv", torch.backends.cudnn.conv),
    ("torch.backends.cudnn.rnn", torch.backends.cudnn.rnn),
    ("torch.backends.mkldnn.matmul", torch.backends.mkldnn.matmul),
    ("torch.backends.mkldnn.conv", torch.backends.mkldnn.conv),
    ("torch.backends.mkldnn.rnn", torch.backends.mkldnn.rnn),
)


@contextmanager
def ieee_arithmetic():
    """Within the block: float32 matmuls and convolutions in IEEE float32 on CPU and CUDA (no
    TF32, no bf16), cuDNN off (its FFT and Winograd algorithms are not dot products; torch
    then convolves with im2col and a matrix product), and subnormals kept on CPU.  On exit
    every setting is what it was.

    Examples:
        >>> with ieee_arithmetic():
        ...     torch.backends.cudnn.enabled, torch.backends.cudnn.conv.fp32_precision
        (False, 'ieee')
    """
    saved = [(obj, obj.fp32_precision) for _, obj in PRECISION_SETTINGS]
    cudnn = torch.backends.cudnn.enabled
    try:
        for obj, _ in saved:
            obj.fp32_precision = "ieee"
        torch.backends.cudnn.enabled = False
        with subnormals_kept():
            yield
    finally:
        for obj, value in saved:
            obj.fp32_precision = value
        torch.backends.cudnn.enabled = cudnn
