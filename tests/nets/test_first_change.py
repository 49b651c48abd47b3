"""``LineCertifier.first_change`` gives ``line_certificate``'s label and first change, exactly,
on random models and segments (changes at screen points, ties at the start, duplicated
outputs, far segments), while restricting the model exactly only to part of the segment."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import nets
from cpwl.errors import InvalidArgument, UnsupportedModuleError
from nets.certify import line_certificate
from nets.certify.first_change import LineCertifier


def _model(seed: int, activation: str) -> nn.Module:
    torch.manual_seed(seed)
    act = {"relu": nn.ReLU(), "maxmin": nets.MaxMin(), "n": nets.NActivation(8)}[activation]
    return nn.Sequential(nn.Linear(3, 8), act, nn.Linear(8, 4)).eval()


@given(st.integers(0, 10**6), st.sampled_from(["relu", "maxmin", "n"]), st.sampled_from([1, 4, 16]))
def test_the_first_change_is_line_certificate_s(seed, activation, length):
    model = _model(seed, activation)
    certifier = LineCertifier(model, (3,))
    g = torch.Generator().manual_seed(seed)
    start = torch.randn(3, generator=g)
    end = start + length * torch.randn(3, generator=g)
    got, expected = certifier.first_change(start, end), line_certificate(model, start, end)
    assert (got.label, got.t, got.length_squared) == (expected.label, expected.t, expected.length_squared)


def test_changes_are_found_and_little_is_restricted_exactly():
    """Over many long segments most labels change, every answer matches, and the exact engine
    sees a small part of each segment."""
    model = _model(7, "relu")
    certifier = LineCertifier(model, (3,))
    g = torch.Generator().manual_seed(7)
    found, restricted = 0, []
    for _ in range(12):
        start = torch.randn(3, generator=g)
        end = start + 8 * torch.randn(3, generator=g)
        got, expected = certifier.first_change(start, end), line_certificate(model, start, end)
        assert (got.label, got.t) == (expected.label, expected.t)
        found += got.t is not None
        restricted.append(sum(hi - lo for lo, hi in got.exact_window))
    assert found >= 6
    assert sorted(restricted)[len(restricted) // 2] < Fraction(1, 4)


@pytest.mark.parametrize("points", [3, 64])
def test_a_change_exactly_on_a_screen_point(points):
    """Scores ``-x`` and ``x`` along ``[-1, 1]`` tie at ``t = 1/2``: with 3 points the screen
    samples the tie itself, with 64 it straddles it."""
    model = nn.Sequential(nn.Linear(1, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[-1.0], [1.0]]))
        model[0].bias.zero_()
    got = LineCertifier(model, (1,), lipschitz=2, points=points).first_change([-1.0], [1.0])
    assert (got.label, got.t) == (0, Fraction(1, 2))


def test_a_tie_at_the_start_and_duplicated_outputs():
    model = nn.Sequential(nn.Linear(2, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
        model[0].bias.zero_()
    certifier = LineCertifier(model, (2,))
    for start, end in (([1.0, 0.0], [1.0, 2.0]), ([2.0, 0.0], [0.0, 2.0]), ([0.0, 1.0], [0.0, 1.0])):
        got, expected = certifier.first_change(start, end), line_certificate(model, start, end)
        assert (got.label, got.t) == (expected.label, expected.t)


def test_a_conv_net():
    torch.manual_seed(2)
    model = nets.SimplifiedConvNet(1, 4, base_width=4, blocks=1, layers_per_block=1).eval()
    certifier = LineCertifier(model, (1, 4, 4))
    start, end = torch.rand(1, 4, 4), 4 * torch.rand(1, 4, 4) - 2
    got, expected = certifier.first_change(start, end), line_certificate(model, start, end)
    assert (got.label, got.t) == (expected.label, expected.t)


def test_changed_weights_are_refused():
    model = _model(0, "relu")
    certifier = LineCertifier(model, (3,))
    with torch.no_grad():
        model[0].weight.mul_(2)
    with pytest.raises(InvalidArgument, match="changed"):
        certifier.first_change([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])


def test_line_certificate_without_the_lipschitz_constant_restricts_only_a_stretch():
    """``line_certificate(..., lipschitz=False)`` gives the whole certificate's label, ``t``
    and length (the constant is ``None``) for a module, a flat point read in the model's
    recorded shape, and an ONNX file; the exact engine never restricts the whole segment of
    a long segment whose label changes."""
    from cpwl import Network

    model = _model(7, "relu")
    g = torch.Generator().manual_seed(11)
    seen, restrict = [], Network.restrict_to_line

    def recording(self, start, end, **kwargs):
        seen.append((tuple(start), tuple(end)))
        return restrict(self, start, end, **kwargs)

    changed = 0
    for _ in range(6):
        start = torch.randn(3, generator=g)
        end = start + 8 * torch.randn(3, generator=g)
        whole = line_certificate(model, start, end)
        assert whole.lipschitz_squared is not None and whole.lipschitz_upper is not None
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Network, "restrict_to_line", recording)
            seen.clear()
            lazy = line_certificate(model, start, end, lipschitz=False)
        assert (lazy.label, lazy.t, lazy.length_squared) == (whole.label, whole.t, whole.length_squared)
        assert lazy.lipschitz_squared is None and lazy.lipschitz_upper is None
        whole_segment = (tuple(Fraction(float(v)) for v in start), tuple(Fraction(float(v)) for v in end))
        assert all((tuple(map(Fraction, a)), tuple(map(Fraction, b))) != whole_segment for a, b in seen)
        assert seen or lazy.t is None  # a change is found by restricting a stretch exactly
        changed += lazy.t is not None
    assert changed >= 3


def test_line_certificate_without_the_lipschitz_constant_reads_graph_files_and_refuses_others(tmp_path):
    import warnings

    model = _model(3, "maxmin")
    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3),), str(path), dynamo=False)
    start, end = [0.5, -1.0, 2.0], [-3.0, 4.0, 1.0]
    whole, lazy = line_certificate(model, start, end), line_certificate(str(path), start, end, lipschitz=False)
    assert (lazy.label, lazy.t, lazy.lipschitz_squared) == (whole.label, whole.t, None)
    with pytest.raises(InvalidArgument, match="torch module or an .onnx/.pt2 path"):
        line_certificate("model.pt", start, end, lipschitz=False)


def test_line_certificate_reuses_its_certifier_until_the_model_changes(monkeypatch):
    from nets.certify import first_change, line
    from nets.certify._recent import Recent

    made = []

    class Counting(first_change.LineCertifier):
        def __init__(self, *args, **kwargs):
            made.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(first_change, "LineCertifier", Counting)
    monkeypatch.setattr(line, "_RECENT", Recent(4))
    model = _model(5, "n")
    start, end = [0.5, -1.0, 2.0], [-3.0, 4.0, 1.0]
    first = [line_certificate(model, start, end, lipschitz=False) for _ in range(3)]
    assert len(made) == 1 and first[0] == first[2]
    with torch.no_grad():
        model[2].bias.add_(3.0)  # another model now: a fresh certifier, the whole answer
    again = line_certificate(model, start, end, lipschitz=False)
    whole = line_certificate(model, start, end)
    assert len(made) == 2 and (again.label, again.t) == (whole.label, whole.t)
    model.register_forward_hook(lambda module, args, out: out)  # a hook: refused, not reused
    with pytest.raises(UnsupportedModuleError, match="forward hook"):
        line_certificate(model, start, end, lipschitz=False)


def test_a_stretch_is_tried_exactly_within_a_budget_before_the_next_round(monkeypatch):
    """After a round, the stretch that holds the change is restricted exactly unless it has
    more breakpoints than the budget; over long segments of a wider model both happen (a
    pass that stops at the budget, a pass that answers before the last round), and every
    answer is the whole restriction's."""
    from nets.certify import first_change

    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU(), nn.Linear(48, 4)).eval()
    certifier = LineCertifier(model, (3,), points=16)
    outcomes = []
    change_in = LineCertifier._change_in

    def recording(self, a, d, u, right, label, budget=None):
        t = change_in(self, a, d, u, right, label, budget)
        outcomes.append((budget, t is first_change._TOO_MANY))
        return t

    monkeypatch.setattr(LineCertifier, "_change_in", recording)
    g = torch.Generator().manual_seed(5)
    for _ in range(10):
        start = torch.randn(3, generator=g)
        end = start + 12 * torch.randn(3, generator=g)
        got, expected = certifier.first_change(start, end), line_certificate(model, start, end)
        assert (got.label, got.t) == (expected.label, expected.t)
    assert any(budget is not None and too_many for budget, too_many in outcomes)
    assert any(budget is not None and not too_many for budget, too_many in outcomes)
    assert all(not too_many for budget, too_many in outcomes if budget is None)


