"""Writes the posterior samples of ``cmpe predict`` to one file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from ..plotting.samples_file import MAX_PARAMETERS, plot_samples
from ..utils.checks import positive_int
from ..utils.errors import ExistingFileError, InputError
from ..utils.structure import map_structure
from .posterior_plot import prior_range


def concatenate(parts: list[Any]) -> Any:
    """Concatenates batches of tensors, or of dicts of tensors, on the CPU."""
    if isinstance(parts[0], dict):
        return {key: torch.cat([p[key].cpu() for p in parts]) for key in parts[0]}
    return torch.cat([p.cpu() for p in parts])


class PosteriorSampleWriter(BasePredictionWriter):
    """Collects the samples of every prediction batch and writes them, with their observations, to ``path``.

    ``.pt`` files hold a dict of tensors, ``.npz`` files the same arrays: ``observations`` ``(n, *x_shape)``
    and ``samples`` ``(n, num_samples, *theta_shape)``, in the order of the observation file (also under DDP).
    Observations made of named parts are a dict ``observations`` in ``.pt`` files and arrays
    ``observations.<name>`` in ``.npz`` files.

    Args:
        path: output file (``.pt`` or ``.npz``).
        num_samples: posterior samples drawn per observation.
        overwrite: replace an existing ``path``; otherwise an existing file stops the run before any work.
        plots: pair plots written next to ``path`` (``<stem>_pairs_<i>.png``) for the first ``plots``
            observations, on the prior's axes; 0 for none. ``cmpe-plot FILE`` draws them from a file later.
    """

    def __init__(self, path: str = "posterior_samples.pt", num_samples: int = 1000, overwrite: bool = False,
                 plots: int = 4):
        super().__init__(write_interval="epoch")
        if Path(path).suffix not in (".pt", ".npz"):
            raise InputError(f"Prediction output {path!r} must end in .pt or .npz.")
        num_samples = positive_int(num_samples, "num_samples")
        if plots < 0:
            raise InputError(f"plots must be zero or more, got {plots}.")
        self.path, self.num_samples, self.overwrite, self.plots = Path(path), num_samples, overwrite, plots

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.path.exists() and not self.overwrite:
            raise ExistingFileError(
                f"Prediction output {str(self.path)!r} exists; choose another --predictions.path or pass"
                " --predictions.overwrite true."
            )
        pl_module.configure_sampling("predict", num_samples=self.num_samples)

    def write_on_epoch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, predictions: Any, batch_indices: Any
    ) -> None:
        local = {key: concatenate([p[key] for p in predictions]) for key in ("index", "observations", "samples")}
        parts = [local]
        if trainer.world_size > 1:
            parts = [None] * trainer.world_size
            torch.distributed.all_gather_object(parts, local)
        if not trainer.is_global_zero:
            return
        merged = {key: concatenate([p[key] for p in parts]) for key in local}
        # DistributedSampler pads with repeated observations: keep the first copy of each index, in order
        order = torch.argsort(merged["index"], stable=True)
        index = merged["index"][order]
        keep = order[torch.cat([torch.tensor([True]), index[1:] != index[:-1]])]
        result = {key: map_structure(lambda t: t[keep], merged[key]) for key in ("observations", "samples")}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix == ".npz":
            observations = result["observations"]
            arrays = {f"observations.{name}": part for name, part in observations.items()} if isinstance(
                observations, dict) else {"observations": observations}
            np.savez(self.path, samples=result["samples"].numpy(), **{k: v.numpy() for k, v in arrays.items()})
        else:
            torch.save(result, self.path)
        print(f"Wrote {tuple(result['samples'].shape)} posterior samples to {self.path}")
        if self.plots and result["samples"][0, 0].numel() <= MAX_PARAMETERS:  # images have their own grids
            limits = prior_range(trainer.datamodule)
            plot_samples(result["samples"], result["observations"], self.path.with_suffix(""), self.plots, limits)
