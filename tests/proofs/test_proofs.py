"""The theorems as executable proofs: every registered result passes under the ci profile,
every invariant can fail, and the report machinery says which theorems a failure undermines."""

import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cpwl
import proofs
from cpwl import CPWL
from cpwl import activations as act
from proofs.four_squares import four_squares, rational_square_split
from proofs.harness import CheckOutcome, Result
from proofs.invariants import tight_runs, unit_slopes_share_sign, window_test
from proofs.n_universality import construct
from proofs.report import Report


@pytest.mark.parametrize("name", sorted(proofs.registry))
def test_result_passes(name):
    outcome = proofs.registry.nodes[name]["result"].run("ci")
    assert outcome.passed, outcome.failures
    assert outcome.checks >= 1


def test_every_result_has_a_statement_with_its_hypotheses():
    for name in proofs.registry:
        result = proofs.registry.nodes[name]["result"]
        assert result.kind in {"lemma", "theorem", "corollary"} and len(result.statement) > 60


def test_a_failing_lemma_undermines_its_theorems():
    graph = proofs.registry
    outcomes = [CheckOutcome(name) for name in graph]
    outcomes[[o.name for o in outcomes].index("aol_bound")].failures.append("broken on purpose")
    report = Report(outcomes, graph, "ci")
    assert not report.passed
    assert report.undermined() == {
        "lipschitz_export",
        "theorem1_non_universality",
        "theorem2_N_universality",
        "abs_sharpness",
        "linf_contrast",
    }
    assert "FAILED aol_bound" in report.table()


def test_a_crashing_check_is_reported_not_raised():
    def boom(checker):
        raise RuntimeError("boom")

    outcome = Result("boom", "lemma", "0", "x" * 80, boom).run("ci")
    assert not outcome.passed and "boom" in outcome.failures[0]


def test_command_line_exit_codes():
    ok = subprocess.run(
        [sys.executable, "-m", "proofs", "--only", "linf_contrast", "--quiet"], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "linf_contrast" in ok.stdout and "all passed" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "proofs", "--only", "no_such_result"], capture_output=True, text=True)
    assert bad.returncode == 2


@given(st.integers(0, 10**30))
def test_four_squares(n):
    assert sum(v * v for v in four_squares(n)) == n


@given(st.fractions(min_value=0, max_value=5, max_denominator=10**6))
def test_rational_square_split(p):
    ws = rational_square_split(p)
    assert len(ws) <= 4 and sum(w * w for w in ws) == p and all(w > 0 for w in ws)


def test_window_test_examples():
    n = act.n_function()
    assert not window_test(n.restrict(-2, 2))
    assert window_test(n.restrict(Fraction(-3, 2), 2))
    assert window_test(n.restrict(-2, Fraction(3, 2)))
    assert window_test(act.abs_().restrict(-1, 1))
    assert tight_runs(act.relu().restrict(-1, 1)) == [(0, 1, [])]
    with pytest.raises(cpwl.DomainError):
        window_test(n)


def test_case_b_catches_abs_via_relu_pairs():
    assert unit_slopes_share_sign(act.relu()) and not unit_slopes_share_sign(act.abs_())


def test_construct_rejects_what_it_cannot_build():
    with pytest.raises(cpwl.DomainError):
        construct(act.n_function())
    with pytest.raises(ValueError):
        construct(CPWL.linear(2).restrict(0, 1))
    with pytest.raises(TypeError):
        construct("x")


def test_construct_worked_examples_of_theory():
    relu = act.relu().restrict(-1, 1)
    net = construct(relu)
    assert net.to_cpwl(domain=(-1, 1)) == relu
    assert [abs(row[0]) for row in net.layers[0].weight] == [Fraction(1, 2)] * 4  # width 4, rational
    absx = act.abs_().restrict(-2, 5)
    assert construct(absx).to_cpwl(domain=(-2, 5)) == absx


def test_coverage_is_counted_reported_and_enforced_in_deep():
    """A property whose examples never reach its critical configuration: reported in ci,
    a failure in deep."""
    from proofs.harness import Checker

    def check(c: Checker) -> None:
        c.for_all(
            "never critical", st.integers(0, 9), lambda v: v < 10, reached=("a value of 10", lambda v: v == 10, 0.3)
        )
        c.for_all(
            "always critical", st.integers(0, 9), lambda v: v < 10, reached=("a value below 10", lambda v: v < 10, 0.3)
        )

    result = Result("coverage_probe", "lemma", "0", "x" * 80, check)
    ci = result.run("ci")
    assert ci.passed and [(c.reached, c.drawn) for c in ci.coverage][0][0] == 0
    assert ci.coverage[1].reached == ci.coverage[1].drawn > 0
    deep = result.run("deep")
    assert not deep.passed and "reached a value of 10" in deep.failures[0] and len(deep.failures) == 1
    graph = proofs.registry.copy()
    graph.add_node("coverage_probe", result=result)
    table = Report([ci], graph, "ci").table()
    assert "0/" in table and "BELOW FLOOR" in table


def test_aimed_folds_reach_windows_where_only_one_extreme_is_interior():
    """The window test asks for the max *or* the min inside; the aimed generator reaches
    windows where exactly one of them is, so a test that asked for both (or for the max only)
    would fail on valid networks and be caught."""
    from hypothesis import find, settings

    from proofs.boundary import folds

    def one_extreme_inside(net) -> bool:
        f = net.to_cpwl().restrict(-8, 8)
        for start, end, turns in tight_runs(f):
            values = [f(t) for t in [start, *turns, end]]
            for i in range(1, len(turns) + 1):
                for j in range(i + 1, len(turns) + 1):
                    window = values[i - 1 : j + 2]
                    inner = window[1:-1]
                    if (max(window) in inner) != (min(window) in inner):
                        return True
        return False

    net = find(folds("maxmin"), one_extreme_inside, settings=settings(max_examples=500, database=None))
    assert window_test(net.to_cpwl().restrict(-8, 8))  # the theorem holds there all the same
