"""The DataModule of tasks with a simulator that runs inside the training process."""

from __future__ import annotations

from typing import Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torch.utils.data import DataLoader

from ..simulators.base import Simulator
from ..utils.checks import positive_int
from ..utils.errors import InputError
from ..utils.seeding import CALIBRATION, REFERENCE, STANDARDIZATION, TEST, TRAIN, VALIDATION, derived_generator
from ..utils.structure import Batch, normalize_shape
from .observations import prediction_dataset
from .online import EpochCountingLoader, OnlineSimulationDataset
from .reference_cache import cache_key, cached, default_cache_folder
from .resume import ResumableTrainingData
from .tensors import BatchListDataset, TensorBatchDataset, batch_loader


class SimulationDataModule(ResumableTrainingData, pl.LightningDataModule):
    """Training, validation, test and prediction data of a :class:`~cmpe_lightning.simulators.Simulator`.

    Training data comes in one of two modes:

    - ``fixed``: ``num_simulations`` pairs drawn once from ``seed`` (the same on every rank) and reshuffled
      every epoch (from ``seed`` and the epoch); the paper's budgets are 512 to 8192, sbibm's 10 000.
    - ``online``: an endless stream of fresh pairs (:class:`OnlineSimulationDataset`), distinct across ranks,
      workers and epochs. The stream never ends: bound it with ``trainer.max_steps`` and validate with an
      int ``trainer.val_check_interval`` and ``trainer.check_val_every_n_epoch: null`` (or cut it into
      epochs with an int ``trainer.limit_train_batches``).

    Validation and test sets are simulated from ``seed`` alone, never from the rank. Test batches are dicts
    ``{theta, x, reference}`` (one observation each) with ``num_reference_samples`` draws of the simulator's
    reference posterior, or ``{theta, x}`` for a simulator without one, followed by
    ``num_calibration_observations`` further pairs ``{theta, x}`` in batches of ``batch_size``, on which the
    reference-free diagnostics (calibration, SBC, TARP, joint C2ST) gain their power. Prediction reads the
    observations in the file ``observations``, in batches ``{index, x}``.

    Args:
        simulator: the task.
        mode: ``fixed`` (a simulation budget) or ``online`` (fresh simulations every step).
        num_simulations: training budget of the ``fixed`` mode.
        batch_size: training and validation batch size (per process).
        num_validation: validation pairs.
        num_test_observations: test observations, each compared with its reference posterior.
        num_reference_samples: reference posterior draws per test observation (and approximate draws to
            compare them with).
        num_calibration_observations: test pairs without a reference posterior, for the reference-free
            diagnostics (drawn ``PosteriorMetrics.num_samples`` times each).
        observations: a ``.pt``, ``.npy`` or ``.csv`` file of observations ``(n, *x_shape)`` for ``predict``.
        predict_batch_size: observations per prediction batch.
        num_workers: DataLoader worker processes for training.
        seed: the seed of every data stream.
        reference_cache: where the test set and its reference samples are kept once computed (they depend
            only on the simulator, its arguments, the seed and the sizes): ``true`` for
            ``~/.cache/cmpe_lightning/references`` (moved by the environment variable ``CMPE_LIGHTNING_CACHE``,
            then ``$CMPE_LIGHTNING_CACHE/references``, or by ``XDG_CACHE_HOME``), a folder, or ``false`` for no cache.
    """

    def __init__(
        self,
        simulator: Simulator,
        mode: Literal["fixed", "online"] = "fixed",
        num_simulations: int = 10_000,
        batch_size: int = 64,
        num_validation: int = 1024,
        num_test_observations: int = 10,
        num_reference_samples: int = 10_000,
        num_calibration_observations: int = 0,
        observations: str | None = None,
        predict_batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        reference_cache: bool | str = True,
    ):
        super().__init__()
        if mode not in ("fixed", "online"):
            raise InputError(f"mode must be 'fixed' or 'online', got {mode!r}.")
        for name, value in [("num_simulations", num_simulations), ("batch_size", batch_size),
                            ("num_validation", num_validation),
                            ("num_test_observations", num_test_observations),
                            ("num_reference_samples", num_reference_samples),
                            ("predict_batch_size", predict_batch_size)]:
            positive_int(value, name)
        if num_calibration_observations < 0:
            raise InputError(f"num_calibration_observations must be zero or more, got {num_calibration_observations}.")
        self.simulator, self.mode, self.seed = simulator, mode, seed
        self.num_simulations, self.batch_size = num_simulations, batch_size
        self.num_validation, self.num_test_observations = num_validation, num_test_observations
        self.num_reference_samples, self.observations = num_reference_samples, observations
        self.num_calibration_observations = num_calibration_observations
        self.predict_batch_size, self.num_workers = predict_batch_size, num_workers
        self.reference_cache = reference_cache
        self.theta_shape = normalize_shape(simulator.theta_shape)
        self.x_shape = normalize_shape(simulator.x_shape)
        self.online_dataset = OnlineSimulationDataset(simulator, batch_size, seed) if mode == "online" else None
        self._datasets: dict[str, TensorBatchDataset] = {}

    # ---------------------------------------------------------------------------------------------- sets
    def _simulate(self, purpose: int, num: int) -> tuple[Tensor, Batch]:
        return self.simulator.sample_joint(num, derived_generator(self.seed, purpose))

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.mode == "fixed" and "train" not in self._datasets:
            self._datasets["train"] = TensorBatchDataset(self._simulate(TRAIN, self.num_simulations))
        if stage in ("fit", "validate") and "val" not in self._datasets:
            self._datasets["val"] = TensorBatchDataset(self._simulate(VALIDATION, self.num_validation))
        if stage == "test" and "test" not in self._datasets:
            folder = None if not self.reference_cache else (
                default_cache_folder() if self.reference_cache is True else self.reference_cache)
            key = cache_key(self.simulator, seed=self.seed, num_test_observations=self.num_test_observations,
                            num_reference_samples=self.num_reference_samples)
            self._datasets["test"] = TensorBatchDataset(cached(folder, key, self._test_set))
            if self.num_calibration_observations:
                theta, x = self._simulate(CALIBRATION, self.num_calibration_observations)
                self._datasets["calibration"] = TensorBatchDataset({"theta": theta, "x": x})
        if stage == "predict":
            self._datasets["predict"] = prediction_dataset(self.observations, self.x_shape)

    def _test_set(self) -> dict[str, Tensor]:
        theta, x = self.simulator.test_observations(self.num_test_observations, derived_generator(self.seed, TEST))
        test = {"theta": theta, "x": x}
        try:
            test["reference"] = self.simulator.sample_reference_posterior(
                x, self.num_reference_samples, derived_generator(self.seed, REFERENCE)
            )
        except NotImplementedError:
            rank_zero_info(f"{type(self.simulator).__name__} has no reference posterior: the test reports no C2ST.")
        return test

    @property
    def theta_dim(self) -> int:
        return self.simulator.theta_dim

    @property
    def num_training_pairs(self) -> int | None:
        """The simulation budget, or ``None`` for online simulation (the default recipe's training length)."""
        return self.num_simulations if self.mode == "fixed" else None

    def training_data(self, num: int = 10_000) -> tuple[Tensor, Batch]:
        """Training pairs to fit the estimator's standardization and preprocessing on: the whole budget, or
        ``num`` fresh online simulations."""
        if self.mode == "fixed":
            self.setup("fit")
            return self._datasets["train"].tensors
        return self._simulate(STANDARDIZATION, num)

    def fit_simulations(self) -> tuple[Tensor, Batch]:
        """Every simulation a fixed-budget fit sees, its training pairs then its validation pairs (the benchmark gives
        a peer that splits off its own validation pairs the same simulations)."""
        if self.mode != "fixed":
            raise InputError("fit_simulations() needs mode='fixed': an online fit sees new simulations at every step.")
        self.setup("fit")
        (theta, x), (val_theta, val_x) = self._datasets["train"].tensors, self._datasets["val"].tensors
        if isinstance(x, dict):
            return torch.cat([theta, val_theta]), {name: torch.cat([x[name], val_x[name]]) for name in x}
        return torch.cat([theta, val_theta]), torch.cat([x, val_x])

    def test_set(self) -> dict[str, Tensor]:
        """The test observations, their parameters and (where the simulator has one) reference posterior samples."""
        self.setup("test")
        return self._datasets["test"].tensors

    # ------------------------------------------------------------------------------------------- loaders
    def train_dataloader(self) -> DataLoader:
        if self.online_dataset is not None:
            return self.resumable(EpochCountingLoader(self.online_dataset, num_workers=self.num_workers))
        return self.resumable(batch_loader(self._datasets["train"], self.batch_size, shuffle_seed=self.seed,
                                           num_workers=self.num_workers))

    def val_dataloader(self) -> DataLoader:
        return batch_loader(self._datasets["val"], self.batch_size)

    def test_dataloader(self) -> DataLoader:
        parts = [(self._datasets["test"], 1)]
        if "calibration" in self._datasets:
            parts.append((self._datasets["calibration"], self.batch_size))
        return DataLoader(BatchListDataset(parts), batch_size=None)

    def predict_dataloader(self) -> DataLoader:
        return batch_loader(self._datasets["predict"], self.predict_batch_size)
