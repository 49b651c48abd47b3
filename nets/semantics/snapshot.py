"""A key that changes whenever anything a translation reads may have changed, so that work
derived from a model's translation can be reused while the model stays the same.

:func:`translate` is a function of the model's modules (their classes and every instance
attribute: tensors by their exact contents, plain values by value, containers entry by entry),
of those classes' own attributes, of the translation table and of torch's global hooks.
:func:`state_key` records all of them.  Tensor contents are hashed (not their version
counters, which a write through a numpy view does not bump).  An attribute of a kind it cannot
record makes the key ``None``: the model is then translated afresh every time.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    >>> before = state_key(model)
    >>> before == state_key(model)
    True
    >>> model[0].weight.detach().numpy()[0, 0] += 1      # unseen by torch's version counter
    >>> state_key(model) == before
    False
"""

from __future__ import annotations

import hashlib
from typing import Optional

import torch
from torch import nn

from nets.semantics import registry

__all__ = ["state_key"]


class _Unrecorded(Exception):
    """An attribute whose state the key cannot record."""


def state_key(module: nn.Module) -> Optional[tuple]:
    """The key of everything :func:`nets.semantics.translate` reads from ``module``, or
    ``None`` when some attribute cannot be recorded (then nothing should be reused)."""
    try:
        return (_table(), _global_hooks(), _module_key(module, set()))
    except _Unrecorded:
        return None


def _table() -> tuple:
    return tuple((name, id(entry)) for name, entry in registry._TABLE.items()) + tuple(
        (names, attributes, id(entry)) for names, attributes, entry in registry._LOOKALIKES
    )


def _global_hooks() -> tuple:
    from torch.nn.modules import module as torch_module

    return tuple(
        _value(getattr(torch_module, name, None), set())
        for name in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_module_registration_hooks")
    )


def _module_key(module: nn.Module, open_modules: set) -> tuple:
    if id(module) in open_modules:  # a module that contains itself: leave it to translate to refuse
        raise _Unrecorded
    open_modules = open_modules | {id(module)}
    return (
        "module",
        id(module),
        _classes(type(module)),
        tuple(
            (name, _hooks(value) if name in _TORCH_HOOKS else _value(value, open_modules))
            for name, value in vars(module).items()
        ),
    )


#: torch's per-module hook registries: a translation only asks whether forward hooks are
#: there (it refuses them), so each is recorded by its keys and the identity of its hooks.
_TORCH_HOOKS = frozenset(name for name in vars(nn.Module()) if name.endswith("hooks"))


def _hooks(registry) -> tuple:
    return ("hooks", tuple((key, id(hook)) for key, hook in registry.items()))


def _classes(cls: type) -> tuple:
    """The module's classes (below ``nn.Module``) and their attributes, by identity and, for
    plain values and containers, by value."""
    return tuple(
        (id(c), tuple((name, _class_value(value)) for name, value in vars(c).items()))
        for c in cls.__mro__
        if c not in (nn.Module, object) and issubclass(c, nn.Module)
    )


def _class_value(value) -> tuple:
    try:
        return _value(value, set())
    except _Unrecorded:
        return ("object", id(value))  # functions, descriptors: replacing them changes the id


_PLAIN = (type(None), bool, int, float, complex, str, torch.dtype, torch.device, torch.Size, type, range, slice)


_EXACT_PLAIN = frozenset((type(None), bool, int, float, str))


def _value(value, open_modules: set) -> tuple:
    kind = type(value)
    if kind in _EXACT_PLAIN:  # the common case first
        return (kind, value)
    if isinstance(value, _PLAIN):
        return (type(value).__name__, value if not isinstance(value, (torch.dtype, torch.device)) else str(value))
    if isinstance(value, bytes):
        return ("bytes", hashlib.blake2b(value, digest_size=16).digest())
    if isinstance(value, torch.Tensor):
        return _tensor(value)
    if isinstance(value, nn.Module):
        return _module_key(value, open_modules)
    if isinstance(value, dict):
        return ("dict", type(value).__name__, tuple((k, _value(v, open_modules)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return (type(value).__name__, tuple(_value(v, open_modules) for v in items))
    if callable(value) and hasattr(value, "__code__"):  # a plain function: by identity and code
        return ("function", id(value), id(value.__code__), _value(value.__defaults__, open_modules))
    from cpwl.layer import Layer

    if isinstance(value, Layer):  # exact layers a module holds (a traced graph): immutable by contract
        return ("layer", id(value))
    raise _Unrecorded


def _tensor(t: torch.Tensor) -> tuple:
    """A tensor by its exact contents (the bytes of every entry), dtype, shape and device."""
    data = t.detach()
    if data.layout != torch.strided or data.is_quantized:
        raise _Unrecorded
    digest = hashlib.blake2b(digest_size=16)
    if data.numel():
        digest.update(data.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return ("tensor", type(t).__name__, str(data.dtype), tuple(data.shape), str(data.device), digest.digest())
