"""The test's metrics, computed from the draws the estimator's test step yields."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info

from ..metrics import C2ST, NormalizedRMSE, PosteriorMetric


class PosteriorMetrics(pl.Callback):
    """Updates posterior metrics with every test batch's draws and logs them as ``test/<name>``.

    Also logs the sampler's cost: ``test/ms_per_1000_draws`` (wall time of ``sample`` over all test draws)
    and ``test/network_evaluations`` per draw. Metrics that need a reference posterior are skipped, with a
    note, on test sets without one. Every config names its metrics in ``trainer.callbacks``; the CLI adds
    this callback with the default metrics where a config has none::

        - class_path: cmpe_lightning.callbacks.PosteriorMetrics
          init_args:
            metrics:
              - class_path: cmpe_lightning.metrics.C2ST
              - class_path: cmpe_lightning.metrics.NormalizedRMSE

    Args:
        metrics: the metrics; ``None``: C2ST (where there is a reference) and the normalized RMSE.
        num_samples: posterior draws per test observation where the test set has no reference posterior
            (with one, as many as the reference has).
    """

    def __init__(self, metrics: list[PosteriorMetric] | None = None, num_samples: int = 1000):
        if num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples}.")
        self.num_samples = num_samples
        self.metrics = list(metrics) if metrics is not None else [C2ST(), NormalizedRMSE()]
        names = [metric.name for metric in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"Each posterior metric must be named once, got {names}.")
        self._skipped: set[str] = set()
        self._seconds = self._draws = self._evaluations = 0.0

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.num_test_samples = self.num_samples
        for metric in self.metrics:
            metric.reset()
            metric.to(pl_module.device)
        self._skipped = set()
        self._seconds = self._draws = self._evaluations = 0.0

    def on_test_batch_end(self, trainer, pl_module, outputs: dict[str, Any], batch, batch_idx, dataloader_idx=0) -> None:
        samples, theta, reference = outputs["samples"], outputs["theta"], outputs.get("reference")
        for metric in self.metrics:
            if metric.requires_reference and reference is None:
                self._skipped.add(metric.name)
            elif metric.requires_observations:
                metric.update(samples, theta, reference, x=outputs["x"])
            else:
                metric.update(samples, theta, reference)
        draws = samples.shape[0] * samples.shape[1]
        self._seconds += outputs["seconds"]
        self._draws += draws
        self._evaluations += outputs["network_evaluations"] * draws

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._skipped:
            rank_zero_info(f"No reference posterior: skipped {sorted(self._skipped)}.")
        for metric in self.metrics:
            if metric.name not in self._skipped:
                pl_module.log(f"test/{metric.name}", metric.compute(), sync_dist=False)
        totals = torch.tensor([self._seconds, self._draws, self._evaluations], dtype=torch.float64, device=pl_module.device)
        if trainer.world_size > 1:
            torch.distributed.all_reduce(totals)
        seconds, draws, evaluations = totals.tolist()
        if draws:
            pl_module.log("test/ms_per_1000_draws", 1e6 * seconds / draws)
            pl_module.log("test/network_evaluations", evaluations / draws)
