"""``python -m lipcpwl`` is the ``lipcpwl`` command."""

import sys

from lipcpwl.cli import main

sys.exit(main())
