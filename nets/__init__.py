"""nets: the PyTorch mirror of :mod:`cpwl` (1-Lipschitz layers, activations, export).

Not yet built; see the project issues.
"""
