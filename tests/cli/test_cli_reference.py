"""docs/cli.md holds every command's ``--help`` text as the parser prints it, so the command
line reference cannot drift from the command line.  After changing an option, rewrite the
page with ``python tests/cli/test_cli_reference.py``."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "cli.md"
INTRO = """# Command line

`lipcpwl` has five commands. Every command accepts `--json` (machine-readable output on
stdout) and `--quiet` (no progress). A mistake in the arguments or in a file ends with one line
on stderr and exit code 2; Ctrl-C ends with `interrupted` and exit code 130; `lipcpwl
--version` prints the version. The sections below are the commands' own `--help` texts.
"""


def reference() -> str:
    """The page: the introduction, then ``lipcpwl --help`` and each command's help, 100 columns wide."""
    from lipcpwl.cli import _parser

    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        parser = _parser()
        sub = next(a for a in parser._actions if a.dest == "command")
        parts = [INTRO, "## lipcpwl\n\n```text\n" + parser.format_help() + "```\n"]
        for name, command in sub.choices.items():
            parts.append(f"## lipcpwl {name}\n\n```text\n{command.format_help()}```\n")
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    return "\n".join(parts)


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11),
    reason="argparse's help layout changes between Python versions; the page is written with 3.11",
)
def test_the_page_is_the_parsers_help():
    assert PAGE.read_text() == reference(), "docs/cli.md is out of date: run python tests/cli/test_cli_reference.py"


def test_every_command_and_option_is_on_the_page():
    text = PAGE.read_text()
    for name in ("demo", "prove", "export", "certify", "plot"):
        assert f"## lipcpwl {name}" in text
    for option in ("--domain", "--line", "--shape", "--eps", "--norm", "--profile", "--epochs", "--version"):
        assert option in text


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    PAGE.write_text(reference())
    print(f"wrote {PAGE}")
