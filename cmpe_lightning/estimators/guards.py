"""Guards of training against non-finite numbers: failed simulations are left out, a diverged loss stops the fit.

Simulators fail at the edges of their priors (a solver blows up, a count overflows) and return NaN or inf.
Such pairs never reach the optimizer, whatever the data source (online, fixed budget, bank): they are dropped
from each batch and counted. A non-finite loss of finite data means the training itself diverged; going on
would only overwrite good checkpoints with NaN weights, so the fit stops and names the step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..utils.errors import UserFacingError


class NonFiniteLossError(UserFacingError, RuntimeError):
    """The training loss became NaN or inf; the command-line tools print the message alone."""


def check_finite_loss(loss: Tensor, step: int, strategy: Any) -> None:
    """Raises :class:`NonFiniteLossError` on every process when the loss is not finite on any of them (so that
    no process waits forever for the others' gradients)."""
    if not strategy.reduce_boolean_decision(bool(torch.isfinite(loss)), all=True):
        raise NonFiniteLossError(
            f"The training loss became {loss.item()} at step {step}, on data without NaN or inf: the training diverged."
            " It stopped here, so the last checkpoint written before holds the last good weights. Lower the learning"
            " rate, keep gradient clipping on (trainer.gradient_clip_val) or check the scale of the data, and resume"
            " from the checkpoint or start again."
        )
