"""Sound certificates for trained models, all derived from the one translation of
:mod:`nets.semantics`:

* :mod:`nets.certify.lipschitz`: proven per-module Lipschitz bounds (never power iteration);
* :mod:`nets.certify.rigorous`: float64 forward passes with proven error bounds;
* :mod:`nets.certify.robustness`: certified robust accuracy, margins compared exactly;
* :mod:`nets.certify.line`: exact distances to the first label change along a segment;
* :mod:`nets.certify.monotonicity`: monotonicity, structurally and exactly along segments.

Examples:
    >>> import torch
    >>> import nets
    >>> model = nets.LipschitzMLP([2, 4, 3], activation="n", layer="aol")
    >>> lipschitz_certificate(model).bound <= 1
    True
    >>> y, err = bounded_forward(model, torch.ones(2, 2))
    >>> bool((err < 1e-12).all())
    True
"""

from nets.certify.first_change import FirstChange, LineCertifier
from nets.certify.line import LineCertificate, line_certificate
from nets.certify.lipschitz import LayerCertificate, LipschitzCertificate, lipschitz_certificate
from nets.certify.monotonicity import LineSlopes, monotone_along, monotonicity_certificate
from nets.certify.rigorous import BoundedModel, bounded_forward
from nets.certify.robustness import (
    Certifier,
    RobustnessReport,
    certified_robust_accuracy,
    margin_certifies,
    proven_margin,
)

__all__ = [
    "BoundedModel",
    "Certifier",
    "FirstChange",
    "LayerCertificate",
    "LineCertificate",
    "LineCertifier",
    "LineSlopes",
    "LipschitzCertificate",
    "RobustnessReport",
    "bounded_forward",
    "certified_robust_accuracy",
    "line_certificate",
    "margin_certifies",
    "lipschitz_certificate",
    "monotone_along",
    "monotonicity_certificate",
    "proven_margin",
]
