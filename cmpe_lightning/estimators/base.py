"""The shared base of every posterior estimator: data handling, standardization, training and evaluation.

Subclasses add only their objective (:meth:`PosteriorEstimator.standardized_loss`) and sampler
(:meth:`PosteriorEstimator.standardized_sample`), both in standardized parameter space and given the
summary network's context vector.
"""

from __future__ import annotations

import importlib
import math
import time
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from ..metrics import C2ST
from .standardization import StandardizationMode, Standardizer


class PosteriorEstimator(pl.LightningModule):
    """An amortized estimator of ``p(theta | x)``, trained on simulated pairs ``(theta, x)``.

    Args:
        theta_dim: number of parameters (linked from the DataModule by the CLI).
        x_shape: shape of one observation (linked from the DataModule by the CLI).
        summary_network: maps standardized ``x`` of shape ``(batch, *x_shape)`` to ``(batch, features)``;
            ``None`` flattens ``x``.
        learning_rate: peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps before the per-step cosine decay to zero.
        x_standardization: how the statistics of ``x`` are shared, see :class:`Standardizer`
            (``last_dim`` for sets of iid observations, ``scalar`` for images).

    Example (the contract every estimator honours)::

        est = PosteriorEstimator.load_from_checkpoint(path)
        samples = est.sample(x, num_samples=1000)  # (batch, 1000, theta_dim), original parameter space
    """

    def __init__(
        self,
        theta_dim: int,
        x_shape: Sequence[int],
        summary_network: nn.Module | None = None,
        learning_rate: float = 5e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        x_standardization: StandardizationMode = "elementwise",
    ):
        super().__init__()
        self.save_hyperparameters()
        if theta_dim < 1:
            raise ValueError(f"theta_dim must be a positive integer, got {theta_dim}.")
        self.theta_dim = int(theta_dim)
        self.x_shape = tuple(int(s) for s in x_shape)
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.summary_network = summary_network if summary_network is not None else nn.Flatten()
        self.summary_dim = self._infer_summary_dim()
        self.theta_standardizer = Standardizer((self.theta_dim,))
        self.x_standardizer = Standardizer(self.x_shape, x_standardization)
        self.test_c2st = C2ST()
        # inference-time options, set by the CLI (--sampler, --predictions.num_samples); not hyperparameters
        self.sampler_options: dict[str, Any] = {}
        self.num_predict_samples = 1000
        # network evaluations of the last call of the sampler (fixed by K for CMPE, adaptive for dopri5)
        self.num_evaluations = 0

    # ----------------------------------------------------------------------------------------------- method
    @abstractmethod
    def standardized_loss(self, theta: Tensor, context: Tensor) -> Tensor:
        """Per-sample training loss ``(batch,)`` of standardized ``theta`` given the summary ``context``."""

    def standardized_log_prob(self, theta: Tensor, context: Tensor) -> Tensor:
        """Log-density ``(batch,)`` of standardized ``theta``; only estimators with a tractable density have it."""
        raise NotImplementedError(f"{type(self).__name__} has no tractable density (log_prob).")

    @abstractmethod
    def standardized_sample(self, context: Tensor, generator: torch.Generator | None = None, **options) -> Tensor:
        """One standardized draw ``(batch, theta_dim)`` per row of ``context``."""

    # ------------------------------------------------------------------------------------------- public API
    def embed(self, x: Tensor) -> Tensor:
        """Standardizes ``x`` and applies the summary network: ``(batch, *x_shape) -> (batch, summary_dim)``."""
        return self.summary_network(self.x_standardizer(x)).float()

    def loss(self, theta: Tensor, x: Tensor) -> Tensor:
        """Per-sample loss ``(batch,)`` of parameters ``theta`` (original space) and observations ``x``."""
        self._check_pair(theta, x)
        return self.standardized_loss(self.theta_standardizer(theta.float()), self.embed(x))

    def log_prob(self, theta: Tensor, x: Tensor, **options) -> Tensor:
        """Log posterior density ``(batch,)`` of ``theta`` (original space) given ``x``, where the method has one.

        ``options`` go to the estimator's density computation (for FMPE: the ODE solver settings).
        """
        theta = torch.as_tensor(theta, dtype=torch.float32, device=self.device)
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        self._check_pair(theta, x)
        with evaluation_mode(self):
            log_prob = self.standardized_log_prob(self.theta_standardizer(theta), self.embed(x), **options)
        # change of variables through the standardization
        return log_prob - self.theta_standardizer.std.log().sum()

    @torch.no_grad()
    def sample(self, x: Tensor, num_samples: int, generator: torch.Generator | None = None, **options) -> Tensor:
        """Draws ``num_samples`` posterior samples per observation.

        Args:
            x: observations ``(batch, *x_shape)``.
            num_samples: samples per observation.
            generator: source of all noise (on any device); ``None`` uses the global generator.
            options: sampler options of the estimator (e.g. ``num_steps`` for the consistency model).

        Returns:
            ``(batch, num_samples, theta_dim)`` samples in the original parameter space.
        """
        if num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples}.")
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        self._check_x(x)
        with evaluation_mode(self):
            context = self.embed(x).repeat_interleave(num_samples, dim=0)
            theta = self.standardized_sample(context, generator, **options)
        return self.theta_standardizer.inverse(theta.float()).view(len(x), num_samples, self.theta_dim)

    def randn(self, shape: Sequence[int], generator: torch.Generator | None) -> Tensor:
        """Standard normal noise on this module's device, drawn from ``generator`` (on whatever device it is)."""
        device = generator.device if generator is not None else self.device
        return torch.randn(tuple(shape), generator=generator, device=device).to(self.device)

    # ----------------------------------------------------------------------------------------- Lightning
    def setup(self, stage: str) -> None:
        if stage == "fit" and not self.theta_standardizer.fitted:
            datamodule = getattr(self.trainer, "datamodule", None)
            if not hasattr(datamodule, "standardization_data"):
                raise RuntimeError(
                    f"{type(self).__name__} fits its standardization on training data from the DataModule's"
                    f" standardization_data(); {type(datamodule).__name__} has none."
                )
            theta, x = datamodule.standardization_data()
            self.theta_standardizer.fit(theta)
            self.x_standardizer.fit(x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self.loss(*batch).mean()
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch[0]))
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.log("val/loss", self.loss(*batch).mean(), prog_bar=True, batch_size=len(batch[0]), sync_dist=True)

    def test_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> dict[str, Tensor]:
        """With reference posterior samples ``(theta, x, reference)``: C2ST against them. Without (a bank's
        ``(theta, x)``): the posterior mean's error in units of the prior's standard deviation."""
        theta, x, *reference = batch
        num_samples = reference[0].shape[1] if reference else self.num_predict_samples
        synchronize(self.device)
        start = time.perf_counter()
        samples = self.sample(x, num_samples, **self.sampler_options)
        synchronize(self.device)
        seconds = time.perf_counter() - start
        if reference:
            self.test_c2st.update(samples, reference[0])
            self.log("test/c2st", self.test_c2st, batch_size=len(x))
        else:
            error = (samples.mean(dim=1) - theta) / self.theta_standardizer.std
            self.log("test/normalized_rmse", error.square().mean().sqrt(), batch_size=len(x))
        self.log("test/ms_per_1000_draws", 1e6 * seconds / samples[..., 0].numel(), batch_size=len(x))
        self.log("test/network_evaluations", float(self.num_evaluations), batch_size=len(x))
        return {"theta": theta, "samples": samples, **({"reference": reference[0]} if reference else {})}

    def predict_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> dict[str, Tensor]:
        index, x = batch
        samples = self.sample(x, self.num_predict_samples, **self.sampler_options)
        return {"index": index, "observations": x, "samples": samples}

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        total = self.trainer.estimated_stepping_batches
        if not math.isfinite(total):
            raise ValueError("The cosine schedule needs a finite number of steps: set trainer.max_steps.")
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(int(total), self.warmup_steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, *args, **kwargs):  # type: ignore[override]
        """Loads an estimator; called on the base class, it builds the class recorded in the checkpoint."""
        if cls is not PosteriorEstimator:
            return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        class_path = checkpoint.get("hyper_parameters", {}).get("_class_path")
        if class_path is None:
            raise ValueError(
                f"Checkpoint {str(checkpoint_path)!r} does not record its estimator class (it was not trained through"
                " the cmpe CLI): call load_from_checkpoint on the estimator class itself."
            )
        module_name, _, class_name = class_path.rpartition(".")
        target = getattr(importlib.import_module(module_name), class_name)
        if not (isinstance(target, type) and issubclass(target, PosteriorEstimator)):
            raise ValueError(f"Checkpoint {str(checkpoint_path)!r} records {class_path!r}, not a PosteriorEstimator.")
        return target.load_from_checkpoint(checkpoint_path, *args, **kwargs)

    # ---------------------------------------------------------------------------------------------- helpers
    def _check_x(self, x: Tensor) -> None:
        if x.ndim != len(self.x_shape) + 1 or tuple(x.shape[1:]) != self.x_shape:
            expected = ", ".join(map(str, ("batch", *self.x_shape)))
            raise ValueError(f"{type(self).__name__} expects x of shape ({expected}), got {tuple(x.shape)}.")

    def _check_pair(self, theta: Tensor, x: Tensor) -> None:
        self._check_x(x)
        if theta.shape != (len(x), self.theta_dim):
            raise ValueError(
                f"{type(self).__name__} expects theta of shape ({len(x)}, {self.theta_dim}) for {len(x)}"
                f" observations, got {tuple(theta.shape)}."
            )

    def _infer_summary_dim(self) -> int:
        with torch.no_grad(), evaluation_mode(self.summary_network):
            out = self.summary_network(torch.zeros(2, *self.x_shape))
        if out.ndim != 2:
            raise ValueError(
                f"The summary network must map (batch, *x_shape) to (batch, features), got {tuple(out.shape)}"
                f" for x_shape {self.x_shape}."
            )
        return out.shape[1]


def cosine_with_warmup(total_steps: int, warmup_steps: int = 0):
    """Learning-rate factor: linear warm-up to 1, then cosine decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor


@contextmanager
def evaluation_mode(module: nn.Module) -> Iterator[None]:
    """Runs the block with ``module`` in eval mode (no dropout), restoring its previous mode after."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def full_precision(device: torch.device):
    """A block in which autocast is off: flow transforms, ODE solvers and losses run in float32."""
    return torch.autocast(device_type=device.type, enabled=False)


def synchronize(device: torch.device) -> None:
    """Waits for queued GPU work, so that wall-clock timings measure it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
