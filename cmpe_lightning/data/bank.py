"""The DataModule of tasks whose costly simulations were run beforehand into a simulation bank (``cmpe-simulate``)."""

from __future__ import annotations

import os

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ..bank.reader import FolderRuns, Runs
from ..utils.checks import positive_int
from ..utils.errors import InputError
from ..utils.seeding import SPLIT, derived_generator
from ..utils.structure import Batch
from .observations import prediction_dataset
from .resume import ResumableTrainingData
from .tensors import TensorBatchDataset, batch_loader


class SimulationBankDataModule(ResumableTrainingData, pl.LightningDataModule):
    """Training, validation, test and prediction data from the runs stored in a simulation bank.

    The successful runs (``ok``) of the shards present are split into validation, test and training runs
    by one random order of all the bank's run numbers, drawn from ``seed``: validation takes the first
    ``num_validation`` runs present in that order, test the next ``num_test``, training the next
    ``num_simulations`` (all the rest by default). A split therefore depends only on ``seed`` and the runs
    present; smaller budgets are subsets of larger ones; and runs added later (shards that were still
    missing) never move a training run into validation or test.

    Observations are the runs' raw outputs, as the simulator returns them: the tensor of one output, or a
    dict of the named ``outputs``. Turning them into the summary network's input is the estimator's job
    (its ``preprocessing``, fitted on :meth:`training_data` and saved in its checkpoint), so that test,
    predict and ``load_from_checkpoint(path).sample(x)`` all take raw observations. Training and validation
    batches are ``(theta, x)``, test batches ``{theta, x}`` (a bank has no reference posterior), prediction
    batches ``{index, x}`` of the observations in the file ``observations`` (which needs only the bank's
    manifest). All runs are held in memory.

    Args:
        path: the bank's folder (``bank.json`` and ``shard_*.npz``).
        outputs: which outputs make an observation: one name (``x`` is that tensor), a list of names (``x``
            is a dict of them), or ``None``: all of them (the tensor ``x`` where that is the only output,
            as in the banks of the cheap simulators).
        batch_size: training and validation batch size (per process).
        num_validation: validation runs.
        num_test: test runs.
        num_simulations: training budget; ``None`` trains on all runs not in validation or test.
        observations: a file of raw observations for ``predict`` (see :func:`~cmpe_lightning.data.load_observations`).
        predict_batch_size: observations per test and prediction batch.
        num_workers: DataLoader worker processes for training.
        seed: the seed of the split.

    Example (a YAML config)::

        data:
          class_path: cmpe_lightning.data.SimulationBankDataModule
          init_args:
            path: banks/tumor
            outputs: [growth_curve, extra_cellular_matrix_profile, proliferation_profile]
    """

    def __init__(
        self,
        path: str | os.PathLike,
        outputs: str | list[str] | None = None,
        batch_size: int = 64,
        num_validation: int = 1024,
        num_test: int = 100,
        num_simulations: int | None = None,
        observations: str | None = None,
        predict_batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        sizes = {"batch_size": batch_size, "num_validation": num_validation, "num_test": num_test,
                 "num_simulations": num_simulations, "predict_batch_size": predict_batch_size}
        for name, value in sizes.items():
            if value is not None:
                positive_int(value, name)
        self.path, self.seed = str(path), seed
        self.batch_size, self.num_validation, self.num_test = batch_size, num_validation, num_test
        self.num_simulations, self.observations = num_simulations, observations
        self.predict_batch_size, self.num_workers = predict_batch_size, num_workers
        self.runs = self.open_runs()
        self.output_shapes = dict(self.runs.output_shapes)
        self.theta_dim = self.runs.theta_dim
        self.theta_shape = (self.theta_dim,)
        self.outputs = self._select(outputs)
        self.x_shape = self.output_shapes[self.outputs] if isinstance(self.outputs, str) else {
            name: self.output_shapes[name] for name in self.outputs}
        # the global run numbers of each split, once the bank is read
        self.run_indices: dict[str, np.ndarray] = {}
        self._datasets: dict[str, TensorBatchDataset] = {}

    def _select(self, outputs: str | list[str] | None) -> str | list[str]:
        """The outputs that make ``x``, checked against the manifest."""
        if outputs is None:
            return "x" if list(self.output_shapes) == ["x"] else list(self.output_shapes)
        names = [outputs] if isinstance(outputs, str) else list(outputs)
        unknown = [name for name in names if name not in self.output_shapes]
        if unknown or not names:
            raise InputError(
                f"Simulation bank {self.path!r} has the outputs {sorted(self.output_shapes)}; outputs {outputs!r}"
                " names others (or none)."
            )
        return outputs if isinstance(outputs, str) else names

    def open_runs(self) -> Runs:
        """Where the runs come from: the bank folder ``path`` (subclasses give other :class:`Runs`)."""
        return FolderRuns(self.path)

    def split(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Positions into ``index`` (global run numbers) of the validation, test and training runs."""
        order = torch.randperm(self.runs.num, generator=derived_generator(self.seed, SPLIT)).numpy()
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        by_rank = np.argsort(rank[index], kind="stable")
        held_out = self.num_validation + self.num_test
        needed = held_out + (self.num_simulations or 1)
        if len(by_rank) < needed:
            budget = "at least 1" if self.num_simulations is None else self.num_simulations
            raise InputError(
                f"Simulation bank {self.path!r} has {len(by_rank)} usable runs, too few for num_validation"
                f" {self.num_validation} + num_test {self.num_test} + {budget} training runs."
            )
        end = None if self.num_simulations is None else held_out + self.num_simulations
        return {"val": by_rank[: self.num_validation], "test": by_rank[self.num_validation : held_out],
                "train": by_rank[held_out:end]}

    # --------------------------------------------------------------------------------------------- sets
    def setup(self, stage: str) -> None:
        if stage in ("fit", "validate", "test") and "train" not in self._datasets:
            runs = self.runs.successful()
            for split, positions in self.split(runs["index"]).items():
                self.run_indices[split] = runs["index"][positions]
                theta = torch.from_numpy(runs["theta"][positions]).float()
                x = self.observations_of(runs, positions)
                self._datasets[split] = TensorBatchDataset({"theta": theta, "x": x} if split == "test" else (theta, x))
        if stage == "predict":
            self._datasets["predict"] = prediction_dataset(self.observations, self.x_shape)

    def observations_of(self, runs: dict[str, np.ndarray], positions: np.ndarray) -> Batch:
        """The raw observations ``x`` of the runs at ``positions``, as float32 tensors."""
        def part(name: str) -> Tensor:
            return torch.from_numpy(np.ascontiguousarray(runs[name][positions], dtype=np.float32))

        return part(self.outputs) if isinstance(self.outputs, str) else {name: part(name) for name in self.outputs}

    def dataset(self, split: str) -> TensorBatchDataset:
        """The runs of ``split``: pairs ``(theta, x)``, or ``{theta, x}`` for ``test``."""
        self.setup("fit")
        return self._datasets[split]

    @property
    def num_training_pairs(self) -> int:
        """Training runs (failed ones included), for the default recipe's training length."""
        return len(self.dataset("train"))

    def training_data(self) -> tuple[Tensor, Batch]:
        """The training pairs ``(theta, x)``, for the estimator's standardization and preprocessing."""
        return self.dataset("train").tensors

    # ------------------------------------------------------------------------------------------- loaders
    def train_dataloader(self) -> DataLoader:
        train = self.dataset("train")
        if len(train) < self.batch_size:
            raise InputError(f"The {len(train)} training runs make no batch of batch_size {self.batch_size}.")
        return self.resumable(batch_loader(train, self.batch_size, shuffle_seed=self.seed,
                                           num_workers=self.num_workers))

    def val_dataloader(self) -> DataLoader:
        return batch_loader(self.dataset("val"), self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return batch_loader(self.dataset("test"), self.predict_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return batch_loader(self._datasets["predict"], self.predict_batch_size)
