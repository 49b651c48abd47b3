"""A key that changes whenever anything a translation reads may have changed, so that work
derived from a model's translation can be reused while the model stays the same.

:func:`translate` is a function of the model's modules (their classes and every instance
attribute: tensors by their exact contents, plain values by value, containers entry by entry),
of those classes' own attributes (functions by their code, defaults and closures), of the
translation table and of whether forward hooks are registered.  :func:`state_key` feeds all
of them, each framed by a type tag and its length, into one BLAKE2b digest.  Tensor contents
are hashed, not their version counters (a write through a numpy view does not bump those).
An attribute of a kind it cannot record makes the key ``None``: the model is then translated
afresh every time.

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


class _Digest:
    def __init__(self, classes: Optional[dict] = None, stack: Optional[list] = None):
        self._hash = hashlib.blake2b(digest_size=32)
        self._pending: list = []  # small items, hashed together
        #: class digests already computed in this call (many modules share a class)
        self.classes = {} if classes is None else classes
        #: the containers, modules and functions being recorded, outermost first: meeting one
        #: again is a cycle, recorded as a reference to its depth
        self.stack = [] if stack is None else stack

    def put(self, tag: bytes, data=b"") -> None:
        """One framed item: its tag, its length, its bytes (so no two sequences of items
        give the same stream)."""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        if isinstance(data, bytes):
            self._pending += (tag, len(data).to_bytes(8, "little"), data)
        else:  # a large buffer (a tensor's bytes): not copied
            self._pending += (tag, memoryview(data).nbytes.to_bytes(8, "little"))
            self._flush()
            self._hash.update(data)

    def _flush(self) -> None:
        self._hash.update(b"".join(self._pending))
        self._pending.clear()

    def enter(self, value) -> bool:
        """Start recording ``value``; ``False`` (and a back-reference recorded) if it is
        already being recorded."""
        for depth, open_value in enumerate(self.stack):
            if open_value is value:
                self.put(b"R", str(depth))
                return False
        self.stack.append(value)
        return True

    def digest(self) -> bytes:
        self._flush()
        return self._hash.digest()


def state_key(module: nn.Module) -> Optional[bytes]:
    """The digest of everything :func:`nets.semantics.translate` reads from ``module``, or
    ``None`` when some attribute cannot be recorded (then nothing should be reused)."""
    key = _Digest()
    try:
        for name, entry in registry._TABLE.items():  # the table: which meanings exist
            key.put(b"E", f"{name}:{id(entry)}")
        for names, attributes, entry in registry._LOOKALIKES:
            key.put(b"K", f"{names}:{attributes}:{id(entry)}")
        from torch.nn.modules import module as torch_module

        for name in ("_global_forward_hooks", "_global_forward_pre_hooks"):  # refused when present
            key.put(b"G", str(len(getattr(torch_module, name, {}))))
        _value(key, module)
    except _Unrecorded:
        return None
    return key.digest()


#: torch's per-module hook registries: a translation only asks whether forward hooks are
#: there (it refuses them), so each is recorded by its keys.
_TORCH_HOOKS = frozenset(name for name in vars(nn.Module()) if name.endswith("hooks"))


def _module(key: _Digest, module: nn.Module) -> None:
    key.put(b"M", str(len(vars(module))))
    key.put(b"c", _classes(type(module), key.classes))
    for name, value in vars(module).items():
        key.put(b"n", name)
        if name in _TORCH_HOOKS:
            key.put(b"h", ",".join(map(str, value.keys())))
        else:
            _value(key, value)


def _classes(cls: type, seen: dict) -> bytes:
    """The digest of a module's classes below ``nn.Module``, attribute by attribute (``seen``:
    the ones this call has already computed; a class is recorded on its own, apart from the
    instance that led to it)."""
    if cls in seen:
        return seen[cls]
    seen[cls] = f"open:{cls.__qualname__}:{id(cls)}".encode()  # what a class that refers to itself records
    key = _Digest(seen)
    for c in cls.__mro__:
        if c in (nn.Module, object) or not issubclass(c, nn.Module):
            continue
        key.put(b"c", f"{c.__module__}.{c.__qualname__}:{id(c)}:{len(vars(c))}")
        for name, value in vars(c).items():
            key.put(b"a", name)
            try:
                _value(key, value)
            except _Unrecorded:  # descriptors, slots: replacing one changes its identity
                key.put(b"o", f"{type(value).__qualname__}:{id(value)}")
    seen[cls] = key.digest()
    return seen[cls]


def _value(key: _Digest, value) -> None:
    kind = type(value)
    if value is None:
        key.put(b"N")
    elif kind is bool:
        key.put(b"B", "1" if value else "0")
    elif kind is int:
        key.put(b"I", str(value))
    elif kind is float:
        key.put(b"F", value.hex())
    elif kind is str:
        key.put(b"S", value)
    elif kind is complex:
        key.put(b"Z", f"{value.real.hex()},{value.imag.hex()}")
    elif kind is bytes:
        key.put(b"b", value)
    elif kind in (torch.dtype, torch.device, range, slice):
        key.put(b"p", f"{kind.__name__}:{value}")
    elif isinstance(value, torch.Tensor):
        _tensor(key, value)
    elif isinstance(value, type):
        key.put(b"Y", f"{value.__module__}.{value.__qualname__}:{id(value)}")
    elif isinstance(value, (nn.Module, dict, list, tuple, set, frozenset)) or kind.__name__ == "function":
        if key.enter(value):
            try:
                _composite(key, value)
            finally:
                key.stack.pop()
    elif kind in (staticmethod, classmethod):
        key.put(b"W", kind.__name__)
        _value(key, value.__func__)
    elif kind is property:
        key.put(b"P")
        for accessor in (value.fget, value.fset, value.fdel):
            _value(key, accessor)
    else:
        raise _Unrecorded


def _composite(key: _Digest, value) -> None:
    """A module, container or function (on the stack while its parts are recorded)."""
    kind = type(value)
    if isinstance(value, nn.Module):
        _module(key, value)
    elif isinstance(value, dict):
        key.put(b"D", f"{kind.__qualname__}:{len(value)}")
        for k, v in value.items():
            _value(key, k)
            _value(key, v)
    elif isinstance(value, (list, tuple)):
        key.put(b"L", f"{kind.__qualname__}:{len(value)}")
        for v in value:
            _value(key, v)
    elif isinstance(value, (set, frozenset)):
        key.put(b"T", f"{kind.__qualname__}:{len(value)}")
        for v in sorted(value, key=repr):
            _value(key, v)
    else:
        _function(key, value)


def _function(key: _Digest, f) -> None:
    """A plain function by what it computes: its code, defaults and closure."""
    if not f.__closure__ and _immutable(f.__defaults__) and _immutable(f.__kwdefaults__):
        parts = (f, f.__code__, f.__defaults__, f.__kwdefaults__)
        known = _FUNCTIONS.get(id(f))
        if known is None or not all(a is b for a, b in zip(known[0], parts)):
            own = _Digest()  # on its own: the same wherever it is met
            own.put(b"f", f"{f.__module__}.{f.__qualname__}")
            own.put(b"x", f.__code__.co_code)
            own.put(b"y", repr((f.__code__.co_consts, f.__code__.co_names, f.__code__.co_varnames)))
            own.put(b"d", repr((f.__defaults__, f.__kwdefaults__)))
            if len(_FUNCTIONS) > 4096:
                _FUNCTIONS.clear()
            known = _FUNCTIONS[id(f)] = (parts, own.digest())  # held: their ids cannot be reused meanwhile
        key.put(b"f", known[1])
        return
    code = f.__code__  # a closure or defaults that can change inside: recorded in full, every time
    key.put(b"g", f"{f.__module__}.{f.__qualname__}")
    key.put(b"x", code.co_code)
    key.put(b"y", repr((code.co_consts, code.co_names, code.co_varnames)))
    _value(key, f.__defaults__)
    _value(key, f.__kwdefaults__)
    for cell in f.__closure__ or ():
        try:
            contents = cell.cell_contents
        except ValueError:  # a cell not filled yet
            raise _Unrecorded from None
        _value(key, contents)


#: Digests of functions seen before, by identity; an entry holds the function, its code and
#: its defaults, so that an identical identity check means the same function.
_FUNCTIONS: dict = {}


def _immutable(value) -> bool:
    if value is None or type(value) in (bool, int, float, str, bytes, complex):
        return True
    return type(value) is tuple and all(map(_immutable, value))


def _tensor(key: _Digest, t: torch.Tensor) -> None:
    """A tensor by its exact contents (the bytes of every entry), dtype, shape and device."""
    data = t.detach()
    if data.layout != torch.strided or data.is_quantized:
        raise _Unrecorded
    key.put(b"t", f"{type(t).__qualname__}:{data.dtype}:{tuple(data.shape)}:{data.device}")
    key.put(b"d", data.cpu().contiguous().reshape(-1).view(torch.uint8).numpy() if data.numel() else b"")
