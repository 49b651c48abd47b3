"""Strategies aimed at the boundary of the theorems: the configurations in which an
invariant could fail (docs/theory.md §3, §4), produced in a large share of examples rather
than by luck.

* the activation classes of Theorem 1 (``CONTRACTIVE``, ``ONE_UNIT``, ``ABS_LIKE``);
* :func:`folds`: networks of a case C family that fold the line several times (slopes all
  +-1, tight runs with several turning points);
* :func:`chains`: width-1 networks around a two-piece activation (unit slopes, slopes at the
  contraction bound).

Examples:
    >>> from hypothesis import find
    >>> net = find(folds("abs"), lambda net: len(net.to_cpwl().breakpoints) >= 2)
    >>> all(abs(s) == 1 for s in net.to_cpwl().slopes)
    True
"""

from __future__ import annotations

from hypothesis import strategies as st

from cpwl import Affine, Network, strategies
from cpwl import activations as act
from cpwl.errors import InvalidArgument

__all__ = ["ABS_LIKE", "CONTRACTIVE", "FOLDING_FAMILIES", "ONE_UNIT", "chains", "folds"]

_unit = strategies.rationals(-1, 1, max_denominator=8)
_small = _unit.filter(lambda s: abs(s) < 1)
_centre = strategies.rationals(-2, 2, max_denominator=8)

#: Elementwise two-piece activations with both slopes of magnitude < 1 (case A).
CONTRACTIVE = (
    st.tuples(_centre, _small, _small).filter(lambda t: t[1] != t[2]).map(lambda t: act.Elementwise(act.two_piece(*t)))
)
#: Activations with exactly one unit slope (case B): ReLU, leaky ReLU, (gamma, delta) pieces.
ONE_UNIT = st.tuples(_centre, st.sampled_from([1, -1]), _small, st.booleans()).map(
    lambda t: act.Elementwise(act.two_piece(t[0], *((t[1], t[2]) if t[3] else (t[2], t[1]))))
)
#: Abs-like two-piece activations: +-|y - c| + d (case C).
ABS_LIKE = st.tuples(_centre, st.sampled_from([(-1, 1), (1, -1)]), _centre).map(
    lambda t: act.Elementwise(act.two_piece(t[0], *t[1], value=t[2]))
)

#: The case C families as layers on 2 channels, with the channel their fold reads and writes:
#: ``(layer, position of the max)`` for sorting layers, ``(layer, None)`` for elementwise ones.
_FOLDERS = {
    "abs": st.just((act.Elementwise(act.abs_()), None)),
    "absid": st.sampled_from([act.abs_(), act.identity()]).map(lambda g: (act.Elementwise([act.abs_(), g]), None)),
    "maxmin": st.sampled_from([(act.MaxMin("adjacent", "max_first"), 0), (act.MaxMin("adjacent", "min_first"), 1)]),
    "groupsort": st.sampled_from([(act.GroupSort(2, descending=True), 0), (act.GroupSort(2), 1)]),
    "householder": st.sampled_from([(act.Householder([1, -1]), 0), (act.Householder([-1, 1]), 1)]),
}
#: Two-piece activations for the width-1 chains of cases A and B and abs-like case C.
_TWO_PIECE = {"abs-like": ABS_LIKE, "one-unit": ONE_UNIT, "contractive": CONTRACTIVE}


@st.composite
def folds(draw, family: str):
    """Networks ``R -> R`` that fold the line several times with a case C family: the state
    is ``(g(x), c)`` on two channels (``g`` carries ``x``, ``c`` a constant), and each fold
    makes ``g`` into ``c + |g - c|`` — by ``abs`` directly, or by a sorting layer, a signed
    permutation ``(max, 2c - min)`` and the sorting layer again.  Every weight is a signed
    permutation or unit vector (exactly orthogonal), so every slope is +-1: tight runs with
    several turning points, the only configurations where the window test can fail.

    Examples:
        >>> from hypothesis import find
        >>> net = find(folds("maxmin"), lambda net: True)
        >>> set(abs(s) for s in net.to_cpwl().slopes)
        {Fraction(1, 1)}
    """
    if family not in _FOLDERS:
        raise InvalidArgument(f"folds takes one of {sorted(_FOLDERS)}, got {family!r}")
    level = strategies.rationals(-2, 2, max_denominator=4)
    c = draw(level)
    layers = [Affine([[draw(st.sampled_from([1, -1]))], [0]], [draw(level), c])]
    for _ in range(draw(st.integers(2, 4))):
        layer, top = draw(_FOLDERS[family])
        if top is None:  # g -> |g - c| + c
            layers += [Affine([[1, 0], [0, 1]], [-c, 0]), layer, Affine([[1, 0], [0, 1]], [c, 0])]
        else:  # sort, (max, 2c - min), sort, max back to channel 0
            out = [[int(j == top) for j in range(2)], [-int(j == 1 - top) for j in range(2)]]
            back = [[int(j == top) for j in range(2)], [int(j == 1 - top) for j in range(2)]]
            layers += [layer, Affine(out, [0, 2 * c]), layer, Affine(back)]
        shift = draw(level)
        layers.append(Affine([[1, 0], [0, 1]], [0, shift - c]))  # the next fold level
        c = shift
    layers.append(Affine([[1, 0]]))
    return Network(layers)


@st.composite
def chains(draw, family: str):
    """Networks ``R -> R`` of width 1 with weights +-1 and biases in [-2, 2] around a two-piece
    activation: slopes are products of the activation's slopes, so unit slopes (case B),
    slopes at the contraction bound (case A) and abs-like folds (case C) are common.

    Examples:
        >>> from hypothesis import find
        >>> net = find(chains("one-unit"), lambda net: True)
        >>> net.input_dim, net.output_dim
        (1, 1)
    """
    if family not in _TWO_PIECE:
        raise InvalidArgument(f"chains takes one of {sorted(_TWO_PIECE)}, got {family!r}")
    sign, bias = st.sampled_from([1, -1]), strategies.rationals(-2, 2, max_denominator=8)
    layers = [Affine([[draw(sign)]], [draw(bias)])]
    for _ in range(draw(st.integers(2, 4))):
        layers += [draw(_TWO_PIECE[family]), Affine([[draw(sign)]], [draw(bias)])]
    return Network(layers)


#: The families :func:`folds` takes.
FOLDING_FAMILIES = tuple(_FOLDERS)
