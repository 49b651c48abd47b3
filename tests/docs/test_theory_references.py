"""Every `§` reference into docs/theory.md — in the code, README, the proofs' report and the
demo's text — names a section that exists."""

from __future__ import annotations

import pathlib
import re

import pytest

from proofs.registry import RESULTS

ROOT = pathlib.Path(__file__).resolve().parents[2]
THEORY = ROOT / "docs" / "theory.md"
SECTION = r"\d+(?:\.\d+)?"


def _sections() -> set:
    headings = re.findall(rf"^#{{2,3}} ({SECTION})\.? ", THEORY.read_text(), flags=re.M)
    return set(headings)


def _references(text: str) -> list:
    """Section numbers on lines that cite ``docs/theory.md`` (``§3, §4``, ``§3.6``) and in
    ``| §x |`` table cells."""
    found = []
    for line in text.splitlines():
        if "docs/theory.md" in line:
            found += re.findall(rf"§({SECTION})", line)
        else:
            found += re.findall(rf"\| §({SECTION}) \|", line)
    return found


def _sources() -> list:
    files = [ROOT / "README.md"]
    for folder in ("cpwl", "nets", "proofs", "lipcpwl", "tests", "examples", "bench"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if f.name != pathlib.Path(__file__).name]


def test_theory_has_numbered_sections():
    assert {"1", "2.2", "3.6", "4.4", "6.3"} <= _sections()


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_reference_resolves(path):
    missing = sorted(set(_references(path.read_text())) - _sections())
    assert not missing, f"{path.name} cites docs/theory.md §{', §'.join(missing)}, which has no such section"


def test_references_are_found():
    # the extractor itself: a reference it cannot see would pass the test above vacuously
    assert _references("see docs/theory.md §3, §4.4\n| x | §6.1 |\n§7 alone") == ["3", "4.4", "6.1"]
    assert "9" not in _sections() and _references("docs/theory.md §9") == ["9"]


def test_proof_results_name_sections():
    assert all(r.section in _sections() for r in RESULTS), [
        (r.name, r.section) for r in RESULTS if r.section not in _sections()
    ]


def test_no_reference_to_the_old_note():
    offenders = [str(p.relative_to(ROOT)) for p in _sources() if "THEORY.md" in p.read_text()]
    assert not offenders
