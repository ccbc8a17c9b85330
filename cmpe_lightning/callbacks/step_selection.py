"""Automatic choice of CMPE's number of sampling steps K at the end of ``fit``, without a reference posterior."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from ..metrics import CalibrationError, JointC2ST
from ..utils.structure import Batch, batch_size, finite_pairs, map_structure

Criterion = Literal["calibration_error", "joint_c2st", "combined"]
DEFAULT_CANDIDATES = (1, 2, 3, 5, 8, 10, 15, 20, 30)


def validation_pairs(trainer: pl.Trainer, limit: int, device: torch.device) -> tuple[Tensor, Batch]:
    """The first ``limit`` finite pairs ``(theta, x)`` of the validation set (the DataModule's, else the fit's), on
    ``device``; failed simulations (NaN, inf) are skipped."""
    datamodule = trainer.datamodule
    loader = datamodule.val_dataloader() if datamodule is not None else trainer.val_dataloaders
    if isinstance(loader, (list, tuple)):
        loader = loader[0] if loader else None
    if loader is None:
        raise ValueError("SamplingStepSelection chooses K on validation simulations; this fit has no validation data.")
    thetas, xs, total = [], [], 0
    for batch in loader:
        theta, x, _ = finite_pairs(*batch)
        thetas.append(theta)
        xs.append(x)
        total += len(theta)
        if total >= limit:
            break
    if total == 0:
        raise ValueError("The validation set is empty; SamplingStepSelection needs validation simulations to choose K.")
    theta = torch.cat(thetas)[:limit].to(device)
    x = xs[0] if len(xs) == 1 else (
        {k: torch.cat([part[k] for part in xs]) for k in xs[0]} if isinstance(xs[0], dict) else torch.cat(xs))
    return theta, map_structure(lambda t: t[:limit].to(device), x)


def score_num_steps(model, theta: Tensor, x: Batch, candidates: Sequence[int], num_samples: int,
                    seed: int = 0) -> dict[int, dict[str, float]]:
    """Reference-free scores of each K: ``calibration_error`` (the paper's, maximum over parameters),
    ``joint_c2st`` (on one draw per pair) and ``combined`` (their sum, with the classifier's excess over 0.5)."""
    scores = {}
    for k in candidates:
        generator = torch.Generator(model.device).manual_seed(seed)
        samples = model.sample(x, num_samples, generator, check_range=False, num_steps=k)
        calibration, joint = CalibrationError().to(model.device), JointC2ST(seed=seed + 1).to(model.device)
        calibration.update(samples, theta)
        joint.update(samples, theta, x=x)
        error, accuracy = float(calibration.compute()), float(joint.compute())
        scores[k] = {"calibration_error": error, "joint_c2st": accuracy, "combined": error + max(accuracy - 0.5, 0.0)}
    return scores


class SamplingStepSelection(pl.Callback):
    """Chooses CMPE's number of sampling steps K from ``candidates`` when ``fit`` ends, on validation simulations.

    CMPE's accuracy is U-shaped in K (method.md; the paper leaves K to the user). For every candidate,
    ``num_samples`` draws for each of ``num_observations`` validation pairs are scored by ``criterion`` (see
    :func:`score_num_steps`); the smallest score wins (ties go to fewer steps). The choice becomes the
    estimator's ``num_steps`` (so ``est.num_steps`` and ``est.sample(x, n)`` use it), is written into the
    checkpoints this fit saved (hyperparameter ``num_steps`` and ``checkpoint["num_steps_selection"]`` with
    every candidate's scores), and ``cmpe test`` logs it as ``test/num_steps``. An explicit choice still wins:
    ``--sampler '{num_steps: 5}'``, ``est.sample(x, n, num_steps=5)`` or
    ``load_from_checkpoint(path, num_steps=5)``. With ``enabled: false`` the config's ``num_steps`` stays.

    Args:
        candidates: the values of K to try.
        criterion: ``combined`` (default: it ranked K most like the reference C2ST in the benchmark,
            docs/results.md), ``calibration_error`` or ``joint_c2st``.
        num_observations: validation pairs scored (at most the validation set).
        num_samples: draws per pair for the calibration error.
        seed: seed of the draws and of the classifier.
        enabled: ``false`` keeps the config's ``num_steps``.

    Example (in a CMPE config's ``trainer.callbacks``)::

        - class_path: cmpe_lightning.callbacks.SamplingStepSelection
          init_args:
            criterion: combined
    """

    def __init__(self, candidates: Sequence[int] = DEFAULT_CANDIDATES, criterion: Criterion = "combined",
                 num_observations: int = 1024, num_samples: int = 100, seed: int = 0, enabled: bool = True):
        candidates = sorted({int(k) for k in candidates})
        if not candidates or candidates[0] < 1:
            raise ValueError(f"candidates must be positive step counts, got {candidates}.")
        if criterion not in ("calibration_error", "joint_c2st", "combined"):
            raise ValueError(f"criterion must be calibration_error, joint_c2st or combined, got {criterion!r}.")
        if num_observations < 2 or num_samples < 2:
            raise ValueError(f"num_observations and num_samples must be at least 2, got {num_observations}, {num_samples}.")
        self.candidates, self.criterion, self.seed, self.enabled = candidates, criterion, seed, enabled
        self.num_observations, self.num_samples = num_observations, num_samples
        self.scores: dict[int, dict[str, float]] = {}
        self.seconds = 0.0

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.enabled or trainer.interrupted:
            return
        if not hasattr(pl_module, "num_steps") or "num_steps" not in pl_module.hparams:
            raise TypeError(f"SamplingStepSelection chooses CMPE's num_steps; {type(pl_module).__name__} has none.")
        start = time.perf_counter()
        theta, x = validation_pairs(trainer, self.num_observations, pl_module.device)
        rank_zero_info(f"Choosing the number of sampling steps K from {self.candidates} by {self.criterion}"
                       f" on {batch_size(x)} validation simulations ...")
        self.scores = score_num_steps(pl_module, theta, x, self.candidates, self.num_samples, self.seed)
        self.seconds = time.perf_counter() - start
        best = min(self.candidates, key=lambda k: (self.scores[k][self.criterion], k))
        pl_module.num_steps = best
        pl_module.hparams["num_steps"] = best
        rows = "\n".join(f"  K = {k:>3}: " + ", ".join(f"{n} {v:.4f}" for n, v in s.items()) + (" <- chosen" if k == best else "")
                         for k, s in self.scores.items())
        rank_zero_info(f"Scores of K (lower is better; criterion {self.criterion}; {self.seconds:.0f} s):\n{rows}")
        if trainer.is_global_zero:
            for path in self._saved_checkpoints(trainer):
                record_choice(path, best, self.criterion, self.scores)
            if self._saved_checkpoints(trainer):
                rank_zero_info(f"Chose K = {best}; written into {', '.join(map(str, self._saved_checkpoints(trainer)))}.")
        trainer.strategy.barrier()

    @staticmethod
    def _saved_checkpoints(trainer: pl.Trainer) -> list[Path]:
        paths = set()
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint):
                paths.update(p for p in [callback.last_model_path, callback.best_model_path, *callback.best_k_models] if p)
        return sorted(Path(p) for p in paths if Path(p).is_file())


def record_choice(path: Path, num_steps: int, criterion: str, scores: dict[int, dict[str, float]]) -> None:
    """Writes the chosen K into the checkpoint at ``path`` (atomically; everything else stays as saved)."""
    checkpoint: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)  # this fit's own file
    checkpoint.setdefault("hyper_parameters", {})["num_steps"] = num_steps
    checkpoint["num_steps_selection"] = {"num_steps": num_steps, "criterion": criterion,
                                         "scores": {int(k): dict(v) for k, v in scores.items()}}
    partial = path.with_name(path.name + ".partial")
    torch.save(checkpoint, partial)
    partial.replace(path)
