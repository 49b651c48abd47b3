"""Export a torch model to ONNX, then restrict the ONNX model to a line exactly.

python examples/onnx_line.py
"""

import io
import warnings

import torch

from nets.onnx_import import restrict_to_line

torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3)
)
buffer = io.BytesIO()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    torch.onnx.export(model.eval(), (torch.zeros(1, 4),), buffer, dynamo=False)

start, end = torch.zeros(4), torch.ones(4)
F = restrict_to_line(buffer.getvalue(), start.numpy(), end.numpy())
print(f"{len(F.breakpoints)} exact breakpoints along the segment; outputs at t = 1/2:", [float(v) for v in F("1/2")])
with torch.no_grad():
    print("torch at t = 1/2:", model(((start + end) / 2)[None])[0].tolist())
