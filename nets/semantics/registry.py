"""The table from torch modules to their exact meaning, and the fail-closed rules for reading it.

An :class:`Entry` says what one module class computes, as exact :mod:`cpwl` layers for a
given per-sample input shape, and optionally a tighter *proven* Lipschitz bound than the
product of those layers' own bounds.  Everything else the library does with a module — exact
export, line restriction, Lipschitz certificates, the rigorous float forward pass — is derived
from the exact layers, so a module has exactly one written meaning.

A module is accepted only when what it computes is what its entry assumes:

* its class, or the nearest registered class in its MRO, has an entry (foreign libraries are
  registered by qualified name, so they need not be installed);
* no class between the module's class and that entry overrides a method of the entry's class
  (``forward``, ``_conv_forward``, ``__call__``, ``weight_matrix``...); only ``__init__``,
  ``reset_parameters`` and the printing methods may be overridden.  Classes created by
  :mod:`torch.nn.utils.parametrize` are transparent: parametrized tensors are read through
  their parametrization, exactly as the forward pass reads them;
* no method is replaced on the instance itself;
* no forward hook or pre-hook is registered on it (checked over the whole model, and torch's
  global hooks), since a hook changes what the forward pass returns.  Hook-based
  reparametrisations (``torch.nn.utils.weight_norm``, ``torch.nn.utils.spectral_norm``) are
  hooks: their stored weight can be stale, so they are refused with a pointer to the
  ``torch.nn.utils.parametrizations`` versions, which are read exactly.

Examples:
    >>> from torch import nn
    >>> entry, base = lookup(nn.ReLU(), "0")
    >>> base is nn.ReLU
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch import nn
from torch.nn.modules import module as torch_module
from torch.nn.utils import parametrize

from cpwl.errors import InvalidArgument, UnsupportedModuleError

__all__ = ["Entry", "check_no_hooks", "lookup", "register", "register_lookalike", "registered"]

#: Methods a subclass may override without changing what a module computes.
_HARMLESS = frozenset(
    {
        "__init__",
        "__repr__",
        "__str__",
        "extra_repr",
        "reset_parameters",
        "__module__",
        "__qualname__",
        "__doc__",
        "__dict__",
        "__weakref__",
        "__annotations__",
        "__orig_bases__",
        "__parameters__",
        "__abstractmethods__",
        "_abc_impl",
        "__firstlineno__",
        "__static_attributes__",
        "__slots__",
        "__slotnames__",
        "__init_subclass__",
        "__classcell__",
        "vanilla_export",
    }
)

#: Instance attributes torch itself keeps on a module.
_TORCH_STATE = frozenset(vars(nn.Module()).keys())


@dataclass(frozen=True)
class Entry:
    """The exact meaning of one module class.

    ``exact(module, shape)`` returns ``(layers, out_shape)``: the exact :mod:`cpwl` layers the
    module computes on one sample of per-sample ``shape`` (a tuple), flattened row-major, and
    the output's per-sample shape.  ``bound(module, shape, layers, norm)``, when given,
    returns a proven :class:`cpwl.LipschitzBound` of those layers in ``norm`` (2, 1 or
    ``"inf"``) that is tighter than the product of their own bounds, or ``None`` when it has
    none for that norm (it must be proven: the soundness suite checks every entry against
    true operator norms).  ``container=True`` marks modules whose meaning is their children
    applied in order (``nn.Sequential``); they have no ``exact``.  A module that is not
    piecewise linear (an l2-norm pooling) has no ``exact`` either but a ``float_step(module,
    shape)`` giving ``(step, out_shape)``, ``step(y, err) -> (y, err)`` a rigorous float
    evaluation, and a ``bound`` for every norm: certificates use them, exact export refuses the
    module.
    """

    name: str
    exact: Optional[Callable] = None
    bound: Optional[Callable] = None
    container: bool = False
    float_step: Optional[Callable] = None
    #: Recognised by class name and attributes (code that is not installed): the meaning is
    #: checked against the module's own forward pass before it is used.
    verify: bool = False


_TABLE: dict = {}
_LOOKALIKES: list = []


def _key(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(
    target: Union[type, str],
    *,
    exact: Optional[Callable] = None,
    bound: Optional[Callable] = None,
    container: bool = False,
    float_step: Optional[Callable] = None,
) -> Entry:
    """Give a module class (or a qualified class name ``"package.module.Class"``, for libraries
    that may not be installed) its exact meaning; see :class:`Entry`.  Registering a class
    twice is an error (one place per fact).

    Examples:
        >>> import cpwl
        >>> from torch import nn
        >>> class Halve(nn.Module):
        ...     def forward(self, x):
        ...         return x / 2
        >>> half = cpwl.activations.Elementwise(cpwl.CPWL.linear("1/2"))
        >>> entry = register(Halve, exact=lambda m, shape: ([half], shape))
        >>> entry.name.endswith("Halve")
        True
    """
    key = target if isinstance(target, str) else _key(target)
    if key in _TABLE:
        raise InvalidArgument(f"{key} already has an exact meaning")
    if sum((container, exact is not None, float_step is not None)) != 1:
        raise InvalidArgument(
            f"{key}: give exactly one of exact= (exact layers), container=True or float_step= (not piecewise linear)"
        )
    if float_step is not None and bound is None:
        raise InvalidArgument(f"{key}: a module without exact layers needs its proven bound=")
    entry = Entry(key, exact, bound, container, float_step)
    _TABLE[key] = entry
    return entry


def register_lookalike(
    names: tuple, *, attributes: tuple = (), exact: Callable, bound: Optional[Callable] = None
) -> Entry:
    """Give an exact meaning to classes known only by name (code that is not on the package
    index, such as a paper's repository): a module whose class is called one of ``names`` and
    has every attribute in ``attributes`` gets this meaning, *after* its own forward pass has
    been checked to agree with it on probe inputs (otherwise it is refused).

    Examples:
        >>> entry = next(e for names, attrs, e in _LOOKALIKES if "AbsoluteValue" in names)
        >>> entry.verify
        True
    """
    entry = Entry(f"lookalike of {'/'.join(names)}", exact, bound, verify=True)
    _LOOKALIKES.append((tuple(names), tuple(attributes), entry))
    return entry


def registered() -> list:
    """The qualified names of every class in the table, sorted.

    Examples:
        >>> "torch.nn.modules.linear.Linear" in registered()
        True
    """
    return sorted(_TABLE)


_INJECTED = frozenset(
    {
        "__getstate__",
        "__deepcopy__",
        "__module__",
        "__doc__",
        "__abstractmethods__",
        "_abc_impl",
        "__slots__",
        "__slotnames__",
    }
)


def _semantic_class(module: nn.Module) -> type:
    """The class that defines a module's behaviour: the subclass that
    :mod:`torch.nn.utils.parametrize` injects (only properties for the parametrized tensors,
    plus pickling helpers) is transparent."""
    cls = type(module)
    if parametrize.is_parametrized(module) and cls.__name__.startswith("Parametrized") and len(cls.__bases__) == 1:
        extra = set(vars(cls)) - _INJECTED
        if extra <= set(module.parametrizations.keys()) and all(
            isinstance(vars(cls)[name], property) for name in extra
        ):
            return cls.__bases__[0]
    return cls


def lookup(module: nn.Module, path: str) -> tuple:
    """``(entry, base)`` for a module, after every fail-closed check of the module docstring;
    :class:`cpwl.UnsupportedModuleError` naming the module and its path otherwise."""
    cls = _semantic_class(module)
    where = f"{cls.__name__} at '{path}'"
    for position, candidate in enumerate(cls.__mro__):
        entry = _TABLE.get(_key(candidate))
        if entry is None:
            continue
        for subclass in cls.__mro__[:position]:
            changed = sorted(name for name in vars(subclass) if name not in _HARMLESS and hasattr(candidate, name))
            if changed:
                raise UnsupportedModuleError(
                    f"{where}: {subclass.__name__} subclasses {candidate.__name__} but overrides "
                    f"{', '.join(changed)}, so it may "
                    "compute something else; give it its own exact meaning (nets.semantics.register) or use "
                    f"{candidate.__name__}"
                )
        _check_instance(module, cls, where)
        return entry, candidate
    for names, attributes, entry in _LOOKALIKES:
        if cls.__name__ in names and all(hasattr(module, a) for a in attributes):
            _check_instance(module, cls, where)
            return entry, cls
    raise UnsupportedModuleError(
        f"{where} has no exact meaning in lipcpwl's table (see nets.semantics.registered()); "
        "nothing is guessed: register one with nets.semantics.register, or rebuild the model from supported modules"
    )


def _check_instance(module: nn.Module, cls: type, where: str) -> None:
    for name, value in vars(module).items():
        if (
            name not in _TORCH_STATE
            and callable(value)
            and not isinstance(value, (nn.Module, torch.Tensor))
            and hasattr(cls, name)
        ):
            raise UnsupportedModuleError(
                f"{where}: its method {name} is replaced on the instance; the table cannot know what it computes"
            )


def check_no_hooks(model: nn.Module) -> None:
    """Refuse a model if a forward hook or pre-hook is registered anywhere in it (or globally).

    Examples:
        >>> m = nn.Linear(1, 1)
        >>> handle = m.register_forward_hook(lambda module, args, out: out * 2)
        >>> check_no_hooks(m)
        Traceback (most recent call last):
        ...
        cpwl.errors.UnsupportedModuleError: Linear at 'Linear': a forward hook is registered; ...
    """
    for attribute, kind in (
        ("_global_forward_hooks", "forward hook"),
        ("_global_forward_pre_hooks", "forward pre-hook"),
    ):
        if getattr(torch_module, attribute, None):
            raise UnsupportedModuleError(
                f"a global {kind} is registered (torch.nn.modules.module.register_module_*): it changes every "
                "forward pass; remove it"
            )
    for path, m in model.named_modules(remove_duplicate=False):
        for kind, hooks in (("forward hook", m._forward_hooks), ("forward pre-hook", m._forward_pre_hooks)):
            if not hooks:
                continue
            names = {type(h).__name__ for h in hooks.values()}
            hint = ""
            if names & {"WeightNorm", "SpectralNorm"}:
                hint = (
                    " (the hook-based torch.nn.utils.weight_norm / spectral_norm, whose stored weight can be stale: "
                    "use torch.nn.utils.parametrizations.weight_norm / spectral_norm, which are read exactly)"
                )
            raise UnsupportedModuleError(
                f"{type(m).__name__} at '{path or type(m).__name__}': a {kind} is registered{hint}; it "
                "changes what the forward pass returns, so the model is refused"
            )
