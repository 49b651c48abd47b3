"""The paper's experiments, reproduced on CPU: ``python -m nets.experiments.toy_fit`` and
``python -m nets.experiments.digits``."""
