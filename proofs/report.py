"""Running every check and reporting the outcome as a table."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from proofs.harness import CheckOutcome

__all__ = ["Report", "check_all"]


@dataclass
class Report:
    """Outcomes of :func:`check_all`, one per result, in registry order.

    Examples:
        >>> from proofs import check_all
        >>> report = check_all(only=["linf_contrast"])
        >>> report.passed, report.outcomes[0].checks
        (True, 5)
    """

    outcomes: list
    graph: nx.DiGraph
    profile: str

    @property
    def passed(self) -> bool:
        """True when every check of every result passed."""
        return all(o.passed for o in self.outcomes)

    def undermined(self) -> set:
        """Results that a failing result supports, directly or transitively."""
        failed = [o.name for o in self.outcomes if not o.passed]
        return set().union(*(nx.descendants(self.graph, name) for name in failed)) if failed else set()

    def to_dict(self) -> dict:
        """The report as JSON-ready data: per result its section, counts, coverage, failures.

        Examples:
            >>> from proofs import check_all
            >>> data = check_all(only=["linf_contrast"]).to_dict()
            >>> data["passed"], data["results"][0]["section"]
            (True, '5')
        """
        results = []
        for o in self.outcomes:
            res = self.graph.nodes[o.name]["result"]
            coverage = [
                {"label": c.label, "what": c.what, "drawn": c.drawn, "reached": c.reached, "floor": c.floor}
                for c in o.coverage
            ]
            results.append(
                {
                    "name": o.name,
                    "kind": res.kind,
                    "section": res.section,
                    "statement": res.statement,
                    "checks": o.checks,
                    "examples": o.examples,
                    "passed": o.passed,
                    "seconds": round(o.seconds, 3),
                    "coverage": coverage,
                    "failures": list(o.failures),
                }
            )
        return {
            "profile": self.profile,
            "passed": self.passed,
            "results": results,
            "undermined": sorted(self.undermined()),
        }

    def table(self) -> str:
        """A plain-text table: result, kind, docs/theory.md section, checks, examples, examples that
        reached an invariant's critical configuration, verdict, time; then the coverage of
        every property that counts it."""
        header = ("result", "kind", "§", "checks", "examples", "reached", "passed", "seconds")
        rows = [header]
        for o in self.outcomes:
            res = self.graph.nodes[o.name]["result"]
            reached = f"{sum(c.reached for c in o.coverage)}/{sum(c.drawn for c in o.coverage)}" if o.coverage else "-"
            rows.append(
                (
                    o.name,
                    res.kind,
                    res.section,
                    str(o.checks),
                    str(o.examples),
                    reached,
                    "yes" if o.passed else "NO",
                    f"{o.seconds:.1f}",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        total = sum(o.examples for o in self.outcomes)
        lines.append(
            f"\nprofile {self.profile}: {len(self.outcomes)} results, {total} generated examples, "
            f"{'all passed' if self.passed else 'FAILURES'}"
        )
        coverage = [(o.name, c) for o in self.outcomes for c in o.coverage]
        if coverage:
            lines.append("\nreached: generated examples in the configuration where the invariant could fail")
            for name, c in coverage:
                mark = "" if c.share >= c.floor else "  BELOW FLOOR"
                lines.append(
                    f"  {name}: {c.label}: {c.reached}/{c.drawn} ({c.share:.0%}, floor {c.floor:.0%}) reached "
                    f"{c.what}{mark}"
                )
        for o in self.outcomes:
            for failure in o.failures:
                lines.append(f"FAILED {o.name}: {failure}")
        if not self.passed:
            lines.append(f"undermined by these failures: {', '.join(sorted(self.undermined())) or 'nothing further'}")
        return "\n".join(lines)


def check_all(profile: str = "ci", only=None, progress=None) -> Report:
    """Run every registered check (or those named in ``only``) under a profile.

    ``progress``, if given, is called with each :class:`CheckOutcome` as it completes.

    Examples:
        >>> check_all(only=["linf_contrast"]).passed
        True
    """
    from proofs.registry import build

    graph = build()
    names = list(nx.topological_sort(graph)) if only is None else list(only)
    outcomes = []
    for name in names:
        if name not in graph:
            raise KeyError(f"no result named {name!r}; known: {sorted(graph)}")
        outcome: CheckOutcome = graph.nodes[name]["result"].run(profile)
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return Report(outcomes, graph, profile)
