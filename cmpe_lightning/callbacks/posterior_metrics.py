"""The test's (and optionally validation's) metrics, computed from the draws the estimator's steps yield."""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info

from ..metrics import C2ST, NormalizedRMSE, PosteriorMetric
from ..utils.checks import positive_int
from ..utils.errors import InputError
from ..utils.structure import finite_pairs, map_structure


class PosteriorMetrics(pl.Callback):
    """Updates posterior metrics with every test batch's draws and logs them as ``test/<name>``.

    Also logs the sampler's cost: ``test/ms_per_1000_draws`` (wall time of ``sample`` over all test draws)
    and ``test/network_evaluations`` per draw, and the sampler's ``test/num_steps`` where it has steps.
    Metrics that need a reference posterior are updated on the test observations that have one and skipped,
    with a note, on test sets without any. Every config names its metrics in ``trainer.callbacks``; the CLI
    adds this callback with the default metrics where a config has none::

        - class_path: cmpe_lightning.callbacks.PosteriorMetrics
          init_args:
            metrics:
              - class_path: cmpe_lightning.metrics.C2ST
              - class_path: cmpe_lightning.metrics.CalibrationError
            validation_interval: 10

    With ``validation_interval: n``, every n-th validation also draws ``validation_samples`` per pair for the
    first ``validation_pairs`` validation pairs (seeded, with the estimator's ``validate`` sampling settings)
    and logs the reference-free metrics as ``val/<name>``; the draws stay in :attr:`validation_draws` until the
    next validation (:class:`DiagnosticPlots` draws its figures from them). The time this costs is reported at
    the end of ``fit``. At test, the estimator draws ``num_samples`` per observation (its ``test`` settings).

    Args:
        metrics: the metrics; ``None``: C2ST (where there is a reference) and the normalized RMSE.
        num_samples: posterior draws per test observation where the test set has no reference posterior
            (with one, as many as the reference has).
        validation_interval: every how many validations the metrics are computed too (0: never).
        validation_pairs: validation pairs drawn for them (per process).
        validation_samples: draws per validation pair.
        validate_classifiers: also compute metrics that train a classifier (the joint C2ST) at those validations;
            off by default, as scikit-learn's classifier can cost more than the training between validations.
    """

    def __init__(self, metrics: list[PosteriorMetric] | None = None, num_samples: int = 1000,
                 validation_interval: int = 0, validation_pairs: int = 256, validation_samples: int = 100,
                 validate_classifiers: bool = False):
        num_samples = positive_int(num_samples, "num_samples")
        if validation_interval < 0 or validation_pairs < 1 or validation_samples < 2:
            raise InputError("Expected validation_interval >= 0, validation_pairs >= 1 and validation_samples >= 2, got"
                             f" {validation_interval}, {validation_pairs} and {validation_samples}.")
        self.num_samples, self.validation_interval = num_samples, validation_interval
        self.validation_pairs, self.validation_samples = validation_pairs, validation_samples
        self.metrics = list(metrics) if metrics is not None else [C2ST(), NormalizedRMSE()]
        names = [metric.name for metric in self.metrics]
        if len(set(names)) != len(names):
            raise InputError(f"Each posterior metric must be named once, got {names}.")
        self.validation_metrics = [metric.clone() for metric in self.metrics if not metric.requires_reference
                                   and (validate_classifiers or not metric.trains_classifier)]
        self._updated: set[str] = set()
        self._seconds = self._draws = self._evaluations = 0.0
        self._validations, self._validation_seconds, self._fit_start = 0, 0.0, 0.0
        self._drawing = False
        self.validation_draws: list[dict[str, Any]] = []  # this validation's {batch_idx, theta, x, samples}

    # ------------------------------------------------------------------------------------------ validation
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._validations, self._validation_seconds, self._fit_start = 0, 0.0, time.perf_counter()

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._drawing, self.validation_draws = False, []
        if trainer.sanity_checking or not self.validation_interval or not self.validation_metrics:
            return
        self._validations += 1
        if (self._validations - 1) % self.validation_interval == 0:
            self._started, self._drawing = time.perf_counter(), True
            for metric in self.validation_metrics:
                metric.reset()
                metric.to(pl_module.device)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not self._drawing:
            return
        theta, x, _ = finite_pairs(*batch)  # failed simulations are left out, as in the validation loss
        keep = min(len(theta), self.validation_pairs - batch_idx * len(theta))  # the first validation_pairs pairs
        if keep <= 0:
            return
        theta, x = theta[:keep], map_structure(lambda t: t[:keep], x)
        generator = torch.Generator(pl_module.device).manual_seed(batch_idx)
        samples = pl_module.draw_at("validate", x, self.validation_samples, generator).samples
        self.validation_draws.append({"batch_idx": batch_idx, "theta": theta, "x": x, "samples": samples})
        for metric in self.validation_metrics:
            metric.feed(samples, theta, x=x)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._drawing:
            return
        for metric in self.validation_metrics:
            pl_module.log(f"val/{metric.name}", metric.compute(), sync_dist=False)
        self._drawing = False
        self._validation_seconds += time.perf_counter() - self._started

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._validation_seconds:
            share = self._validation_seconds / max(time.perf_counter() - self._fit_start, 1e-9)
            rank_zero_info(f"Validation diagnostics took {self._validation_seconds:.1f} s, {100 * share:.1f} % of the"
                           f" fit (validation_interval {self.validation_interval}, {self.validation_pairs} pairs).")

    # ------------------------------------------------------------------------------------------------ test
    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.configure_sampling("test", num_samples=self.num_samples)
        for metric in self.metrics:
            metric.reset()
            metric.to(pl_module.device)
        self._updated: set[str] = set()
        self._seconds = self._draws = self._evaluations = 0.0

    def on_test_batch_end(self, trainer, pl_module, outputs: dict[str, Any], batch, batch_idx,
                          dataloader_idx=0) -> None:
        samples, theta, reference = outputs["samples"], outputs["theta"], outputs.get("reference")
        for metric in self.metrics:
            # batches without a reference posterior (calibration pairs) feed the metrics that need none
            if metric.feed(samples, theta, reference, x=outputs["x"]):
                self._updated.add(metric.name)
        draws = samples.shape[0] * samples.shape[1]
        self._seconds += outputs["seconds"]
        self._draws += draws
        self._evaluations += outputs["network_evaluations"] * draws

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        skipped = sorted(metric.name for metric in self.metrics if metric.name not in self._updated)
        if skipped:
            rank_zero_info(f"No reference posterior: skipped {skipped}.")
        for metric in self.metrics:
            if metric.name in self._updated:
                pl_module.log(f"test/{metric.name}", metric.compute(), sync_dist=False)
        totals = torch.tensor([self._seconds, self._draws, self._evaluations], dtype=torch.float64,
                              device=pl_module.device)
        if trainer.world_size > 1:
            torch.distributed.all_reduce(totals)
        seconds, draws, evaluations = totals.tolist()
        if draws:
            pl_module.log("test/ms_per_1000_draws", 1e6 * seconds / draws)
            pl_module.log("test/network_evaluations", evaluations / draws)
        num_steps = pl_module.sampling_steps(pl_module.sampling["test"].options)
        if num_steps is not None:  # the sampler's steps in effect (CMPE: K, chosen at fit or given)
            pl_module.log("test/num_steps", float(num_steps))
