"""A small, readable training loop with the losses and metrics of the paper's experiments."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from cpwl.errors import InvalidArgument
from nets.progress import progress as show_progress

__all__ = ["History", "fit", "offset_cross_entropy", "accuracy", "certified_robust_accuracy_float", "default_device"]


def default_device() -> torch.device:
    """``cuda`` when available, else ``cpu``.

    Examples:
        >>> default_device().type in ("cuda", "cpu")
        True
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def offset_cross_entropy(
    scores: torch.Tensor, labels: torch.Tensor, offset: float = 2 * math.sqrt(2) * 36 / 255, temperature: float = 0.25
) -> torch.Tensor:
    """``T * CE((s - offset * e_y) / T, y)``, the paper's margin-encouraging loss (docs/theory.md §7.2).

    Examples:
        >>> s = torch.tensor([[2.0, 0.0]]); y = torch.tensor([0])
        >>> bool(offset_cross_entropy(s, y) > offset_cross_entropy(s, y, offset=0.0))
        True
    """
    shifted = scores - offset * F.one_hot(labels, scores.shape[-1]).to(scores.dtype)
    return temperature * F.cross_entropy(shifted / temperature, labels)


@dataclass
class History:
    """Mean training loss per epoch (and anything a callback records)."""

    losses: list = field(default_factory=list)


_LOSSES = {"mse": lambda out, y: F.mse_loss(out, y), "offset_ce": offset_cross_entropy, "ce": F.cross_entropy}


def fit(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    loss: Union[str, Callable] = "mse",
    epochs: int = 100,
    batch_size: int = 100,
    optimizer: str = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    scheduler: Optional[str] = None,
    regularizer: Optional[Callable[[nn.Module], torch.Tensor]] = None,
    seed: int = 0,
    progress: Union[bool, str] = True,
    device: Optional[Union[str, torch.device]] = None,
) -> History:
    """Train ``model`` in place with minibatches (shuffled with ``seed``).

    ``loss``: ``"mse"``, ``"offset_ce"``, ``"ce"`` or a callable ``(output, target)``;
    ``optimizer``: ``"sgd"`` (with ``momentum``) or ``"adam"``; ``scheduler``: ``None`` or
    ``"onecycle"`` (stepped per batch, peak ``lr``); ``regularizer(model)`` is added to the loss.
    Progress over the epochs is shown (:func:`nets.progress.progress`) unless ``progress=False``;
    a string names it (``progress="training MaxMin"``).

    Examples:
        >>> model = nn.Linear(1, 1)
        >>> x = torch.linspace(-1, 1, 32)[:, None]
        >>> h = fit(model, x, 2 * x, epochs=20, batch_size=8, lr=0.1, progress=False)
        >>> h.losses[-1] < h.losses[0]
        True
    """
    device = torch.device(device) if device is not None else default_device()
    loss_fn = _LOSSES[loss] if isinstance(loss, str) else loss
    if isinstance(loss, str) and loss not in _LOSSES:
        raise InvalidArgument(f"unknown loss {loss!r}; choose from {sorted(_LOSSES)} or pass a callable")
    if len(inputs) != len(targets):
        raise InvalidArgument(f"{len(inputs)} inputs but {len(targets)} targets")
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        raise InvalidArgument(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    steps = math.ceil(len(inputs) / batch_size)
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps)
        if scheduler == "onecycle"
        else None
    )
    if scheduler not in (None, "onecycle"):
        raise InvalidArgument(f"scheduler must be None or 'onecycle', got {scheduler!r}")
    generator = torch.Generator().manual_seed(seed)
    x_all, y_all = inputs.to(device), targets.to(device)
    history = History()
    label = progress if isinstance(progress, str) else "training"
    for _ in show_progress(range(epochs), label, enabled=bool(progress)):
        order = torch.randperm(len(inputs), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(inputs), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            value = loss_fn(model(x_all[idx]), y_all[idx])
            if regularizer is not None:
                value = value + regularizer(model)
            value.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += float(value.detach()) * len(idx)
        history.losses.append(total / len(inputs))
    return history


@torch.no_grad()
def accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of correct argmax predictions (evaluation mode).

    Examples:
        >>> model = nn.Linear(2, 2)
        >>> 0.0 <= accuracy(model, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)) <= 1.0
        True
    """
    model.eval()
    device = next(model.parameters()).device
    return float((model(inputs.to(device)).argmax(-1).cpu() == labels).float().mean())


@torch.no_grad()
def certified_robust_accuracy_float(
    scores: torch.Tensor, labels: torch.Tensor, eps: float, lipschitz: float = 1.0
) -> float:
    """The *float* margin rule of the literature: correct and ``margin > sqrt(2) L eps``
    (strict).  A quick metric for training logs; a rigorous certificate must bound the
    rounding error of the margin (``nets.certify``).

    Examples:
        >>> certified_robust_accuracy_float(torch.tensor([[2.0, 0.0]]), torch.tensor([0]), eps=1.0)
        1.0
    """
    true = scores.gather(1, labels[:, None])[:, 0]
    others = scores.clone()
    others.scatter_(1, labels[:, None], float("-inf"))
    margin = true - others.max(dim=1).values
    return float((margin > math.sqrt(2) * lipschitz * eps).float().mean())
