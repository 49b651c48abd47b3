"""Train a small 1-Lipschitz classifier on scikit-learn's digits, save it, and certify it.

python examples/certify_digits.py [--quick]
"""

import pathlib
import sys
import tempfile

import torch

import nets
from nets.certify import certified_robust_accuracy, lipschitz_certificate
from nets.experiments.digits import load
from nets.model_file import save
from nets.train import accuracy, fit

quick = "--quick" in sys.argv
x_train, y_train, x_test, y_test = load()
torch.manual_seed(0)
model = nets.LipschitzMLP([64, 64, 64, 10], activation="maxmin", layer="aol")
fit(
    model,
    x_train.flatten(1),
    y_train,
    loss="offset_ce",
    epochs=3 if quick else 60,
    batch_size=64,
    optimizer="adam",
    lr=3e-3,
    progress=not quick,
)

path = pathlib.Path(tempfile.mkdtemp()) / "digits_mlp.pt"
save(model, path)  # reload with nets.model_file.load, or: lipcpwl certify digits_mlp.pt --data digits
print("saved", path)

cert = lipschitz_certificate(model)
print(cert.table())
print(f"accuracy {accuracy(model, x_test.flatten(1), y_test):.3f}")
for eps in (0.1, 0.25, 0.5):
    report = certified_robust_accuracy(model, x_test.flatten(1), y_test, eps, lipschitz=cert.bound)
    print(
        f"eps={eps}: certified {report.certified:.3f} (naive float rule {report.naive:.3f}, "
        f"{len(report.disagreements)} disagreements)"
    )
