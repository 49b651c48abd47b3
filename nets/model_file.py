"""Model files for the :mod:`nets` architectures: constructor arguments plus weights, read
with ``torch.load(weights_only=True)`` so that loading never executes code from the file.

Examples:
    >>> import tempfile, pathlib, nets
    >>> model = nets.LipschitzMLP([1, 4, 1], activation="n")
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.pt"
    >>> save(model, path)
    >>> type(load(path)).__name__
    'LipschitzMLP'
"""

from __future__ import annotations

import io
import pathlib
import pickle
import warnings

import torch
from torch import nn

from cpwl.errors import ModelFileError
from nets.models import LipschitzMLP, SimplifiedConvNet

__all__ = ["ModelFileError", "save", "load"]

_FORMAT, _VERSION = "lipcpwl.nets", 2
_CLASSES = {"LipschitzMLP": LipschitzMLP, "SimplifiedConvNet": SimplifiedConvNet}


def save(model: nn.Module, path) -> None:
    """Write a :class:`nets.LipschitzMLP` or :class:`nets.SimplifiedConvNet` (its ``spec`` and
    ``state_dict``) to ``path``."""
    name = type(model).__name__
    if name not in _CLASSES or not isinstance(getattr(model, "spec", None), dict):
        raise ModelFileError(f"save supports {sorted(_CLASSES)} built with string options, got {name}")
    if not all(isinstance(v, (str, int, float, bool, list)) for v in model.spec.values()):
        raise ModelFileError("only models built with named activations (strings) can be saved")
    torch.save(
        {"format": _FORMAT, "version": _VERSION, "class": name, "spec": model.spec, "state_dict": model.state_dict()},
        path,
    )


def load(source) -> nn.Module:
    """Read a model written by :func:`save` from a path, or from the bytes of such a file (in
    evaluation mode).  Anything else — a missing file, another format, a pickle that would run
    code — raises :class:`ModelFileError`."""
    if isinstance(source, (bytes, bytearray)):
        path, readable = "the model bytes", io.BytesIO(bytes(source))
    else:
        path = readable = pathlib.Path(source)
        if not path.is_file():
            raise ModelFileError(f"no model file at {path}")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle it is refusing; we say why ourselves
            warnings.simplefilter("ignore")
            payload = torch.load(readable, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
        raise ModelFileError(
            f"{path} is not a lipcpwl model file (or would need code to load): {str(err).splitlines()[0]}"
        ) from err
    if (
        isinstance(payload, dict)
        and payload
        and all(isinstance(k, str) and torch.is_tensor(v) for k, v in payload.items())
    ):
        raise ModelFileError(
            f"{path} holds a state_dict (weights without the architecture); build the model, "
            f"model.load_state_dict(torch.load(path)), then save it with nets.model_file.save(model, file) "
            f"or torch.export.save(torch.export.export(model, (example,)), 'model.pt2')"
        )
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ModelFileError(f"{path} is not a lipcpwl model file (one written by nets.model_file.save)")
    if (
        payload.get("version") not in (1, _VERSION)
        or payload.get("class") not in _CLASSES
        or not isinstance(payload.get("spec"), dict)
    ):
        raise ModelFileError(f"{path}: unsupported version or model class")
    if payload["version"] == 1 and payload["class"] == "SimplifiedConvNet":
        payload["spec"].setdefault("pooling_order", "channel_major")  # version 1 pooled channel-major
    try:
        model = _CLASSES[payload["class"]](**payload["spec"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        raise ModelFileError(f"{path}: the weights do not fit the model spec: {str(err).splitlines()[0]}") from err
    return model.eval()
