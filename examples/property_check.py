"""Write your own property-based theorem check with cpwl.strategies.

The claim (docs/theory.md §3.4, case B): in an l2 1-Lipschitz ReLU network every slope of
magnitude 1 has the same sign, so no such network computes |x|.  Hypothesis generates exact
networks (exact contractions, rational biases) and shrinks any counterexample.

    python examples/property_check.py
"""

from hypothesis import given, settings

from cpwl import strategies


@settings(max_examples=50, deadline=None)
@given(strategies.networks("relu", depth=2))
def check_unit_slopes_share_a_sign(net):
    assert all(c.ok for c in net.layer_norm_report())  # the hypothesis of the theorem, exactly
    unit = {s for s in net.to_cpwl().slopes if abs(s) == 1}
    assert len(unit) <= 1, f"unit slopes of both signs: {unit}"


@settings(max_examples=50, deadline=None)
@given(strategies.networks("abs", depth=2))
def check_abs_networks_can_break_it(net):
    unit = {s for s in net.to_cpwl().slopes if abs(s) == 1}
    assert len(unit) <= 1, f"unit slopes of both signs: {sorted(unit)}"


check_unit_slopes_share_a_sign()
print("ReLU networks: every unit slope has one sign (50 generated exact networks)")
try:
    check_abs_networks_can_break_it()
    print("abs networks: no counterexample found (unexpected)")
except AssertionError as err:
    print("abs networks break it, as they should (shrunk counterexample):", str(err).strip().splitlines()[-1])
