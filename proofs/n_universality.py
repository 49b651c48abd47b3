"""docs/theory.md §4 (Theorem 2): N-activation networks represent every rational 1-CPWL
function on a compact interval exactly; on the whole line they cannot (equal end slopes)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

import cpwl
from cpwl import CPWL, Affine, Network, strategies
from cpwl import activations as act
from cpwl.errors import InvalidArgument
from proofs.four_squares import rational_square_split
from proofs.harness import Checker, Result

__all__ = ["STATEMENT", "construct", "lift", "unfold", "end_slopes_hold", "RESULT", "ZIGZAG", "END_SLOPES"]

STATEMENT = (
    "Every 1-CPWL f on a compact [a, b] with rational breakpoints, slopes and values equals, on "
    "[a, b], a network of N-activation layers and affine layers with rational weights, biases "
    "and thetas, every weight matrix of exact spectral norm <= 1 (width <= 4 (distinct slopes "
    "+ 1), at most one N-layer per breakpoint: for k >= 1 breakpoints at most k N-layers and "
    "k + 1 affine layers). On the whole line R every N-network with finite "
    "thetas has equal end slopes, both equal to the product of its weight matrices, so |x| on R "
    "is not representable: N-networks are universal on compact intervals only."
)


def _turning_points(G: CPWL) -> list:
    return [t for t, s0, s1 in zip(G.breakpoints, G.slopes, G.slopes[1:]) if s0 * s1 < 0]


def lift(G: CPWL) -> tuple:
    """One unfolding step of docs/theory.md §4.4: for a zigzag ``G`` (slopes +-1, compact
    domain, at least one turning point) return ``(theta, H)`` with ``N_theta(H) == G`` and
    ``H`` a zigzag with fewer turning points.

    Examples:
        >>> G = act.n_function().restrict(-1, 1)
        >>> theta, H = lift(G)
        >>> act.n_activation(*theta)(H) == G, len(H.breakpoints) < len(G.breakpoints)
        (True, True)
    """
    G = G.canonical()
    turns = G.breakpoints
    vals = G.values
    A, B = G.domain.lo, G.domain.hi
    gA, gB = G(A), G(B)
    top, bottom = max(gA, gB, *vals), min(gA, gB, *vals)
    pieces = len(turns) + 1
    if top in vals:  # (i) unfold every turning point at the global max: sheets 2 <-> 1
        theta = (-top, -bottom + 1)
        switches = {k for k, v in enumerate(vals) if v == top}
        sheets = _toggle(pieces, switches, start=2, other=1)
    elif bottom in vals:  # (ii) unfold every turning point at the global min: sheets 3 <-> 2
        theta = (-top - 1, -bottom)
        switches = {k for k, v in enumerate(vals) if v == bottom}
        sheets = _toggle(pieces, switches, start=3, other=2)
    elif gA == bottom:  # (iii) min at a, max at b: sheets 1 -> 2 -> 3
        i = vals.index(max(vals))
        j = i + 1 + vals[i + 1 :].index(min(vals[i + 1 :]))
        theta = (-vals[i], -vals[j])
        sheets = [1] * (i + 1) + [2] * (j - i) + [3] * (pieces - j - 1)
    else:  # (iii) max at a, min at b: sheets 3 -> 2 -> 1
        j = len(vals) - 1 - vals[::-1].index(min(vals))
        after = vals[j + 1 :]
        i = j + 1 + len(after) - 1 - after[::-1].index(max(after))
        theta = (-vals[i], -vals[j])
        sheets = [3] * (j + 1) + [2] * (i - j) + [1] * (pieces - i - 1)
    slopes, intercepts = [], []
    for sheet, s, c in zip(sheets, G.slopes, G.intercepts):
        if sheet == 2:
            slopes.append(-s), intercepts.append(-c)
        else:
            slopes.append(s), intercepts.append(c + 2 * theta[0 if sheet == 1 else 1])
    H = CPWL.from_pieces(turns, slopes, intercepts, G.domain).canonical()
    return theta, H


def _toggle(pieces: int, switches: set, start: int, other: int) -> list:
    sheets, current = [], start
    for k in range(pieces):
        sheets.append(current)
        if k in switches:
            current = other if current == start else start
    return sheets


def unfold(G: CPWL) -> tuple:
    """Lift ``G`` until no turning point is left: returns ``(thetas, H)`` with ``H`` affine
    (slope +-1) and ``G = N_thetas[0](N_thetas[1](... N_thetas[-1](H)))``.

    Examples:
        >>> thetas, H = unfold(act.n_function().restrict(-3, 3))
        >>> thetas, H.slopes
        ([(Fraction(-1, 2), Fraction(1, 2))], (Fraction(1, 1),))
    """
    thetas = []
    while _turning_points(G):
        theta, G = lift(G)
        thetas.append(theta)
    return thetas, G.canonical()


def _levels(f: CPWL) -> list:
    """``(p_i, sign slopes per piece of f)`` with ``sum p_i sigma_i = f'`` (step 1)."""
    u = [(1 + s) / 2 for s in f.slopes]
    v = sorted(set(u))
    weights = [v[0]] + [b - a for a, b in zip(v, v[1:])] + [1 - v[-1]]
    levels = []
    for i, p in enumerate(weights):
        signs = [1 if i < len(v) and uj >= v[i] else -1 for uj in u]
        if p:
            levels.append((p, signs))
    return levels


