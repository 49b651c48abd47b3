"""How a result is checked: deterministic facts, properties over generated examples, and
falsifiability probes (the invariant must be violated by something outside its class)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis.errors import NoSuchExample

from cpwl.errors import InvalidArgument

__all__ = ["PROFILES", "Checker", "CheckOutcome", "Coverage", "Result"]

#: Examples per property for each profile.
PROFILES = {"ci": 40, "deep": 1000}


@dataclass(frozen=True)
class Coverage:
    """How many of a property's generated examples reached the configuration where its
    invariant could fail (``what``), against the share promised (``floor``).

    Examples:
        >>> Coverage("window test", "a tight run with 2 turning points", 40, 13, 0.3).share >= 0.3
        True
    """

    label: str
    what: str
    drawn: int
    reached: int
    floor: float

    @property
    def share(self) -> float:
        """``reached / drawn`` (0 when nothing was drawn)."""
        return self.reached / self.drawn if self.drawn else 0.0


@dataclass
class CheckOutcome:
    """What checking one result found: how many checks and generated examples ran, whether
    all passed, and a message per failure."""

    name: str
    checks: int = 0
    examples: int = 0
    failures: list = field(default_factory=list)
    seconds: float = 0.0
    coverage: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return not self.failures


@dataclass(frozen=True)
class Result:
    """A lemma, theorem or corollary: its statement (hypotheses explicit), where docs/theory.md
    derives it, and the function that checks it.

    Examples:
        >>> from proofs import registry
        >>> registry.nodes["N_identities"]["result"].kind
        'lemma'
    """

    name: str
    kind: str
    section: str
    statement: str
    check: Callable[[Checker], None]

    def run(self, profile: str = "ci") -> CheckOutcome:
        """Run the check under a profile (``"ci"`` or ``"deep"``)."""
        checker = Checker(self.name, profile)
        start = time.perf_counter()
        try:
            self.check(checker)
        except Exception as err:  # a crash in a check is a failed check, reported by name
            checker.outcome.failures.append(f"check crashed: {type(err).__name__}: {err}")
        checker.outcome.seconds = time.perf_counter() - start
        return checker.outcome


class Checker:
    """Accumulates the sub-checks of one result."""

    def __init__(self, name: str, profile: str):
        if profile not in PROFILES:
            raise InvalidArgument(f"unknown profile {profile!r}; choose from {sorted(PROFILES)}")
        self.profile = profile
        self.outcome = CheckOutcome(name)

    def _settings(self, scale: float = 1.0) -> settings:
        return settings(
            max_examples=max(1, int(PROFILES[self.profile] * scale)),
            deadline=None,
            database=None,
            derandomize=self.profile == "ci",
            # exact arithmetic on drawn networks is slow and their rationals are many by design;
            # the theorem's targets are filtered (Lipschitz, turning points); every other check stays on
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        )

    def holds(self, label: str, condition: bool) -> None:
        """A deterministic fact (a counterexample, a witness, an identity)."""
        self.outcome.checks += 1
        if not condition:
            self.outcome.failures.append(label)

    def for_all(
        self,
        label: str,
        strategy,
        predicate: Callable[[Any], bool],
        scale: float = 1.0,
        reached: Optional[tuple] = None,
    ) -> None:
        """``predicate`` holds on every generated example (shrunk counterexample on failure).

        ``reached = (what, test, floor)`` counts the examples on which ``test`` is true: the
        configurations where the invariant could fail (``what``, in words).  Their share is
        reported, and under the ``deep`` profile a share below ``floor`` fails the check."""
        count, hits = [0], [0]

        @self._settings(scale)
        @given(strategy)
        def run(example):
            count[0] += 1
            if reached is not None and reached[1](example):
                hits[0] += 1
            assert predicate(example), f"{label} fails on {example!r}"

        self.outcome.checks += 1
        try:
            run()
        except Exception as err:
            self.outcome.failures.append(f"{label}: {err}")
        self.outcome.examples += count[0]
        if reached is not None:
            what, _, floor = reached
            coverage = Coverage(label, what, count[0], hits[0], floor)
            self.outcome.coverage.append(coverage)
            if self.profile == "deep" and coverage.share < floor:
                self.outcome.failures.append(
                    f"{label}: only {hits[0]}/{count[0]} examples reached {what} (floor {floor:.0%})"
                )

    def falsifiable(self, label: str, strategy, predicate: Callable[[Any], bool], scale: float = 1.0) -> None:
        """Some generated example *violates* ``predicate``: the invariant can fail, so its
        passing elsewhere means something."""
        count = [0]

        def violated(example) -> bool:
            count[0] += 1
            return not predicate(example)

        self.outcome.checks += 1
        # one violating example is the answer: no shrinking (it is slow, and Ctrl-C during
        # hypothesis's shrink phase was not honoured until the phase ended)
        quick = settings(self._settings(scale * 5), phases=[Phase.explicit, Phase.reuse, Phase.generate])
        try:
            find(strategy, violated, settings=quick)
        except NoSuchExample:
            self.outcome.failures.append(f"{label}: no violating example was found")
        self.outcome.examples += count[0]
