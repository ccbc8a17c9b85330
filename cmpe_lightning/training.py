"""Training from Python: :func:`train` builds the same Lightning objects as the ``cmpe`` CLI and fits them."""

from __future__ import annotations

import os
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.cli import instantiate_module
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn

from .compat import given_hyperparameters
from .data import ArrayDataModule, SimulationDataModule
from .estimators.base import PosteriorEstimator
from .posterior import Posterior
from .recipe import TRAINER_DEFAULTS, complete_callbacks, default_callbacks
from .simulators.base import Simulator
from .utils.errors import InputError

# short names -> (class path, fixed arguments)
ESTIMATORS = {
    "cmpe": ("cmpe_lightning.ConsistencyPosteriorEstimator", {}),
    "fmpe": ("cmpe_lightning.FlowMatchingPosteriorEstimator", {}),
    "nsf": ("cmpe_lightning.CouplingFlowPosteriorEstimator", {"transform": "spline"}),
    "acf": ("cmpe_lightning.CouplingFlowPosteriorEstimator", {"transform": "affine"}),
}


def train(
    estimator: str = "cmpe",
    simulator: Simulator | None = None,
    theta: Any = None,
    x: Any = None,
    *,
    num_simulations: int = 10_000,
    max_steps: int | None = None,
    batch_size: int = 64,
    num_validation: int | None = None,
    estimator_options: dict[str, Any] | None = None,
    trainer_options: dict[str, Any] | None = None,
    ema_decay: float | None = 0.999,
    folder: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Posterior:
    """Trains an amortized posterior on a simulator or on pairs simulated elsewhere, and returns it.

    Args:
        estimator: ``"cmpe"``, ``"fmpe"``, ``"nsf"`` or ``"acf"``, or the class path of an estimator.
        simulator: a :class:`~cmpe_lightning.Simulator` (e.g. a :class:`~cmpe_lightning.FunctionSimulator`) to
            draw ``num_simulations`` training pairs from; or give ``theta`` and ``x`` instead.
        theta, x: training pairs, ``(n, theta_dim)`` and ``(n, *x_shape)`` (or a dict of named parts); a tenth
            (at most 1024) validates, a twentieth (at most 200) is held out for :meth:`Posterior.diagnose`.
        num_simulations: the simulation budget with a ``simulator``.
        max_steps: optimizer steps (the learning rate and CMPE's discretization follow them); ``None``: the
            default recipe's, from the budget (:class:`~cmpe_lightning.callbacks.TrainingLength`), with an early
            stop on the validation loss.
        batch_size: pairs per step.
        num_validation: validation pairs (default: 1024 with a simulator, a tenth of ``theta`` otherwise).
        estimator_options: arguments of the estimator, as in a config's ``model.init_args`` (networks as
            ``{"class_path": ..., "init_args": {...}}``), e.g. ``{"num_steps": 10}`` or a ``summary_network``.
        trainer_options: arguments of ``lightning.pytorch.Trainer`` that replace the default recipe's
            (:mod:`cmpe_lightning.recipe`: 1 device, gradient clipping 1.0; no logger unless ``folder``), e.g.
            ``{"accelerator": "gpu", "precision": "bf16-mixed"}``; ``callbacks`` given there replace the recipe's
            of their kind.
        ema_decay: decay of the weight average used after training (warmed up, :class:`~cmpe_lightning.callbacks.EMA`;
            ``None``: the last weights).
        folder: where TensorBoard logs and checkpoints go (``folder/version_N``); ``None`` writes nothing.
        seed: seed of the data split, the simulations and the network's initialization.
        progress: show the progress bar.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> theta = rng.uniform(-1, 1, size=(2000, 2)); x = theta + 0.1 * rng.normal(size=(2000, 2))
        >>> posterior = train("nsf", theta=theta, x=x, max_steps=20, progress=False)
        >>> posterior.sample(np.zeros(2), num_samples=10).shape
        torch.Size([10, 2])
    """
    if (simulator is None) == (theta is None or x is None):
        raise InputError("train needs either a simulator or both theta and x.")
    pl.seed_everything(seed, verbose=False)
    if simulator is not None:
        data = SimulationDataModule(simulator, num_simulations=num_simulations, batch_size=batch_size,
                                    num_validation=num_validation or 1024, seed=seed)
    else:
        data = ArrayDataModule(theta, x, batch_size=batch_size, num_validation=num_validation, seed=seed)
    model = build_estimator(estimator, data.theta_shape, data.x_shape, estimator_options)
    options = dict(trainer_options or {})
    configured = options.pop("callbacks", [])
    defaults = default_callbacks(model, data.theta_shape, checkpoints=folder is not None, averaging=ema_decay)
    trainer_defaults = {key: value for key, value in TRAINER_DEFAULTS.items() if key != "logger"}
    trainer_defaults |= {
        "callbacks": complete_callbacks(configured if isinstance(configured, list) else [configured], defaults),
        "enable_progress_bar": progress, "enable_model_summary": False,
        "logger": TensorBoardLogger(folder, name="") if folder is not None else False,
        "enable_checkpointing": folder is not None,
    }
    if max_steps is not None:
        trainer_defaults["max_steps"] = max_steps
    trainer = pl.Trainer(**{**trainer_defaults, **options})
    trainer.fit(model, datamodule=data)
    test_pairs = None
    if simulator is None:
        test = data.dataset("test").tensors
        test_pairs = (test["theta"], test["x"])
    return Posterior(model, test_pairs=test_pairs, simulator=simulator)


def build_estimator(estimator: str, theta_shape: Any, x_shape: Any,
                    options: dict[str, Any] | None = None) -> PosteriorEstimator:
    """The estimator named ``estimator`` (a short name or a class path) for these shapes, built as the CLI builds it,
    so that its checkpoints record how to rebuild it."""
    class_path, fixed = ESTIMATORS.get(estimator.lower(), (estimator, {})) if isinstance(estimator, str) else (None, {})
    if class_path is None or "." not in class_path:
        raise InputError(f"estimator must be one of {sorted(ESTIMATORS)} or an estimator's class path,"
                         f" got {estimator!r}.")
    options = dict(options or {})
    if modules := sorted(k for k, v in options.items() if isinstance(v, nn.Module)):
        raise InputError(f"estimator_options {modules} must be given as {{'class_path': ..., 'init_args': {{...}}}},"
                         " not as built modules, so that the checkpoint can record how to rebuild them.")
    hparams = {"_class_path": class_path, "theta_shape": list(theta_shape), "x_shape": _plain(x_shape),
               **fixed, **options}
    with given_hyperparameters(hparams):
        return instantiate_module(PosteriorEstimator, hparams)


def _plain(shape: Any) -> Any:
    return {name: list(s) for name, s in shape.items()} if isinstance(shape, dict) else list(shape)