def construct(f: CPWL) -> Network:
    """An exact N-activation network equal to the 1-CPWL ``f`` on its compact domain.

    Examples:
        >>> f = CPWL.from_points([(0, 0), (1, 1), (2, "1/2"), (3, "1/2")])
        >>> construct(f).to_cpwl(domain=(0, 3)) == f
        True
    """
    if not isinstance(f, CPWL):
        raise InvalidArgument(f"construct needs a CPWL, got {type(f).__name__}")
    if not f.domain.is_compact:
        raise cpwl.DomainError(
            f"N-networks are universal on compact intervals only; restrict f (domain {f.domain}) to [a, b]"
        )
    if not f.is_lipschitz(1):
        raise InvalidArgument(
            f"f has Lipschitz constant {f.lipschitz_constant()} > 1; no 1-Lipschitz network computes it"
        )
    f = f.canonical()
    a, b = f.domain.lo, f.domain.hi
    channels = []
    for p, signs in _levels(f):
        for w in rational_square_split(p):
            G = CPWL.from_slopes([w * t for t in f.breakpoints], signs, anchor=(w * a, 0), domain=(w * a, w * b))
            thetas, H = unfold(G.canonical())
            channels.append((w, H.slopes[0], H.intercepts[0], thetas[::-1]))
    depth = max(len(c[3]) for c in channels)
    width = len(channels)
    layers = [Affine([[w * s] for w, s, _, _ in channels], [beta for _, _, beta, _ in channels])]
    identity = [[int(i == j) for j in range(width)] for i in range(width)]
    for k in range(depth):
        if k:
            layers.append(Affine(identity))
        layers.append(act.NLayer([c[3][k] if k < len(c[3]) else (0, 0) for c in channels]))
    layers.append(Affine([[w for w, _, _, _ in channels]], [f(a)]))
    return Network(layers)


def end_slopes_hold(net: Network) -> bool:
    """On R, both end slopes of a scalar N-network equal the product of its weights.

    Examples:
        >>> end_slopes_hold(Network([Affine([[1]]), act.NLayer([(0, 1)]), Affine([[-1]])]))
        True
    """
    f = net.to_cpwl()
    return f.slopes[0] == f.slopes[-1] == _weight_product(net)


def _weight_product(net: Network) -> Fraction:
    """``W_(L+1) ... W_1`` of a scalar network, exactly."""
    product = [[Fraction(1)]]
    for layer in net.affine_layers:
        product = [[sum(row[k] * product[k][0] for k in range(len(product)))] for row in layer.weight]
    return product[0][0]


