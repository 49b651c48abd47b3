"""One fail-closed translation from torch modules to exact :mod:`cpwl` layers.

Every module the library accepts has one written meaning in one table
(:mod:`nets.semantics.registry`): the exact layers it computes for a given input shape and,
where one is known, a tighter proven Lipschitz bound.  The stock ``torch.nn`` entries live in
:mod:`nets.semantics.stock`, other libraries' in :mod:`nets.semantics.foreign`, the
N-activation paper's modules (recognised by name, checked against their own forward pass) in
:mod:`nets.semantics.paper`, and each :mod:`nets` module registers its own meaning next to its
class.  Exact export, line
restriction, certificates and the rigorous float forward pass all go through
:func:`translate`; anything else is refused with :class:`cpwl.UnsupportedModuleError`.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> from nets.semantics import translate
    >>> translate(nn.Sequential(nn.Linear(2, 2), nn.Tanh()))
    Traceback (most recent call last):
    ...
    cpwl.errors.UnsupportedModuleError: Tanh at '1' has no exact meaning in lipcpwl's table ...
"""

from nets.semantics import foreign, paper, stock  # noqa: F401  (their entries register on import)
from nets.semantics.registry import Entry, lookup, register, register_lookalike, registered
from nets.semantics.translate import Step, Translation, evaluation_mode, input_shape_of, translate

__all__ = [
    "Entry",
    "Step",
    "Translation",
    "evaluation_mode",
    "input_shape_of",
    "lookup",
    "register",
    "register_lookalike",
    "registered",
    "translate",
]
