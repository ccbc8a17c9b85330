"""Training throughput: optimizer steps and simulations per second."""

from __future__ import annotations

import time

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_info


class TrainingSpeed(pl.Callback):
    """Logs and reports optimizer steps per second and training pairs per second over the whole fit.

    Time is counted from one batch's end to the next one's end (data loading, forward, backward,
    optimizer, weight averaging), skipping the gaps that contain validation or a new epoch's setup.
    """

    def __init__(self) -> None:
        self.samples = 0
        self.seconds = 0.0
        self.steps = 0
        self._last_end: float | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._last_end = None

    def on_validation_start(self, trainer, pl_module) -> None:
        self._last_end = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._last_end is not None:
            self.seconds += now - self._last_end
            self.samples += len(batch[0])
            self.steps += 1
        self._last_end = now

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.steps:
            return
        steps_per_second = self.steps / self.seconds
        samples_per_second = self.samples * trainer.world_size / self.seconds
        rank_zero_info(
            f"Training speed: {steps_per_second:.1f} optimizer steps/s, {samples_per_second:.0f} simulations/s"
            f" ({self.steps} steps in {self.seconds:.1f} s of training-loop time)"
        )
        for logger in trainer.loggers:
            logger.log_metrics(
                {"speed/steps_per_second": steps_per_second, "speed/simulations_per_second": samples_per_second},
                step=trainer.global_step,
            )
