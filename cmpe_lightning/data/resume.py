"""Training data that resumes where it stopped: a fit killed mid-epoch and resumed sees the batches it would have seen.

Lightning restores the weights, optimizer, schedulers, callbacks and its loop counters from a checkpoint; the
order of the data is the DataModule's business. :class:`ResumableTrainingData` records in every checkpoint the
epoch and how many of its batches were trained on, and hands that position to the training loader once after a
restore: :class:`ResumableSampler` (fixed data, shuffled anew each epoch from ``seed + epoch``) skips the
batches already seen; an :class:`~cmpe_lightning.data.online.OnlineSimulationDataset` keys each batch's
simulations by its index, so it skips them without simulating them.
"""

from __future__ import annotations

from typing import Any

import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler

from ..compat import batches_trained_in_epoch


class ResumableSampler(DistributedSampler):
    """Shuffles ``dataset`` anew each epoch (from ``seed`` and the epoch Lightning sets), split across DDP ranks.

    A :class:`~torch.utils.data.DistributedSampler`, so Lightning keeps it under DDP instead of wrapping it; in a
    single process it is one replica. After :meth:`resume_at` ``(epoch, batches)``, the next iteration over
    that epoch starts after its first ``batches`` batches of ``batch_size``.

    Example:
        >>> sampler = ResumableSampler(range(8), batch_size=2, seed=0)
        >>> full = list(sampler)
        >>> sampler.resume_at(0, 3)
        >>> list(sampler) == full[6:]
        True
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int):
        distributed = dist.is_available() and dist.is_initialized()
        super().__init__(dataset, num_replicas=dist.get_world_size() if distributed else 1,
                         rank=dist.get_rank() if distributed else 0, shuffle=True, seed=seed, drop_last=True)
        self.batch_size = batch_size
        self.resume_point: tuple[int, int] | None = None

    def __iter__(self):
        indices = list(super().__iter__())
        if self.resume_point is not None:
            epoch, batches = self.resume_point
            self.resume_point = None
            if epoch == self.epoch:
                indices = indices[batches * self.batch_size:]
        return iter(indices)

    def resume_at(self, epoch: int, batches: int) -> None:
        self.resume_point = (epoch, batches)


def training_position(trainer: Any) -> tuple[int, int] | None:
    """``(epoch, batches trained on in it)`` while ``trainer`` fits, else ``None``."""
    if trainer is None or trainer.state.fn != "fit":
        return None
    return trainer.current_epoch, batches_trained_in_epoch(trainer)


class ResumableTrainingData:
    """A DataModule mixin: checkpoints hold the training position, and the training loader resumes from it.

    Subclasses wrap their training loader in :meth:`resumable`: a loader built with :class:`ResumableSampler`,
    or one over a dataset with a ``resume_at(epoch, batches)`` method
    (:class:`~cmpe_lightning.data.online.OnlineSimulationDataset`).
    """

    _resume_point: tuple[int, int] | None = None

    def state_dict(self) -> dict[str, Any]:
        position = training_position(getattr(self, "trainer", None))
        return {"training_position": list(position)} if position is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        position = state_dict.get("training_position")
        self._resume_point = (int(position[0]), int(position[1])) if position else None

    def resumable(self, loader: Any) -> Any:
        """``loader``, told once where a restored fit stopped."""
        if self._resume_point is not None:
            target = loader.sampler if isinstance(loader.sampler, ResumableSampler) else loader.dataset
            target.resume_at(*self._resume_point)
            self._resume_point = None
        return loader
