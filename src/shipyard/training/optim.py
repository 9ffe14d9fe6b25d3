"""The optimizer and learning-rate schedule a recipe's ``train`` section asks for.

AdamW (Loshchilov & Hutter 2019) over the network's parameter groups; a
per-step schedule: linear warm-up then cosine decay to 0 (Loshchilov & Hutter
2017, "SGDR"), PyTorch's ``OneCycleLR`` (Smith & Topin 2019), or constant.
A network that wants several learning rates (e.g. a pretrained encoder below
its head) defines ``parameter_groups(base_lr)`` returning torch param groups.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from shipyard.recipe import TrainSpec


def build_optimizer(model: nn.Module, spec: TrainSpec) -> torch.optim.Optimizer:
    """AdamW with ``spec.learning_rate`` and ``spec.weight_decay``.

    Parameters
    ----------
    model : nn.Module
        Its ``parameter_groups(lr)`` is used when defined, else all parameters.
    spec : TrainSpec
    """
    groups = model.parameter_groups(spec.learning_rate) if hasattr(model, "parameter_groups") else model.parameters()
    return torch.optim.AdamW(groups, lr=spec.learning_rate, weight_decay=spec.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, spec: TrainSpec, steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-batch learning-rate schedule of ``spec.schedule``, or None for a constant rate.

    Parameters
    ----------
    optimizer : Optimizer
    spec : TrainSpec
        ``schedule.type`` and ``schedule.warmup`` (a fraction of all steps).
    steps_per_epoch : int
        Optimizer steps per epoch; the schedule spans ``epochs * steps_per_epoch`` steps.
    """
    schedule = spec.schedule
    total = max(1, spec.epochs * max(1, steps_per_epoch))
    warmup = int(round(schedule.warmup * total))
    if schedule.type == "onecycle":
        max_lr = [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total, pct_start=schedule.warmup or 0.3)
    if schedule.type == "none" and warmup == 0:
        return None

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule.type == "cosine":
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
