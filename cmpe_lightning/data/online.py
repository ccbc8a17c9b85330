"""Online simulation: an endless stream of fresh ``(theta, x)`` batches."""

from __future__ import annotations

import itertools
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

    Batch ``i`` of a worker in an epoch is simulated from a generator keyed by ``(seed, rank, worker, epoch, i)``,
    so the stream differs across DDP ranks, DataLoader workers and epochs, is reproducible from ``seed``, and a
    resumed fit (:meth:`resume_at`) skips the batches it had trained on without simulating them. ``epoch``
    (0 in the first) is advanced by :class:`EpochCountingLoader` in the main process before workers start.

    Args:
        simulator: the task.
        batch_size: pairs per yielded batch.
        seed: the user's seed.
    """

    def __init__(self, simulator: Simulator, batch_size: int, seed: int):
        self.simulator, self.batch_size, self.seed = simulator, batch_size, seed
        self.epoch = -1  # the loader advances it before each epoch
        self.rank = 0  # the DDP rank, set by the loader in the main process (workers may not know it)
        self.resume_point: tuple[int, int] | None = None

    def resume_at(self, epoch: int, batches: int) -> None:
        """The next epoch is ``epoch``, of which the first ``batches`` batches (over all workers) were trained on."""
        self.epoch, self.resume_point = epoch - 1, (epoch, batches)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        # evaluated when the loader (or a worker) asks for the iterator, so the loader may forget resume_point after
        worker = get_worker_info()
        worker_id, workers = (worker.id, worker.num_workers) if worker else (0, 1)
        start = 0
        if self.resume_point is not None and self.resume_point[0] == self.epoch:
            # workers take turns: of the first `batches` batches, this worker made ceil((batches - id) / workers)
            start = max(0, -(-(self.resume_point[1] - worker_id) // workers))
        key = (self.seed, TRAIN, self.rank, worker_id, self.epoch)
        return (self.simulator.sample_joint(self.batch_size, derived_generator(*key, i))
                for i in itertools.count(start))


class EpochCountingLoader(DataLoader):
    """A DataLoader over an :class:`OnlineSimulationDataset` that advances its epoch at every new iterator.

    Workers must not be persistent: each epoch's workers receive a fresh copy of the dataset with the new
    epoch (persistent workers would keep the first epoch's copy).
    """

    def __init__(self, dataset: OnlineSimulationDataset, num_workers: int = 0):
        super().__init__(dataset, batch_size=None, num_workers=num_workers, persistent_workers=False)

    def __iter__(self):
        self.dataset.epoch += 1
        self.dataset.rank = process_rank()
        iterator = super().__iter__()  # workers, if any, have their copy of the dataset now
        self.dataset.resume_point = None
        return iterator
