"""Sound certificates for trained models, all derived from the one translation of
:mod:`nets.semantics`:

* :mod:`nets.certify.lipschitz`: proven per-module Lipschitz bounds (never power iteration);
* :mod:`nets.certify.rigorous`: float64 forward passes with proven error bounds;
* :mod:`nets.certify.robustness`: certified robust accuracy, margins compared exactly;
* :mod:`nets.certify.line`: exact distances to the first label change along a segment.

Example:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.tensor([[0.6, 0.8], [-0.8, 0.6]]))
    >>> [layer.ok for layer in lipschitz_certificate(model).layers]
    [False, True]
"""

from nets.certify.line import LineCertificate, line_certificate
from nets.certify.lipschitz import LayerCertificate, LipschitzCertificate, lipschitz_certificate
from nets.certify.rigorous import bounded_forward
from nets.certify.robustness import RobustnessReport, certified_robust_accuracy, proven_margin

__all__ = [
    "LayerCertificate",
    "LineCertificate",
    "LipschitzCertificate",
    "RobustnessReport",
    "bounded_forward",
    "certified_robust_accuracy",
    "line_certificate",
    "lipschitz_certificate",
    "proven_margin",
]
