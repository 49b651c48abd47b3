"""``python -m proofs [--profile ci|deep] [--only NAME ...] [--json] [--quiet]``: print the theorem report and
exit 1 if any check fails."""

from __future__ import annotations

import argparse
import json
import sys

from proofs.harness import PROFILES
from proofs.report import check_all


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m proofs", description="Check the theorems of docs/theory.md exactly."
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="ci", help="examples per property (default: ci)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="check only these results")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    args = parser.parse_args(argv)
    progress = (
        None
        if args.quiet
        else (lambda o: print(f"  {o.name}: {'ok' if o.passed else 'FAILED'} ({o.seconds:.1f}s)", file=sys.stderr))
    )
    try:
        report = check_all(args.profile, only=args.only, progress=progress)
    except KeyError as err:
        parser.error(str(err))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
