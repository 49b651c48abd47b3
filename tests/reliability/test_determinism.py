"""6. Export and certification are deterministic."""

import torch

import nets
from nets.certify import certified_robust_accuracy, lipschitz_certificate
from nets.export import restrict_to_line, to_cpwl


def _model():
    torch.manual_seed(0)
    return nets.LipschitzMLP([2, 8, 8, 3], activation="n", layer="aol")


def test_repeated_runs_and_forward_passes_change_nothing():
    model = _model()
    a, b = torch.tensor([-1.0, 0.5]), torch.tensor([2.0, -1.0])
    first = restrict_to_line(model, a, b).to_json()
    model.train()
    model(torch.randn(7, 2))  # a training-mode forward pass
    assert restrict_to_line(model, a, b).to_json() == first
    model.eval()
    assert restrict_to_line(model, a, b).to_json() == first  # no mode-dependent behaviour
    x, y = torch.rand(10, 2), torch.zeros(10, dtype=torch.long)
    assert certified_robust_accuracy(model, x, y, 0.05) == certified_robust_accuracy(model, x, y, 0.05)
    assert lipschitz_certificate(model) == lipschitz_certificate(model)


def test_float32_and_float64_copies_of_equal_weights_agree():
    model32 = nets.LipschitzMLP([1, 6, 1], activation="maxmin", layer="plain")
    model64 = nets.LipschitzMLP([1, 6, 1], activation="maxmin", layer="plain").double()
    model64.load_state_dict({k: v.double() for k, v in model32.state_dict().items()})  # the same values
    assert to_cpwl(model32, domain=(-2, 2)) == to_cpwl(model64, domain=(-2, 2))
