"""The checkpoint files of a fit: ``last.ckpt`` at its very end, and changes for what is decided after they were
saved (the best weights, the choice of K)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from ..compat import checkpoint_due


class LastCheckpoint(ModelCheckpoint):
    """Lightning's :class:`ModelCheckpoint` that always ends a fit with ``last.ckpt`` of its final step.

    Lightning writes ``last.ckpt`` at the end of a fit only where no ``last.ckpt`` was written before, so a fit
    that ends between two ``every_n_train_steps`` saves (an early stop, a length from the budget) would leave
    the weights of the save before. Defaults: ``save_last``, no top-k files.
    """

    def __init__(self, every_n_train_steps: int = 1000, save_last: bool = True, save_top_k: int = 0, **kwargs: Any):
        super().__init__(every_n_train_steps=every_n_train_steps, save_last=save_last, save_top_k=save_top_k, **kwargs)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        # Lightning's decision, with the step count read first: most steps save nothing
        if not checkpoint_due(self, trainer.global_step):
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step and not trainer.fast_dev_run:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        super().on_train_end(trainer, pl_module)


def saved_checkpoints(trainer: pl.Trainer) -> list[Path]:
    """The checkpoint files this fit's :class:`ModelCheckpoint` callbacks have written."""
    paths = set()
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            paths.update(p for p in [callback.last_model_path, callback.best_model_path, *callback.best_k_models] if p)
    return sorted(Path(p) for p in paths if Path(p).is_file())


def rewrite_checkpoint(path: Path, update: Callable[[dict[str, Any]], Any]) -> None:
    """Applies ``update`` to the checkpoint at ``path`` and writes it back atomically (a kill leaves the old file)."""
    checkpoint: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)  # this fit's own file
    update(checkpoint)
    partial = path.with_name(path.name + ".partial")
    torch.save(checkpoint, partial)
    partial.replace(path)


def rewrite_saved_checkpoints(trainer: pl.Trainer, update: Callable[[dict[str, Any]], Any]) -> list[Path]:
    """:func:`rewrite_checkpoint` on every file of :func:`saved_checkpoints` (on the global-zero process), then
    waits for every process; returns the files."""
    paths = saved_checkpoints(trainer) if trainer.is_global_zero else []
    for path in paths:
        rewrite_checkpoint(path, update)
    trainer.strategy.barrier()
    return paths
