"""Private: what was prepared for the last few models (certifiers), reused while nothing a
translation reads has changed (:func:`nets.semantics.snapshot.state_key`: the exact contents
of every tensor, every attribute, the classes and the translation table)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from nets.semantics.snapshot import state_key


class Recent:
    """At most ``kept`` models, newest last, each with what was prepared for it and the
    settings it was prepared with.

    Examples:
        >>> recent = Recent(2)
        >>> model = nn.Linear(2, 2)
        >>> first = recent.get(model, ("cpu",), lambda: object(), lambda made: True)
        >>> recent.get(model, ("cpu",), lambda: object(), lambda made: True) is first
        True
        >>> recent.get(model, ("cuda",), lambda: object(), lambda made: True) is first  # other settings
        False
    """

    def __init__(self, kept: int):
        self.kept = kept
        self._entries: list = []  # (module, (state, *settings), prepared)

    def models(self) -> list:
        """The models remembered, oldest first."""
        return [module for module, _, _ in self._entries]

    def get(self, module: nn.Module, settings: tuple, make: Callable, current: Callable):
        """What was prepared for ``module`` with these ``settings`` when its state is unchanged
        and ``current(prepared)`` still holds, else ``make()`` (remembered unless the state
        cannot be recorded)."""
        state = state_key(module)
        wanted = (state, *settings)
        for k, (seen, known, prepared) in enumerate(self._entries):
            if seen is module:
                if state is not None and known == wanted and current(prepared):
                    self._entries.append(self._entries.pop(k))
                    return prepared
                del self._entries[k]
                break
        prepared = make()
        if state is not None:
            self._entries.append((module, wanted, prepared))
            del self._entries[: -self.kept]
        return prepared
