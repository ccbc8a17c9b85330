"""Online simulation: an endless stream of fresh ``(theta, x)`` batches."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..simulators.base import Simulator
from ..utils.seeding import TRAIN, derived_generator


def process_rank() -> int:
    """The global rank of this process in a distributed run (0 otherwise)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


class OnlineSimulationDataset(IterableDataset):
    """Yields batches of freshly simulated ``(theta, x)``, forever.

    Each iteration (one epoch) draws from a generator keyed by ``(seed, rank, worker, epoch)``, so the
    stream differs across DDP ranks, DataLoader workers and epochs, and is reproducible from ``seed``.
    ``epoch`` is advanced by :class:`EpochCountingLoader` in the main process before workers start.

    Args:
        simulator: the task.
        batch_size: pairs per yielded batch.
        seed: the user's seed.
    """

    def __init__(self, simulator: Simulator, batch_size: int, seed: int):
        self.simulator, self.batch_size, self.seed = simulator, batch_size, seed
        self.epoch = 0

    def stream_key(self) -> tuple[int, ...]:
        worker = get_worker_info()
        return (self.seed, TRAIN, process_rank(), worker.id if worker else 0, self.epoch)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        generator = derived_generator(*self.stream_key())
        while True:
            yield self.simulator.sample_joint(self.batch_size, generator)


class EpochCountingLoader(DataLoader):
    """A DataLoader over an :class:`OnlineSimulationDataset` that advances its epoch at every new iterator.

    Workers must not be persistent: each epoch's workers receive a fresh copy of the dataset with the new
    epoch (persistent workers would keep the first epoch's copy).
    """

    def __init__(self, dataset: OnlineSimulationDataset, num_workers: int = 0):
        super().__init__(dataset, batch_size=None, num_workers=num_workers, persistent_workers=False)

    def __iter__(self):
        self.dataset.epoch += 1
        return super().__iter__()