def _targets():
    @st.composite
    def build(draw):
        a = draw(strategies.rationals(-3, 1, max_denominator=8))
        b = a + draw(strategies.rationals(Fraction(1, 4), 4, max_denominator=8))
        return draw(strategies.cpwl_functions(lipschitz=1, domain=(a, b), max_breakpoints=5))

    return build()


def _zigzags():
    @st.composite
    def build(draw):
        a = draw(strategies.rationals(-3, 0, max_denominator=8))
        b = a + draw(strategies.rationals(Fraction(1, 2), 5, max_denominator=8))
        bps = sorted(
            set(draw(st.lists(strategies.rationals(a, b, max_denominator=16), min_size=1, max_size=7))) - {a, b}
        )
        first = draw(st.sampled_from([1, -1]))
        signs = [first * (-1) ** k for k in range(len(bps) + 1)]  # every breakpoint turns
        return CPWL.from_slopes(bps, signs, anchor=(a, draw(strategies.rationals(-2, 2))), domain=(a, b)).canonical()

    return build()


def _turning_targets():
    """1-CPWL targets aimed at the construction's hard case: slopes alternating in sign
    (magnitudes 1, 3/4, 1/2, 1/4: several levels, several unfoldings), 2 to 6 turning points,
    values reaching far from 0."""

    @st.composite
    def build(draw):
        a = draw(strategies.rationals(-3, 0, max_denominator=8))
        bps = sorted(
            set(
                draw(
                    st.lists(
                        strategies.rationals(a + Fraction(1, 8), a + 4, max_denominator=16), min_size=3, max_size=7
                    )
                )
            )
        )
        first = draw(st.sampled_from([1, -1]))
        slopes = [
            first * (-1) ** k * draw(st.sampled_from([1, Fraction(3, 4), Fraction(1, 2), Fraction(1, 4)]))
            for k in range(len(bps) + 1)
        ]
        b = bps[-1] + draw(strategies.rationals(Fraction(1, 8), 1, max_denominator=8))
        return CPWL.from_slopes(
            bps, slopes, anchor=(a, draw(strategies.rationals(-8, 8, max_denominator=2))), domain=(a, b)
        ).canonical()

    return build()


def _turns(f: CPWL) -> bool:
    return len(_turning_points(f.canonical())) >= 2


def _within_bounds(f: CPWL) -> bool:
    """The construction's size: at most one N-layer per breakpoint of ``f`` (depth ``<= k``
    N-layers for ``k`` breakpoints), one affine layer more than N-layers (two when there is
    none: ``k + 1`` affine layers for ``k >= 1``), width at most 4 (distinct slopes + 1)."""
    net = construct(f)
    n_layers = sum(isinstance(layer, act.NLayer) for layer in net.layers)
    affine = len(net.affine_layers)
    width = net.layers[0].out_features
    k = len(f.canonical().breakpoints)
    return n_layers <= k and affine == max(n_layers, 1) + 1 and width <= 4 * (len(set(f.slopes)) + 1)


def _perturbed_still_equal(f: CPWL) -> bool:
    """The construction with its output weights scaled by 1 + 1/64 (still contractive if they
    were below 1) still equals ``f`` — false for every non-constant target."""
    net = construct(f)
    last = net.layers[-1]
    scaled = Affine([[w * Fraction(65, 64) for w in row] for row in last.weight], last.bias)
    return Network([*net.layers[:-1], scaled]).to_cpwl(domain=(f.domain.lo, f.domain.hi)) == f.canonical()


def _exact_and_contractive(f: CPWL) -> bool:
    net = construct(f)
    return net.to_cpwl(domain=(f.domain.lo, f.domain.hi)) == f.canonical() and all(
        c.ok for c in net.layer_norm_report()
    )


