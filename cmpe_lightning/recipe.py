"""The default recipe: how every estimator trains, is averaged, checkpointed and diagnosed unless a config says
otherwise.

One recipe serves every way in: a full config, a config with only ``data:``, no config at all, and
:func:`cmpe_lightning.train`. The CLI sets :data:`TRAINER_DEFAULTS` as the trainer's defaults and completes
the trainer's callbacks with :func:`default_callbacks`, so a config lists only what differs from them:

- **Length**: without ``trainer.max_steps`` (or ``max_epochs``), :class:`~cmpe_lightning.callbacks.TrainingLength`
  trains 300 epochs of a fixed budget, 5 000 to 100 000 optimizer steps (online simulation: 50 000), with
  about 25 validations. CMPE's final noise grid follows the length (``s1``: 50 up to about 15 600 steps, then
  one interval per 312 steps, at most 1 280; :func:`~cmpe_lightning.estimators.consistency_schedule.final_intervals`).
- **Early stop** (flows and FMPE): :class:`~cmpe_lightning.callbacks.BestWeights` stops a fixed-budget fit after
  10 validations without a lower seeded ``val/loss`` and ends it with the weights of the best one. CMPE trains to
  the end of its schedule: its consistency loss does not measure the posterior (on two moons it is lowest at a
  fifth of the paper's 60 000 steps), and its draws mid-training are worse than at the end (an early stop on the
  energy score of its validation draws kept, on a linear Gaussian, weights 10 % too narrow).
- **Weights**: :class:`~cmpe_lightning.callbacks.EMA`, an average of the weights (decay 0.999) whose decay
  warms up, so that no run length keeps the initialization; validation, test, predict and checkpoints use it.
- **Optimization**: gradient clipping at norm 1 (the estimators' own AdamW and cosine schedule).
- **Checkpoints**: ``last.ckpt`` every 1 000 steps and at the end (:class:`~cmpe_lightning.callbacks.LastCheckpoint`;
  ``--ckpt_path last`` resumes exactly).
- **Diagnostics**: :class:`~cmpe_lightning.callbacks.PosteriorMetrics` with C2ST and MMD where the task has a
  reference posterior, calibration error, SBC, TARP, RMSE and a joint classifier check (images: RMSE and
  coverage) and the energy score, every 5th validation during ``fit`` too (FMPE: every 10th, on fewer draws);
  diagnostic and pair plots for vector parameters.
- **K**: for CMPE, :class:`~cmpe_lightning.callbacks.SamplingStepSelection` chooses the number of sampling
  steps at the end of ``fit``.

A callback in the config replaces the default of its kind (for example a ``ModelCheckpoint`` that also keeps
the best checkpoint, or ``PosteriorMetrics`` with other metrics); ``enabled: false`` (K) or ``stop: false``
(early stop) turns a default off.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, WeightAveraging

from .callbacks import (
    EMA,
    BestWeights,
    DiagnosticPlots,
    PosteriorMetrics,
    PosteriorPlot,
    SamplingStepSelection,
    TrainingLength,
    TrainingSpeed,
)
from .callbacks.checkpoint_files import LastCheckpoint
from .estimators import ConsistencyPosteriorEstimator
from .metrics import (
    C2ST,
    SBC,
    TARP,
    CalibrationError,
    EnergyScore,
    IntervalCoverage,
    JointC2ST,
    NormalizedRMSE,
    PosteriorContraction,
    PosteriorRMSE,
    PosteriorZScore,
    ReferenceMMD,
)

TRAINER_DEFAULTS: dict[str, Any] = {
    "accelerator": "auto",
    "devices": 1,
    "precision": "32-true",
    "max_steps": -1,  # -1 with max_epochs -1: TrainingLength sets it from the budget
    "max_epochs": -1,
    "gradient_clip_val": 1.0,
    "log_every_n_steps": 50,
    "logger": {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
               "init_args": {"save_dir": "runs", "name": "default"}},
}
CHECKPOINT_EVERY = 1000  # optimizer steps: what a killed fit loses at most


def default_metrics(theta_shape: tuple[int, ...]) -> list:
    """The test's metrics: reference comparisons and reference-free diagnostics for vector parameters; error
    and coverage for images (and other parameter arrays), where the classifier-based checks do not suit."""
    if len(theta_shape) == 1:
        return [C2ST(), ReferenceMMD(), NormalizedRMSE(), PosteriorRMSE(), CalibrationError(), SBC(), TARP(),
                JointC2ST(), PosteriorZScore(), PosteriorContraction(), EnergyScore()]
    return [PosteriorRMSE(), PosteriorRMSE(of_mean=True), IntervalCoverage(level=0.9)]


def default_callbacks(model: Any, theta_shape: tuple[int, ...], checkpoints: bool = True,
                      averaging: float | None = 0.999, fit: bool = True) -> list[Callback]:
    """The recipe's callbacks for ``model`` (CMPE gets the choice of K) and parameters of ``theta_shape``;
    ``checkpoints``: write ``last.ckpt``; ``averaging``: the EMA's decay (``None``: none); ``fit``: with the
    callbacks that act only while training."""
    vector = len(theta_shape) == 1
    costly_draws = getattr(model, "validation_draws_are_costly", False)  # FMPE solves an ODE per draw
    consistency = isinstance(model, ConsistencyPosteriorEstimator)  # chooses K; trains to the end of its schedule
    pairs, draws = (64, 20) if costly_draws else (256, 100)
    metrics = PosteriorMetrics(default_metrics(tuple(theta_shape)), num_samples=200,
                               validation_interval=10 if costly_draws else 5,
                               validation_pairs=pairs, validation_samples=draws)
    callbacks: list[Callback] = [metrics, *([DiagnosticPlots(), PosteriorPlot()] if vector else [])]
    if fit:
        # no early stop for CMPE: its consistency loss does not measure the posterior, and its draws mid-training,
        # before the learning rate and the discretization curriculum have run their course, are worse than at the
        # end (docs/short_runs.md)
        callbacks = [*([EMA(decay=averaging)] if averaging is not None else []), TrainingSpeed(), TrainingLength(),
                     *([SamplingStepSelection()] if consistency else [BestWeights()]), *callbacks]
    if checkpoints:
        callbacks.append(LastCheckpoint(every_n_train_steps=CHECKPOINT_EVERY))
    return callbacks


# a configured callback of one of these kinds replaces the default of the same kind
KINDS = (WeightAveraging, ModelCheckpoint, EarlyStopping, TrainingSpeed, TrainingLength, SamplingStepSelection,
         PosteriorMetrics, DiagnosticPlots, PosteriorPlot)


def complete_callbacks(configured: list[Callback], defaults: list[Callback]) -> list[Callback]:
    """``configured`` followed by each default whose kind (:data:`KINDS`) the configured callbacks lack."""
    def kind(callback: Callback) -> type:
        return next((k for k in KINDS if isinstance(callback, k)), type(callback))

    present = {kind(callback) for callback in configured}
    return [*configured, *(callback for callback in defaults if kind(callback) not in present)]
