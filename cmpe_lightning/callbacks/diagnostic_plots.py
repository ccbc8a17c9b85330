"""Pictures of calibration after ``test``: SBC's ECDF with its band, coverage, recovery, z-score against contraction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import matplotlib

from ..utils.checks import positive_int

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from lightning.pytorch.utilities import rank_zero_info  # noqa: E402
from torch import Tensor  # noqa: E402

from ..metrics.coverage import central_interval_hits  # noqa: E402
from ..metrics.sbc import ECDFUniformityTest, sbc_ranks  # noqa: E402
from .posterior_metrics import PosteriorMetrics  # noqa: E402

LEVELS = torch.linspace(0.005, 0.995, 20)


def summarize(samples: Tensor, theta: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
    """What the plots need of one batch, per observation and parameter (the draws themselves are not kept)."""
    flat = samples.detach().flatten(2).double()
    return {
        "theta": theta.detach().flatten(1).double().cpu(),
        "rank": sbc_ranks(samples, theta, generator).cpu(),
        "hits": central_interval_hits(samples, theta, LEVELS).cpu(),
        "median": flat.median(1).values.cpu(),
        "mean": flat.mean(1).cpu(),
        "std": flat.std(1).cpu(),
    }


def diagnostic_figures(parts: dict[str, Tensor], names: list[str]) -> dict[str, plt.Figure]:
    """The four figures from the stacked summaries of :func:`summarize`, for the parameters ``names``."""
    d = len(names)
    theta, rank = parts["theta"][:, :d].numpy(), parts["rank"][:, :d].numpy()
    figures = {}

    fig, axes = plt.subplots(1, d, figsize=(2.6 * d, 2.6), squeeze=False)
    test = ECDFUniformityTest(len(rank))
    points, lower, upper = test.band(0.05)
    for j, ax in enumerate(axes[0]):
        ecdf = (rank[:, j][:, None] <= points).mean(0)
        ax.fill_between(points, lower, upper, color="0.85", label="95 % band")
        ax.plot(points, ecdf - points, c="tab:blue")
        ax.set_title(f"{names[j]}: p = {test.pvalue(rank[:, j]):.3f}", fontsize=8)
        ax.set_xlabel("fractional rank")
    axes[0, 0].set_ylabel("ECDF − uniform")
    figures["sbc"] = fig

    fig, ax = plt.subplots(figsize=(3.2, 3.2))
    coverage = parts["hits"][:, :, :d].double().mean(0).numpy()
    for j in range(d):
        ax.plot(LEVELS.numpy(), coverage[:, j], marker=".", label=names[j])
    ax.plot([0, 1], [0, 1], c="0.5", ls="--")
    ax.set_xlabel("credible level")
    ax.set_ylabel("empirical coverage")
    ax.legend(fontsize=6)
    figures["coverage"] = fig

    fig, axes = plt.subplots(1, d, figsize=(2.6 * d, 2.6), squeeze=False)
    for j, ax in enumerate(axes[0]):
        low, high = theta[:, j].min(), theta[:, j].max()
        ax.errorbar(theta[:, j], parts["median"][:, j].numpy(), yerr=parts["std"][:, j].numpy(), fmt=".", ms=3,
                    alpha=0.5, elinewidth=0.5)
        ax.plot([low, high], [low, high], c="0.5", ls="--")
        ax.set_xlabel(f"true {names[j]}")
    axes[0, 0].set_ylabel("posterior median ± std")
    figures["recovery"] = fig

    fig, axes = plt.subplots(1, d, figsize=(2.6 * d, 2.6), squeeze=False)
    prior_var = np.maximum(theta.var(0), 1e-12)
    for j, ax in enumerate(axes[0]):
        std = np.maximum(parts["std"][:, j].numpy(), 1e-12)
        z = (parts["mean"][:, j].numpy() - theta[:, j]) / std
        ax.scatter(1 - std**2 / prior_var[j], z, s=3, alpha=0.5)
        ax.axhline(0, c="0.5", ls="--")
        ax.set_xlabel(f"contraction ({names[j]})")
    axes[0, 0].set_ylabel("z-score")
    figures["zscore"] = fig
    for fig in figures.values():
        fig.tight_layout()
    return figures


class DiagnosticPlots(pl.Callback):
    """After ``test``, writes ``diagnostics_{sbc,coverage,recovery,zscore}.png`` to the log folder and TensorBoard.

    Works with or without a reference posterior: it needs only the true parameters and the draws of each
    test observation. The paths are announced when written. During ``fit``, the same figures go to
    TensorBoard (``val/diagnostics_*``) at every validation that draws posterior samples
    (:class:`PosteriorMetrics` with ``validation_interval``).

    Args:
        max_parameters: parameters plotted (the first ones; images have hundreds).
        names: parameter names for the panels (default ``θ1, θ2, ...``).
        seed: seed of the SBC rank jitter.
    """

    def __init__(self, max_parameters: int = 8, names: list[str] | None = None, seed: int = 0):
        max_parameters = positive_int(max_parameters, "max_parameters")
        self.max_parameters, self.names, self.seed = max_parameters, names, seed
        self._parts: list[dict[str, Tensor]] = []

    def _collect(self, samples: Tensor, theta: Tensor, batch_idx: int) -> None:
        generator = torch.Generator().manual_seed(self.seed + batch_idx)
        self._parts.append(summarize(samples, theta, generator))

    def _figures(self) -> dict[str, plt.Figure]:
        parts = {key: torch.cat([p[key] for p in self._parts]) for key in self._parts[0]}
        self._parts = []
        if len(parts["theta"]) < 2:
            rank_zero_info("Diagnostic plots need at least 2 observations; none drawn.")
            return {}
        d = min(self.max_parameters, parts["theta"].shape[1])
        names = list(self.names or [f"θ{j + 1}" for j in range(d)])[:d]
        return diagnostic_figures(parts, names)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self._parts = []
        for callback in trainer.callbacks:  # the validation draws of PosteriorMetrics, where it made any
            for draws in getattr(callback, "validation_draws", []) if isinstance(callback, PosteriorMetrics) else []:
                self._collect(draws["samples"], draws["theta"], draws["batch_idx"])
        if not self._parts:
            return
        for kind, fig in self._figures().items():
            for logger in trainer.loggers:
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_figure(f"val/diagnostics_{kind}", fig, global_step=trainer.global_step)
            plt.close(fig)

    def on_test_start(self, trainer, pl_module) -> None:
        self._parts = []

    def on_test_batch_end(self, trainer, pl_module, outputs: dict[str, Any], batch, batch_idx,
                          dataloader_idx=0) -> None:
        self._collect(outputs["samples"], outputs["theta"], batch_idx)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._parts or not trainer.is_global_zero:
            return
        out_dir = Path(trainer.log_dir or ".")
        out_dir.mkdir(parents=True, exist_ok=True)
        for kind, fig in self._figures().items():
            path = out_dir / f"diagnostics_{kind}.png"
            fig.savefig(path, dpi=120)
            for logger in trainer.loggers:
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_figure(f"test/diagnostics_{kind}", fig, global_step=trainer.global_step)
            plt.close(fig)
            rank_zero_info(f"Wrote {path}")