def test_the_caller_s_breakpoint_limit_still_holds():
    """The budget of a tried stretch never lifts the caller's limit: a last stretch with more
    breakpoints than the caller allows raises, as the whole restriction would."""
    import cpwl

    model = _model(7, "relu")
    certifier = LineCertifier(model, (3,), rounds=1)  # one round: its stretch is the last
    g = torch.Generator().manual_seed(7)
    start, end = torch.randn(3, generator=g), 40 * torch.randn(3, generator=g)
    change = certifier.first_change(start, end)
    ((u, right),) = change.exact_window
    a = [Fraction(float(v)) for v in start]
    d = [Fraction(float(v)) - x for v, x in zip(end, a)]
    stretch = certifier.network.restrict_to_line(
        [x + u * v for x, v in zip(a, d)], [x + right * v for x, v in zip(a, d)]
    )
    assert change.t is not None and len(stretch.breakpoints) >= 1
    with pytest.raises(cpwl.BreakpointLimitError), cpwl.breakpoint_limit(0):
        certifier.first_change(start, end)


@pytest.mark.parametrize("settings", [{"points": 1}, {"rounds": 0}])
def test_a_cover_without_points_or_rounds_is_refused(settings):
    with pytest.raises(InvalidArgument, match="points must be >= 2 and rounds >= 1"):
        LineCertifier(_model(0, "relu"), (3,), **settings)
