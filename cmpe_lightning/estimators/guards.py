"""Guards of training against non-finite numbers: failed simulations are left out, a diverged loss stops the fit.

Simulators fail at the edges of their priors (a solver blows up, a count overflows) and return NaN or inf.
Such pairs never reach the optimizer, whatever the data source (online, fixed budget, bank): they get weight
zero in their batch's mean loss and are counted. A non-finite loss of finite data means the training itself
diverged; going on would only overwrite good checkpoints with NaN weights, so the fit stops and names the step.

Neither guard makes a training step wait for an accelerator: on a GPU, asking whether a number is finite copies
it to the host and stalls the queue of kernels that keeps the device busy. On a CPU the answer is free and is
read at once; elsewhere the failed pairs are masked on the device and the first non-finite loss is recorded
there, to be read on the steps whose values are logged anyway, before each checkpoint and at the end of the fit.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..utils.errors import UserFacingError
from ..utils.structure import is_finite, leaves, map_structure


class NonFiniteLossError(UserFacingError, RuntimeError):
    """The training loss became NaN or inf; the command-line tools print the message alone."""


def mask_failed_pairs(theta: Tensor, x: Any) -> tuple[Tensor, Any, Tensor | None]:
    """``(theta, x, keep)``: ``keep`` is ``None`` when every pair is finite (on a CPU, one reduction tells);
    otherwise the ``(batch,)`` mask of finite pairs, with the failed pairs' values replaced by zeros so that they
    pass through the networks without spreading NaN. :func:`mean_over_kept` then gives them weight zero.

    Example:
        >>> theta, x = torch.zeros(3, 2), torch.tensor([[0.0], [float("nan")], [1.0]])
        >>> theta, x, keep = mask_failed_pairs(theta, x)
        >>> keep.tolist(), x.flatten().tolist()
        ([True, False, True], [0.0, 0.0, 1.0])
    """
    if theta.device.type == "cpu":
        total = theta.sum()
        for leaf in leaves(x):
            total = total + leaf.sum()
        if math.isfinite(total.item()):  # false also when a sum overflows: then the exact check below decides
            return theta, x, None
    keep = is_finite(x) & torch.isfinite(theta).flatten(1).all(1)

    def zero_failed(t: Tensor) -> Tensor:
        return torch.where(keep.view(-1, *[1] * (t.ndim - 1)), t, torch.zeros((), dtype=t.dtype, device=t.device))

    return zero_failed(theta), map_structure(zero_failed, x), keep


def mean_over_kept(loss: Tensor, keep: Tensor | None) -> Tensor:
    """The mean of the per-pair ``loss`` over the kept pairs (zero, with zero gradient, if none is kept)."""
    if keep is None:
        return loss.mean()
    return (loss * keep).sum() / keep.sum().clamp(min=1)


class LossGuard:
    """Stops a fit whose training loss is not finite, naming the first such step.

    On a CPU every step's loss is checked at once. On an accelerator :meth:`record` keeps the first bad step
    on the device, and :meth:`check` (called by the estimator on logging steps, before every checkpoint and at
    the end of the fit) reads it: weights spoiled in between are never written. Under DDP every process
    checks at the same steps and all stop together, so none waits forever for the others' gradients.
    """

    def __init__(self, defer: bool | None = None):
        self.defer = defer  # None: defer the check off the CPU
        self.first_bad_step: Tensor | None = None

    def record(self, loss: Tensor, step: int, strategy: Any) -> None:
        if not (loss.device.type != "cpu" if self.defer is None else self.defer):
            value = loss.item()
            self._stop_if(not math.isfinite(value), step, value, strategy)
            return
        bad = torch.where(torch.isfinite(loss), -1, step)
        self.first_bad_step = bad if self.first_bad_step is None else torch.where(self.first_bad_step >= 0,
                                                                                   self.first_bad_step, bad)

    @property
    def pending(self) -> bool:
        """Whether losses recorded on the device wait to be checked."""
        return self.first_bad_step is not None

    def check(self, strategy: Any) -> None:
        if self.pending:
            step = int(self.first_bad_step)
            self._stop_if(step >= 0, step, "NaN or inf", strategy)

    @staticmethod
    def _stop_if(bad: bool, step: int, value: Any, strategy: Any) -> None:
        if strategy.reduce_boolean_decision(not bad, all=True):
            return
        raise NonFiniteLossError(
            f"The training loss became {value} at step {step}, on data without NaN or inf: the training diverged."
            " It stopped there, so the last checkpoint written before holds the last good weights. Lower the learning"
            " rate, keep gradient clipping on (trainer.gradient_clip_val) or check the scale of the data, and resume"
            " from the checkpoint or start again."
        )
