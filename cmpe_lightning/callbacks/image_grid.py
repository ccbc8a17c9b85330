"""Pictures of image posteriors: truth, observation, posterior mean and spread, and a few draws per row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import matplotlib

from ..utils.checks import positive_int
from ..utils.errors import InputError

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from lightning.pytorch.utilities import rank_zero_info  # noqa: E402
from torch import Tensor  # noqa: E402

from .prediction_writer import PosteriorSampleWriter  # noqa: E402


def image_grid(samples: Tensor, observations: Tensor, truth: Tensor | None = None, num_draws_shown: int = 3,
               value_range: tuple[float, float] = (-1.0, 1.0)) -> plt.Figure:
    """One row per observation: [truth |] observation | posterior mean | posterior std | the first draws.

    Args:
        samples: ``(rows, n, channels, height, width)`` draws (one channel shown).
        observations: ``(rows, channels, height, width)``.
        truth: ``(rows, channels, height, width)`` true parameters, or ``None`` (predict).
        num_draws_shown: draws shown after the mean and standard deviation.
        value_range: the colour range of parameters (truth, mean, draws).
    """
    samples, observations = samples[:, :, 0].float().cpu(), observations[:, 0].float().cpu()
    columns = (["truth"] if truth is not None else []) + ["observation", "posterior mean", "posterior std"]
    columns += [f"draw {k + 1}" for k in range(min(num_draws_shown, samples.shape[1]))]
    rows = len(samples)
    fig, axes = plt.subplots(rows, len(columns), figsize=(1.3 * len(columns), 1.3 * rows + 0.4), squeeze=False)
    low, high = value_range
    for r in range(rows):
        panels = ([(truth[r, 0].float().cpu(), "gray", low, high)] if truth is not None else []) + [
            (observations[r], "gray", None, None),
            (samples[r].mean(0), "gray", low, high),
            (samples[r].std(0) if samples.shape[1] > 1 else torch.zeros_like(samples[r, 0]), "magma", 0.0, None),
        ]
        panels += [(samples[r, k], "gray", low, high) for k in range(min(num_draws_shown, samples.shape[1]))]
        for c, (image, cmap, vmin, vmax) in enumerate(panels):
            axes[r, c].imshow(image.numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
            axes[r, c].set_axis_off()
            if r == 0:
                axes[r, c].set_title(columns[c], fontsize=8)
    fig.tight_layout()
    return fig


class ImageGrid(pl.Callback):
    """Grids of image posteriors (see :func:`image_grid`) at validation, after test and after predict.

    - validation: every ``every_n_validations``-th validation, ``num_images`` validation observations with
      ``num_draws`` draws each go to TensorBoard (``val/posterior_images``);
    - test: the first ``num_images`` test observations go to ``<log_dir>/posterior_images_test.png`` and
      TensorBoard;
    - predict: the first ``num_images`` observations go to a PNG next to the samples file
      (``<samples>_images.png``).

    Args:
        num_images: rows of each grid.
        num_draws: draws per observation at validation (for the mean and standard deviation shown).
        num_draws_shown: single draws shown per row.
        every_n_validations: validation grids only at every n-th validation (0: never).
        value_range: the colour range of parameters.
    """

    def __init__(self, num_images: int = 6, num_draws: int = 16, num_draws_shown: int = 3, every_n_validations: int = 1,
                 value_range: tuple[float, float] = (-1.0, 1.0)):
        num_images, num_draws = positive_int(num_images, "num_images"), positive_int(num_draws, "num_draws")
        if every_n_validations < 0:
            raise InputError(f"every_n_validations must be 0 or more, got {every_n_validations}.")
        self.num_images, self.num_draws, self.num_draws_shown = num_images, num_draws, num_draws_shown
        self.every_n_validations, self.value_range = every_n_validations, tuple(value_range)
        self._rows: dict[str, list[Tensor]] = {}
        self._validations = 0

    def _collect(self, **parts: Tensor | None) -> None:
        if self._rows and len(self._rows["samples"]) >= self.num_images:
            return
        for name, part in parts.items():
            if part is not None:
                self._rows.setdefault(name, []).extend(part[: self.num_images].detach().cpu())

    def _figure(self) -> plt.Figure:
        stacked = {name: torch.stack(rows[: self.num_images]) for name, rows in self._rows.items()}
        return image_grid(stacked["samples"], stacked["x"], stacked.get("theta"), self.num_draws_shown,
                          self.value_range)

    def _publish(self, trainer: pl.Trainer, fig: plt.Figure, tag: str, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=120)
            rank_zero_info(f"Wrote posterior images to {path}")
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure(tag, fig, global_step=trainer.global_step)
        plt.close(fig)

    # ------------------------------------------------------------------------------------------ validation
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not self.every_n_validations:
            return
        self._validations += 1
        if self._validations % self.every_n_validations:
            return
        theta, x = next(iter(trainer.datamodule.val_dataloader()))
        theta, x = theta[: self.num_images], x[: self.num_images].to(pl_module.device)
        generator = torch.Generator().manual_seed(0)  # the same noise at every validation
        samples = pl_module.draw_at("validate", x, self.num_draws, generator).samples
        self._rows = {}
        self._collect(samples=samples, x=x, theta=theta)
        self._publish(trainer, self._figure(), "val/posterior_images", None)

    # ------------------------------------------------------------------------------------- test, predict
    def on_test_start(self, trainer, pl_module) -> None:
        self._rows = {}

    def on_test_batch_end(self, trainer, pl_module, outputs: dict[str, Any], batch, batch_idx,
                          dataloader_idx=0) -> None:
        self._collect(samples=outputs["samples"], x=outputs["x"], theta=outputs["theta"])

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._rows and trainer.is_global_zero:
            self._publish(trainer, self._figure(), "test/posterior_images",
                          Path(trainer.log_dir or ".") / "posterior_images_test.png")

    def on_predict_start(self, trainer, pl_module) -> None:
        self._rows = {}

    def on_predict_batch_end(self, trainer, pl_module, outputs: dict[str, Any], batch, batch_idx,
                             dataloader_idx=0) -> None:
        self._collect(samples=outputs["samples"], x=outputs["observations"])

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._rows or not trainer.is_global_zero:
            return
        writers = [c for c in trainer.callbacks if isinstance(c, PosteriorSampleWriter)]
        path = writers[0].path if writers else Path(trainer.log_dir or ".") / "posterior_samples.pt"
        self._publish(trainer, self._figure(), "predict/posterior_images", path.with_name(f"{path.stem}_images.png"))
