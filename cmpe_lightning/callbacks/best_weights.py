"""An early stop on the seeded validation loss that ends the fit with the weights of its best validation."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping, WeightAveraging
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from .checkpoint_files import rewrite_saved_checkpoints


def validated_weights(trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Tensor]:
    """The weights the last validation ran with: the weight average's where the fit averages, else the module's."""
    average = next((c._average_model for c in trainer.callbacks if isinstance(c, WeightAveraging)), None)
    module = average.module if average is not None else pl_module
    return {name: value.detach().to("cpu", copy=True) for name, value in module.state_dict().items()}


class BestWeights(EarlyStopping):
    """Stops a fit on a fixed simulation budget when ``val/loss`` has not improved for ``patience`` validations,
    and then ends it with the weights of the best validation.

    The validation loss is seeded and computed on a fixed set (the same noise at every validation), so its
    values are comparable across the fit; only validations that computed the monitored value count (a metric
    of the validation diagnostics may be monitored too). The default recipe uses it for the flows and FMPE,
    not for CMPE, whose consistency loss does not measure the posterior.

    When the fit stops early, the weights of its best validation (the weight average's, under
    :class:`~cmpe_lightning.callbacks.EMA`) become the estimator's and the ``state_dict`` of the checkpoints
    this fit saved. A fit that runs its course keeps its final weights, trained to the end of the learning-rate
    schedule. Online simulation (endless fresh data) is never stopped early. The best weights are kept in the
    checkpoint, so a resumed fit ends as an uninterrupted one.

    Args:
        monitor: the validation metric (lower is better).
        patience: validations without improvement before the fit stops.
        min_delta: the smallest decrease that counts as an improvement.
        stop: ``false`` only keeps the best weights, without stopping early.
    """

    def __init__(self, monitor: str = "val/loss", patience: int = 10, min_delta: float = 0.0, stop: bool = True):
        super().__init__(monitor=monitor, patience=patience, min_delta=min_delta, mode="min", strict=False,
                         check_finite=False)
        self.stop = stop
        self.best_weights: dict[str, Tensor] | None = None
        self.best_step: int | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self.active = getattr(trainer.datamodule, "num_training_pairs", 0) is not None  # None: online simulation
        self._last_value = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        # a metric not logged at this validation keeps its last tensor in callback_metrics: judge fresh values only
        if not self.active or trainer.sanity_checking or value is None or value is self._last_value:
            return
        self._last_value = value
        stop_before = trainer.should_stop
        self._run_early_stopping_check(trainer)
        if not self.stop:
            trainer.should_stop = stop_before
        if self.wait_count == 0:  # this validation is the best so far
            self.best_weights, self.best_step = validated_weights(trainer, pl_module), trainer.global_step

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pass  # checked after every validation only

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.active or self.best_weights is None or self.wait_count < self.patience:
            return  # not stopped early: the fit ran its course, and its final (annealed) weights stay
        pl_module.load_state_dict(self.best_weights)
        for callback in trainer.callbacks:  # the average is what checkpoints save and the fit ends with
            if isinstance(callback, WeightAveraging) and callback._average_model is not None:
                callback._average_model.module.load_state_dict(self.best_weights)
        state = {name: value.clone() for name, value in self.best_weights.items()}
        written = rewrite_saved_checkpoints(trainer, lambda checkpoint: checkpoint.update(state_dict=state))
        rank_zero_info(f"Kept the weights of step {self.best_step}, the best {self.monitor}"
                       f" ({float(self.best_score):.4f}; {self.wait_count} later validations were worse)"
                       + (f"; written into {', '.join(map(str, written))}." if written else "."))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best_weights": self.best_weights, "best_step": self.best_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.best_weights, self.best_step = state_dict.get("best_weights"), state_dict.get("best_step")
