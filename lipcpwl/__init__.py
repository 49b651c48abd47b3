"""lipcpwl: the command line front door (``lipcpwl --help``) over :mod:`cpwl`, :mod:`nets`
and :mod:`proofs`.

Examples:
    >>> import lipcpwl
    >>> lipcpwl.__version__
    '0.1.0'
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("lipcpwl")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
