"""Tumor runs to evaluate posteriors on: the reference implementation's files and our bank's test split."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from cmpe_lightning.estimators.base import PosteriorEstimator
from cmpe_lightning.metrics import PosteriorMetric
from cmpe_lightning.tasks.tumor.simulator import OUTPUT_SHAPES


def reference_runs(path: str | Path) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The true log10 parameters and the raw outputs of a ``tumor2d`` file such as ``tumor2d_prior_draws.npz``."""
    data = np.load(path, allow_pickle=False)
    missing = [name for name in ("log10_theta", *OUTPUT_SHAPES) if name not in data.files]
    if missing:
        raise ValueError(f"{path} lacks {missing}; a tumor2d run file holds log10_theta and {list(OUTPUT_SHAPES)}.")
    x = {name: torch.as_tensor(data[name], dtype=torch.float32) for name in OUTPUT_SHAPES}
    return torch.as_tensor(data["log10_theta"], dtype=torch.float32), x


def own_test_runs(config: str, num: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The first ``num`` held-out test runs of the config's bank (the split ``cmpe test`` uses)."""
    from cmpe_lightning.cli import run_cli

    cli = run_cli(["--config", config, "--trainer.logger", "false"], run=False)
    test = cli.datamodule.dataset("test").tensors
    theta, x = test["theta"], test["x"]
    if len(theta) < num:
        raise ValueError(f"The config's test split has {len(theta)} runs; {num} were asked for.")
    return theta[:num], {name: part[:num] for name, part in x.items()}


def evaluate(estimator: PosteriorEstimator, theta: torch.Tensor, x, num_draws: int, metrics: list[PosteriorMetric],
             seed: int = 0, **options) -> tuple[torch.Tensor, float]:
    """Draws ``num_draws`` per observation, updates ``metrics`` with them; returns the draws and their seconds."""
    start = time.perf_counter()
    samples = estimator.sample(x, num_draws, torch.Generator().manual_seed(seed), check_range=False, **options)
    seconds = time.perf_counter() - start
    for metric in metrics:
        metric.update(samples, theta)
    return samples, seconds
