"""The results and how they support each other: a networkx DiGraph, lemma -> theorem."""

from __future__ import annotations

import networkx as nx

from proofs import (
    aol_bound,
    domain_sharpness,
    linf_contrast,
    lipschitz_export,
    lls_clip,
    maxmin_rotation,
    n_identities,
    n_universality,
    non_universality,
    residual_form,
)

RESULTS = (
    n_identities.RESULT,
    maxmin_rotation.RESULT,
    lipschitz_export.RESULT,
    aol_bound.RESULT,
    lls_clip.RESULT,
    residual_form.RESULT,
    n_universality.ZIGZAG,
    n_universality.END_SLOPES,
    non_universality.RESULT,
    domain_sharpness.RESULT,
    linf_contrast.RESULT,
    n_universality.RESULT,
)

#: (supporting result, supported result): a failure of the first undermines the second.
SUPPORTS = (
    ("maxmin_rotation", "theorem1_non_universality"),
    ("lipschitz_export", "theorem1_non_universality"),
    ("lipschitz_export", "theorem2_N_universality"),
    ("aol_bound", "lipschitz_export"),
    ("N_identities", "theorem2_N_universality"),
    ("N_identities", "residual_form"),
    ("zigzag_unfold_progress", "theorem2_N_universality"),
    ("N_end_slopes", "theorem2_N_universality"),
    ("theorem1_non_universality", "abs_sharpness"),
    ("theorem1_non_universality", "linf_contrast"),
)


def build() -> nx.DiGraph:
    """The registry graph; each node carries its :class:`proofs.harness.Result` as
    ``graph.nodes[name]["result"]``.

    Examples:
        >>> g = build()
        >>> sorted(g.predecessors("theorem2_N_universality"))
        ['N_end_slopes', 'N_identities', 'lipschitz_export', 'zigzag_unfold_progress']
    """
    graph = nx.DiGraph()
    for result in RESULTS:
        graph.add_node(result.name, result=result)
    for lemma, theorem in SUPPORTS:
        if lemma not in graph or theorem not in graph:
            raise KeyError(f"unknown result in the support edge {lemma} -> {theorem}")
        graph.add_edge(lemma, theorem)
    if not nx.is_directed_acyclic_graph(graph):
        raise ValueError("the support graph has a cycle")
    return graph
