"""A trained amortized posterior for Python users: draws, densities, diagnostics, plots and files."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning
import torch
from torch import Tensor

from .estimators.base import PosteriorEstimator
from .metrics import SBC, TARP, CalibrationError, JointC2ST, PosteriorMetric, PosteriorRMSE
from .utils.errors import ExistingFileError, InputError, MissingFileError
from .utils.structure import Batch, as_float_tensors, batch_size, normalize_shape


class Posterior:
    """``q(theta | x)`` of a trained estimator, as :func:`cmpe_lightning.train` returns it or a checkpoint holds it.

    Observations are raw, as the simulator returns them; a single observation (without the batch dimension)
    gives draws ``(num_samples, *theta_shape)``, a batch gives ``(batch, num_samples, *theta_shape)``.
    Observations with NaN or inf are refused; observations far outside the training simulations draw a
    warning that names them.

    Args:
        estimator: the trained :class:`~cmpe_lightning.PosteriorEstimator`.
        test_pairs: ``(theta, x)`` held out from training, which :meth:`diagnose` uses by default.
        simulator: the simulator trained on, which :meth:`diagnose` simulates fresh pairs from otherwise.

    Example:
        >>> from cmpe_lightning import TwoMoons, train
        >>> posterior = train("cmpe", simulator=TwoMoons(), num_simulations=512, max_steps=20, progress=False)
        >>> posterior.sample(torch.zeros(2), num_samples=100, seed=0).shape
        torch.Size([100, 2])
        >>> sorted(posterior.diagnose(num_pairs=20, num_samples=50))
        ['calibration_error', 'joint_c2st', 'rmse', 'sbc_pvalue', 'tarp']
    """

    def __init__(self, estimator: PosteriorEstimator, test_pairs: tuple[Tensor, Batch] | None = None,
                 simulator: Any | None = None):
        self.estimator = estimator.eval()
        self.test_pairs, self.simulator = test_pairs, simulator

    # ------------------------------------------------------------------------------------------- files
    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Posterior:
        """The posterior of a checkpoint of :meth:`save` or of ``cmpe fit`` (``runs/.../last.ckpt``)."""
        if not Path(path).is_file():
            raise MissingFileError(f"No checkpoint {str(path)!r}.")
        return cls(PosteriorEstimator.load_from_checkpoint(path, map_location=map_location))

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Writes a checkpoint that :meth:`load` and the ``cmpe`` CLI (``--ckpt_path``) read; never overwrites
        an existing file unless ``overwrite``."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise ExistingFileError(f"{str(path)!r} exists; pass overwrite=True to replace it.")
        hparams = dict(self.estimator.hparams)
        if "_class_path" not in hparams:
            raise InputError(f"This {type(self.estimator).__name__} was not built by cmpe_lightning.train or the cmpe"
                             " CLI, so its checkpoint could not say how to rebuild it; use trainer.save_checkpoint.")
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": self.estimator.state_dict(), "hyper_parameters": hparams, "hparams_name": "kwargs",
                    "pytorch-lightning_version": lightning.__version__}, path)
        return path

    # ----------------------------------------------------------------------------------------- inference
    def sample(self, x: Any, num_samples: int = 1000, seed: int | None = None, **options) -> Tensor:
        """Posterior draws for raw observations ``x``; ``options`` are the sampler's (e.g. ``num_steps``)."""
        x, single = self._batch(x)
        generator = None if seed is None else torch.Generator(self.estimator.device).manual_seed(seed)
        samples = self.estimator.sample(x, num_samples, generator=generator, **options)
        return samples[0] if single else samples

    def log_prob(self, theta: Any, x: Any, **options) -> Tensor:
        """``log q(theta | x)`` for flows and flow matching (one ``theta`` per observation)."""
        x, single = self._batch(x)
        theta = torch.as_tensor(theta, dtype=torch.float32, device=self.estimator.device)
        log_prob = self.estimator.log_prob(theta[None] if single else theta, x, **options)
        return log_prob[0] if single else log_prob

    def diagnose(self, theta: Any = None, x: Any = None, num_samples: int = 500, num_pairs: int = 200,
                 metrics: Sequence[PosteriorMetric] | None = None, seed: int = 0, **options) -> dict[str, float]:
        """Reference-free diagnostics on pairs ``(theta, x)``: the held-out test pairs, or ``num_pairs`` fresh
        simulations, where none are given.

        Returns ``{name: value}``: ``calibration_error`` (max over parameters of the median |coverage − level|),
        ``sbc_pvalue`` (min over parameters), ``tarp``, ``rmse`` of the draws and ``joint_c2st`` (0.5: the
        draws cannot be told from the true parameters), or those of ``metrics``.
        """
        if theta is None or x is None:
            theta, x = self._diagnostic_pairs(num_pairs, seed)
        theta = torch.as_tensor(theta, dtype=torch.float32, device=self.estimator.device)
        x = as_float_tensors(x, self.estimator.device)
        samples = self.estimator.sample(x, num_samples,
                                        generator=torch.Generator(self.estimator.device).manual_seed(seed),
                                        check_range=False, **options)
        metrics = (list(metrics) if metrics is not None
                   else [CalibrationError(), SBC(), TARP(), PosteriorRMSE(), JointC2ST()])
        values = {}
        for metric in metrics:
            metric = metric.to(self.estimator.device)
            if metric.feed(samples, theta, None, x=x):
                values[metric.name] = float(metric.compute())
                metric.reset()
        return values

    def plot(self, x: Any, num_samples: int = 2000, theta: Any = None, names: Sequence[str] | None = None,
             path: str | os.PathLike | None = None, seed: int = 0):
        """A pair plot of the draws for one observation, with the true ``theta`` marked where given; saved to
        ``path`` where given. Returns the matplotlib figure."""
        from .plotting.pairs import pair_plot

        x, _ = self._batch(x)
        if batch_size(x) != 1:
            raise InputError(f"plot takes one observation, got {batch_size(x)}.")
        samples = self.sample(x, num_samples, seed=seed)[0]
        truth = None if theta is None else torch.as_tensor(theta, dtype=torch.float32)
        figure = pair_plot(samples, truth=truth, names=names)
        if path is not None:
            figure.savefig(path, dpi=120, bbox_inches="tight")
        return figure

    # ------------------------------------------------------------------------------------------- helpers
    def _batch(self, x: Any) -> tuple[Batch, bool]:
        """``x`` as float tensors with a batch dimension, and whether it was one observation without one."""
        x = as_float_tensors(x, self.estimator.device)
        spec = normalize_shape(self.estimator.x_shape)
        if isinstance(spec, Mapping) and isinstance(x, Mapping):
            single = all(name in x and tuple(x[name].shape) == tuple(shape) for name, shape in spec.items())
        else:
            single = isinstance(x, Tensor) and tuple(x.shape) == tuple(spec)
        if single:
            x = {name: value[None] for name, value in x.items()} if isinstance(x, Mapping) else x[None]
        return x, single

    def _diagnostic_pairs(self, num_pairs: int, seed: int) -> tuple[Tensor, Batch]:
        if self.test_pairs is not None:
            return self.test_pairs
        if self.simulator is not None:
            return self.simulator.sample_joint(num_pairs, torch.Generator().manual_seed(seed))
        raise InputError("diagnose needs pairs (theta, x) of held-out simulations: this posterior has no test pairs or"
                         " simulator of its own (it was loaded from a file).")

    def __repr__(self) -> str:
        est = self.estimator
        return f"Posterior({type(est).__name__}, theta_shape={est.theta_shape}, x_shape={est.x_shape})"