def _lift_progress(G: CPWL) -> bool:
    if not _turning_points(G):
        return True
    theta, H = lift(G)
    return (
        theta[0] <= theta[1] and act.n_activation(*theta)(H) == G and len(_turning_points(H)) < len(_turning_points(G))
    )


def _shifted_lift_still_works(G: CPWL) -> bool:
    if not _turning_points(G):
        return True
    theta, H = lift(G)
    return act.n_activation(theta[0] + Fraction(1, 8), theta[1] + Fraction(1, 8))(H) == G


def check_zigzag(c: Checker) -> None:
    c.for_all(
        "each lift satisfies N_theta(H) = G with fewer turning points",
        _zigzags(),
        _lift_progress,
        scale=3,
        reached=("a zigzag with 2+ turning points", _turns, 0.3),
    )
    c.falsifiable("a lift with theta shifted by 1/8 does not give G back", _zigzags(), _shifted_lift_still_works)
    c.for_all("unfolding terminates in an affine map", _zigzags(), lambda G: len(unfold(G)[1].breakpoints) == 0)


def _bent_with_product(net: Network) -> bool:
    return bool(net.to_cpwl().breakpoints) and _weight_product(net) != 0


def check_end_slopes(c: Checker) -> None:
    nets = strategies.networks("n", width=st.integers(1, 4), depth=st.integers(1, 3), lipschitz=False)
    bent = ("a net with a kink and a non-zero weight product", _bent_with_product, 0.3)
    c.for_all("end slopes of N-nets on R equal the weight product", nets, end_slopes_hold, reached=bent)
    c.holds("|x| on R has different end slopes", act.abs_().slopes[0] != act.abs_().slopes[-1])
    c.falsifiable(
        "abs nets break the end-slope invariant", strategies.networks("abs", width=st.integers(1, 3)), end_slopes_hold
    )
    # equal end slopes that are not the weight product: only the product half of the invariant can fail
    squashed = st.just(act.Elementwise(CPWL.from_slopes([0, 1], [Fraction(1, 2), 1, Fraction(1, 2)], anchor=(0, 0))))
    c.falsifiable(
        "an activation with end slopes 1/2 breaks the product half",
        strategies.networks(squashed, width=st.integers(1, 3)),
        end_slopes_hold,
    )


def check(c: Checker) -> None:
    n = act.n_function()
    c.holds("n on [-3, 3] is constructed exactly", _exact_and_contractive(n.restrict(-3, 3)))
    relu_net = construct(act.relu().restrict(-1, 1))
    c.holds("ReLU on [-1, 1] needs width 4 with rational weights", relu_net.layers[0].out_features == 4)
    many_turns = ("a target with 2+ turning points", _turns, 0)
    c.for_all(
        "construct(f) equals f exactly with ||W||_2 <= 1",
        _targets(),
        _exact_and_contractive,
        scale=3,
        reached=many_turns,
    )
    aimed = ("a target with 2+ turning points", _turns, 0.3)
    c.for_all(
        "... aimed: alternating slopes, several levels", _turning_targets(), _exact_and_contractive, reached=aimed
    )
    c.for_all(
        "at most one N-layer per breakpoint, width <= 4 (distinct slopes + 1)",
        st.one_of(_targets(), _turning_targets()),
        _within_bounds,
    )
    c.falsifiable("output weights scaled by 65/64 break the construction", _turning_targets(), _perturbed_still_equal)


ZIGZAG = Result(
    "zigzag_unfold_progress",
    "lemma",
    "4.4",
    "Each N-lift G = N_theta(H) of a +-1 zigzag G removes at least one turning point (docs/theory.md §4.4).",
    check_zigzag,
)
END_SLOPES = Result(
    "N_end_slopes",
    "lemma",
    "4.1",
    "On R every finite-theta N-network f has f'(-inf) = f'(+inf) = W_(L+1)...W_1; |x| on R violates it.",
    check_end_slopes,
)
RESULT = Result("theorem2_N_universality", "theorem", "4", STATEMENT, check)
