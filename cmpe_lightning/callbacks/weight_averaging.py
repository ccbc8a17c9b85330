"""An exponential moving average of the weights whose decay warms up, so that no run length keeps the initialization."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging
from torch import Tensor

from ..utils.errors import InputError


def warmed_up_decay(decay: float, num_updates: int) -> float:
    """The decay of the ``num_updates + 1``-th update: ``min(decay, (1 + n) / (10 + n))``.

    With a fixed decay β, a share β^n of the first weights is still in the average after n updates (37 % after
    1 000 updates at β = 0.999); warmed up, the share of any one update's weights falls like 1/n until the decay
    reaches β, after about ``9 β / (1 − β)`` updates (9 000 for 0.999).

    References:
        | TensorFlow's ``ExponentialMovingAverage(num_updates=...)``; Nichol & Dhariwal, *Improved Denoising
        | Diffusion Probabilistic Models* (2021), whose codebase averages the same way.

    Example:
        >>> [round(warmed_up_decay(0.999, n), 3) for n in (0, 1, 10, 100, 100_000)]
        [0.1, 0.182, 0.55, 0.918, 0.999]
    """
    return min(decay, (1 + num_updates) / (10 + num_updates))


class EMA(EMAWeightAveraging):
    """Lightning's :class:`~lightning.pytorch.callbacks.EMAWeightAveraging` with the decay warmed up
    (:func:`warmed_up_decay`), updated in one fused ``lerp`` over all floating-point tensors.

    As Lightning's: the average is swapped in for validation, is the checkpoint's ``state_dict`` (and so the
    weights of test, predict and ``load_from_checkpoint``), the raw weights are kept as ``current_model_state``,
    and a resumed fit goes on with both. The decay of an update depends only on how many updates came before
    (stored in the checkpoint), so a resumed fit averages exactly as an uninterrupted one.

    Args:
        decay: the decay the warm-up reaches (``0.999``: an average over about the last 1 000 steps).
        warmup: ``false`` for a fixed decay from the first update (Lightning's behaviour, which keeps a share
            ``decay ** steps`` of the first weights).
        update_every_n_steps: update the average every n optimizer steps.

    Example (the default recipe adds it; a config may set its decay)::

        - class_path: cmpe_lightning.callbacks.EMA
          init_args: {decay: 0.9999}
    """

    def __init__(self, decay: float = 0.999, warmup: bool = True, update_every_n_steps: int = 1, **kwargs: Any):
        if not 0.0 <= decay < 1.0:
            raise InputError(f"EMA decay must be in [0, 1), got {decay}.")
        super().__init__(decay=decay, update_every_n_steps=update_every_n_steps, **kwargs)
        self.decay, self.warmup = decay, warmup
        self._kwargs.pop("avg_fn", None)
        self._kwargs["multi_avg_fn"] = self._update

    @torch.no_grad()
    def _update(self, averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        # the count is mirrored as a Python int (not read from num_averaged), so no update waits for the device
        decay = warmed_up_decay(self.decay, self._update_count) if self.warmup else self.decay
        if averaged[0].is_floating_point() or averaged[0].is_complex():
            torch._foreach_lerp_(averaged, current, 1.0 - decay)
        else:  # integer buffers (counters) follow the model
            for a, c in zip(averaged, current):
                a.copy_(c)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._raw_weights = None
        self._update_count = 0  # updates so far: the AveragedModel's n_averaged (its first update copies the weights)
        self._pairs: tuple[list[Tensor], list[Tensor]] | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        # Lightning's rule for when to update, with AveragedModel.update_parameters done in one fused lerp over
        # tensor lists gathered once: the same numbers, without regrouping the tensors and reading the device's
        # update count at every step
        if trainer.global_step > self._latest_update_step and self.should_update(step_idx=trainer.global_step - 1):
            self._update_average(pl_module)
            self._latest_update_step = trainer.global_step
            self._update_count += 1

    @torch.no_grad()
    def _update_average(self, pl_module: pl.LightningModule) -> None:
        averaged_model = self._average_model
        if not self._use_buffers:  # AveragedModel then copies the buffers itself
            averaged_model.update_parameters(pl_module)
            return
        if self._pairs is None:
            def tensors(module: torch.nn.Module) -> list[Tensor]:
                return [t.detach() for t in (*module.parameters(), *module.buffers())]
            pairs = list(zip(tensors(averaged_model.module), tensors(pl_module)))
            floating = [(a, c) for a, c in pairs if a.is_floating_point() or a.is_complex()]
            self._pairs = ([a for a, _ in floating], [c for _, c in floating],
                           [(a, c) for a, c in pairs if not (a.is_floating_point() or a.is_complex())])
        averaged, current, integers = self._pairs
        if self._update_count == 0:  # the first update copies the weights
            torch._foreach_copy_(averaged, current)
        elif averaged:
            self._update(averaged, current, averaged_model.n_averaged)
        for a, c in integers:  # integer buffers (counters) follow the model
            a.copy_(c)
        averaged_model.n_averaged += 1

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning copies the average into the module here; checkpoints saved from now on keep the raw weights
        # as their current_model_state all the same (a resume with more steps trains on from them)
        self._raw_weights = {name: value.detach().clone() for name, value in pl_module.state_dict().items()}
        super().on_train_end(trainer, pl_module)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(trainer, pl_module, checkpoint)
        if getattr(self, "_raw_weights", None) is not None and "current_model_state" in checkpoint:
            checkpoint["current_model_state"] = self._raw_weights

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "update_count": self._update_count}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._update_count = int(state_dict.get("update_count", 0))
