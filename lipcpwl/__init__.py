"""lipcpwl: the command line front door (``lipcpwl --help``) over :mod:`cpwl`, :mod:`nets`
and :mod:`proofs`."""
