"""A picture of the test: approximate posterior samples over the reference posterior, on the prior's axes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from lightning.pytorch.utilities import rank_zero_info  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from torch import Tensor  # noqa: E402

from ..metrics.c2st import c2st  # noqa: E402
from ..plotting import describe_observation, prior_limits  # noqa: E402


class PosteriorPlot(pl.Callback):
    """After ``test``, draws the first parameter pair of the estimator's and the reference posterior samples.

    One panel per test observation (up to ``num_observations``), reference in grey, estimator in colour,
    the true parameter as a cross; each panel names its observation and the C2ST of its plotted draws, and
    all share the axes of the prior's range. The figure goes to ``<log_dir>/posterior_test.png`` and, with a
    TensorBoard logger, to TensorBoard's images.

    Args:
        num_observations: panels to draw.
        num_points: samples drawn per set and panel.
        dims: the two parameter indices to plot.
    """

    def __init__(self, num_observations: int = 4, num_points: int = 2000, dims: tuple[int, int] = (0, 1)):
        self.num_observations, self.num_points, self.dims = num_observations, num_points, dims
        self._panels: list[dict[str, Any]] = []

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._panels = []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if outputs is None or len(self._panels) >= self.num_observations:
            return
        references = outputs.get("reference")
        if references is None:  # banks and some simulators have no reference
            references = [None] * len(outputs["theta"])
        xs = outputs["x"]
        xs = ([{k: v[n].cpu() for k, v in xs.items()} for n in range(len(outputs["theta"]))] if isinstance(xs, dict)
              else xs.cpu())
        for theta, samples, reference, x in zip(outputs["theta"], outputs["samples"], references, xs):
            if len(self._panels) < self.num_observations:
                self._panels.append(
                    {"theta": theta.flatten().cpu(), "samples": samples[: self.num_points].flatten(1).cpu(), "x": x,
                     "reference": None if reference is None else reference[: self.num_points].flatten(1).cpu()}
                )

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._panels or not trainer.is_global_zero:
            return
        i, j = self.dims
        limits = prior_range(trainer.datamodule)
        fig, axes = plt.subplots(1, len(self._panels), figsize=(3.2 * len(self._panels), 3.5), squeeze=False)
        for ax, panel in zip(axes[0], self._panels):
            ref, approx = panel["reference"], panel["samples"]
            title = describe_observation(panel["x"], 2)
            if ref is not None:
                ax.scatter(ref[:, i], ref[:, j], s=1, c="0.6", alpha=0.4, rasterized=True)
                title += f"\nC2ST {c2st(ref, approx):.3f} (these draws)"
            ax.scatter(approx[:, i], approx[:, j], s=1, c="tab:blue", alpha=0.4, rasterized=True)
            ax.plot(panel["theta"][i], panel["theta"][j], "x", c="tab:red", ms=8, mew=2)
            if limits is not None:  # the prior's range, the same in every panel
                ax.set_xlim(*limits[i].tolist())
                ax.set_ylim(*limits[j].tolist())
            ax.set_title(title, fontsize=7)
            ax.set_xlabel(f"θ{i + 1}")
            ax.set_ylabel(f"θ{j + 1}")
        legend = [
            Line2D([], [], ls="", marker="o", c="0.6", label="reference posterior"),
            Line2D([], [], ls="", marker="o", c="tab:blue", label=type(pl_module).__name__),
            Line2D([], [], ls="", marker="x", c="tab:red", mew=2, label="true θ"),
        ]
        fig.legend(handles=legend, loc="upper center", ncol=3, fontsize=8)
        fig.tight_layout(rect=(0, 0, 1, 0.9))
        out_dir = Path(trainer.log_dir or ".")
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "posterior_test.png"
        fig.savefig(path, dpi=120)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure("test/posterior", fig, global_step=trainer.global_step)
        plt.close(fig)
        rank_zero_info(f"Wrote {path}")


def prior_range(datamodule: Any, num: int = 10_000) -> Tensor | None:
    """Axis limits ``(d, 2)`` from the prior of the DataModule's simulator, else from its training parameters."""
    try:
        if hasattr(datamodule, "simulator"):
            theta = datamodule.simulator.sample_prior(num, torch.Generator().manual_seed(0))
        else:
            theta = datamodule.training_data()[0][:num]
    except Exception:  # noqa: BLE001 - a plot without fixed axes is better than no plot
        return None
    return prior_limits(theta)
