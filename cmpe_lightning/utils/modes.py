"""Small context managers and helpers for evaluation, precision and timing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def evaluation_mode(module: nn.Module) -> Iterator[None]:
    """Runs the block with ``module`` in eval mode (no dropout), restoring its previous mode after."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def full_precision(device: torch.device):
    """A block in which autocast is off: flow transforms, ODE solvers and losses run in float32."""
    return torch.autocast(device_type=device.type, enabled=False)


def synchronize(device: torch.device) -> None:
    """Waits for queued GPU work, so that wall-clock timings measure it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
