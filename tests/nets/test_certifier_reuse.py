"""certified_robust_accuracy reuses an earlier call's translation only while nothing the
translation reads has changed: every kind of change — weights written behind torch's back,
attributes, submodules, classes, the table, hooks — gives the answer of a fresh Certifier."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import cpwl
import nets
from nets.certify import Certifier, certified_robust_accuracy, robustness
from nets.certify._recent import Recent
from nets.semantics import register
from nets.semantics.snapshot import state_key


@pytest.fixture
def built(monkeypatch):
    """Counts the Certifiers certified_robust_accuracy builds (each one a fresh translation)."""
    count = []

    class Counting(Certifier):
        def __init__(self, *args, **kwargs):
            count.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(robustness, "Certifier", Counting)
    monkeypatch.setattr(robustness, "_RECENT", Recent(4))
    return count


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nets.MaxMin(), nn.Linear(8, 3)).eval()


def _data(model, n=40, seed=1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=generator)
    with torch.no_grad():
        return x, model(x).argmax(dim=1)


def _same_as_fresh(model, x, y, eps="1/8"):
    got = certified_robust_accuracy(model, x, y, eps)
    fresh = Certifier(model, (3,)).report(x, y, eps)
    assert got == fresh
    return got


def test_an_unchanged_model_is_translated_once(built):
    model = _model()
    x, y = _data(model)
    reports = [certified_robust_accuracy(model, x, y, eps, naive=False) for eps in ("1/8", "1/4", "1/8")]
    assert len(built) == 1
    assert reports[0] == reports[2] and reports[0].certified >= reports[1].certified
    certified_robust_accuracy(model, x, y, "1/8", norm="inf")  # another norm: another certifier
    certified_robust_accuracy(model, x[:, None, :].reshape(40, 3), y, "1/8", lipschitz=2)
    assert len(built) == 3


def _write_behind_torch(model):
    model[0].weight.detach().numpy()[0, 0] += 0.5  # torch's version counter does not move


def _in_place(model):
    with torch.no_grad():
        model[2].weight.mul_(1.5)


def _reassign(model):
    model[2].weight = nn.Parameter(model[2].weight.detach() * -1)


def _attribute(model):
    model[1].order = "min_first"


def _submodule(model):
    model[1] = nn.ReLU()


def _train_flag(model):
    model.train()


CHANGES = [_write_behind_torch, _in_place, _reassign, _attribute, _submodule, _train_flag]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
def test_every_change_is_seen(change, built):
    model = _model()
    x, y = _data(model)
    before = _same_as_fresh(model, x, y)
    key = state_key(model)
    change(model)
    assert state_key(model) != key
    after = _same_as_fresh(model, x, y)
    assert len(built) == 2 and before.eps == after.eps


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from(CHANGES + [None, None]), min_size=1, max_size=6))
def test_any_sequence_of_changes_gives_the_fresh_answer(changes):
    model = _model(seed=len(changes))
    x, y = _data(model)
    for change in changes:
        if change is not None:
            change(model)
        _same_as_fresh(model, x, y)


def test_a_written_weight_changes_the_verdicts():
    """The numpy write above is not a formality: reusing the old translation would give
    verdicts of a different function."""
    model = _model()
    x, y = _data(model)
    before = certified_robust_accuracy(model, x, y, 0, naive=False)
    for layer in (model[0], model[2]):  # every score 0: no sample clears a positive margin...
        layer.weight.detach().numpy()[:] = 0
        layer.bias.detach().numpy()[:] = 0
    after = certified_robust_accuracy(model, x, y, 0, naive=False)
    assert before.certified > 0 and after.certified == 0  # ...and ties are never certified


def test_a_hook_added_later_is_refused(built):
    model = _model()
    x, y = _data(model)
    certified_robust_accuracy(model, x, y, "1/8")
    model[2].register_forward_hook(lambda module, args, out: out * 2)
    with pytest.raises(cpwl.UnsupportedModuleError, match="hook"):
        certified_robust_accuracy(model, x, y, "1/8")


class _Scale(nn.Module):
    def forward(self, x):
        return x / 2


def _halve(module, shape):
    return [cpwl.activations.Elementwise(cpwl.CPWL.linear("1/2"))], shape


register(_Scale, exact=_halve)


def test_class_and_table_changes_are_seen(built, monkeypatch):
    model = nn.Sequential(nn.Linear(3, 3), _Scale()).eval()
    x, y = _data(model)
    certified_robust_accuracy(model, x, y, "1/8")
    monkeypatch.setattr(_Scale, "extra_repr", lambda self: "changed")  # any class attribute
    certified_robust_accuracy(model, x, y, "1/8")

    class Later(nn.Module):
        pass

    key = state_key(model)
    register(Later, exact=_halve)  # the table grew
    assert state_key(model) != key
    certified_robust_accuracy(model, x, y, "1/8")
    assert len(built) == 3


def test_an_attribute_it_cannot_record_means_no_reuse(built):
    model = _model()
    model.note = object()  # an arbitrary object: its state is unknown
    x, y = _data(model)
    assert state_key(model) is None
    certified_robust_accuracy(model, x, y, "1/8")
    certified_robust_accuracy(model, x, y, "1/8")
    assert len(built) == 2


def test_keys_hold_exact_tensor_contents():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    with torch.no_grad():
        b.weight.copy_(a.weight)
        b.bias.copy_(a.bias)
    assert state_key(a) == state_key(b)  # the same contents: the same translation
    before = state_key(a)
    with torch.no_grad():
        a.weight[0, 0] = torch.nextafter(a.weight[0, 0], torch.tensor(np.inf))  # one float step
    assert state_key(a) != before
    a.bias.data = a.bias.data.double()  # same values, another dtype
    assert state_key(a) != before


def test_the_reuse_keeps_a_few_models(built):
    models = [_model(seed) for seed in range(6)]
    x, y = _data(models[0])
    for model in models:
        certified_robust_accuracy(model, x, y, "1/8")
    assert robustness._RECENT.models() == models[-robustness._RECENT.kept :]
    certified_robust_accuracy(models[-1], x, y, "1/8")
    certified_robust_accuracy(models[0], x, y, "1/8")  # forgotten: translated again
    assert len(built) == 7


def test_functions_are_recorded_by_code_defaults_and_closure():
    """A function held by a class or a module is recorded by what it computes: replacing its
    code or defaults, or rebinding a variable it closes over, changes the key."""

    def plain(x, k=2):
        return x * k

    model = _model()
    model.helper = plain
    before = state_key(model)
    assert before is not None and state_key(model) == before
    model.helper.__defaults__ = (3,)
    assert state_key(model) != before
    after_defaults = state_key(model)
    model.helper.__code__ = (lambda x, k=2: x + k).__code__
    assert state_key(model) != after_defaults
    counter = 0

    def closes():
        return counter

    model.helper = closes
    first = state_key(model)
    counter = 1  # the closure's cell now holds another value
    assert state_key(model) != first


def test_graph_models_are_not_reused(tmp_path):
    """A GraphModel holds exact layers, which the key does not record: every call translates."""
    import io
    import warnings

    from nets.graph_model import GraphModel

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_model(), (torch.zeros(1, 3),), buffer, dynamo=False)
    assert state_key(GraphModel(buffer.getvalue(), ".onnx")) is None
