"""nets.semantics: the one translation table — lookups fail closed, a module's meaning is
registered once, and a user can give their own module an exact meaning."""

from fractions import Fraction

import pytest
import torch
from torch import nn

import cpwl
import nets
from cpwl import activations
from nets.certify import bounded_forward, lipschitz_certificate
from nets.export import to_network
from nets.semantics import lookup, register, registered, translate


def test_a_layer_type_without_a_bound_cannot_exist():
    class Forgetful(cpwl.Layer):
        def _forward(self, vals):
            return vals

        def apply_map(self, F):
            return F

    with pytest.raises(TypeError, match="lipschitz_bound"):
        Forgetful()


def test_harmless_subclasses_are_accepted_and_changed_ones_refused():
    class Renamed(nn.Linear):
        def __init__(self):
            super().__init__(2, 2)

        def extra_repr(self):
            return "renamed"

    class Halved(nn.ReLU):
        def forward(self, x):
            return super().forward(x) / 2

    assert len(to_network(nn.Sequential(Renamed())).layers) == 1
    with pytest.raises(cpwl.UnsupportedModuleError, match=r"Halved at '1'.*overrides forward"):
        to_network(nn.Sequential(nn.Linear(2, 2), Halved()))
    with pytest.raises(cpwl.UnsupportedModuleError, match=r"Tanh at '0\.1' has no exact meaning"):
        to_network(nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.Tanh())))


def test_a_user_module_gets_one_meaning_and_everything_follows():
    class Halve(nn.Module):
        def forward(self, x):
            return x / 2

    register(Halve, exact=lambda m, shape: ([activations.Elementwise(cpwl.CPWL.linear("1/2"))], shape))
    with pytest.raises(cpwl.InvalidArgument, match="already"):
        register(Halve, exact=lambda m, shape: ([], shape))
    model = nn.Sequential(nn.Linear(1, 1), Halve())
    assert f"{Halve.__module__}.{Halve.__qualname__}" in registered()
    assert lipschitz_certificate(model).layers[1].bound == Fraction(1, 2)  # derived from the exact layer
    y, err = bounded_forward(model, torch.ones(1, 1))
    with torch.no_grad():
        assert abs(y.item() - model.double()(torch.ones(1, 1, dtype=torch.float64)).item()) <= err.item() + 1e-15


def test_every_registered_class_resolves_to_itself():
    entry, base = lookup(nets.AOLLinear(2, 2), "x")
    assert base is nets.AOLLinear and entry.bound is not None
    with pytest.raises(cpwl.InvalidArgument, match="exactly one"):
        register("somewhere.Else")  # neither a meaning nor a container


def test_translation_is_per_shape_and_reads_the_model_in_eval_mode():
    conv = nets.SimplifiedConvNet(1, 4, base_width=4, blocks=2, layers_per_block=1)
    conv.train()
    t = translate(conv)
    assert t.in_shape == (1, 4, 4) and t.out_shape == (4,)
    assert conv.training  # modes restored
    with pytest.raises(cpwl.ShapeError, match="AOLConv2d at '1'"):
        translate(conv, (1, 4))


def test_copies_of_parametrized_modules_are_still_read_through_their_parametrization():
    import copy

    layer = torch.nn.utils.parametrizations.orthogonal(nn.Linear(3, 3))
    clone = copy.deepcopy(layer)  # copyreg caches __slotnames__ on the injected class
    assert to_network(nn.Sequential(clone)).layers[0].weight == to_network(nn.Sequential(layer)).layers[0].weight
