"""proofs: the theorems of docs/theory.md as exact, executable checks.

Each result module states its theorem with explicit hypotheses, implements the invariant as
an exact predicate on :mod:`cpwl` objects, provides the counterexample or constructive
witness, and checks them (over hypothesis-generated networks, plus a falsifiability probe
showing each invariant *can* fail).

Examples:
    >>> import proofs
    >>> "theorem1_non_universality" in proofs.registry
    True
    >>> from cpwl import activations as act
    >>> n = act.n_function().restrict(-3, 3)
    >>> proofs.n_universality.construct(n).to_cpwl(domain=(-3, 3)) == n
    True
"""

from proofs import n_universality
from proofs.registry import build as _build
from proofs.report import Report, check_all

#: networkx.DiGraph of results (lemma -> theorems it supports).
registry = _build()

__all__ = ["Report", "check_all", "n_universality", "registry"]
