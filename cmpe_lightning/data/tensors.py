"""A map-style dataset of tensors that is indexed a whole batch at a time, and the DataLoader that reads it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..utils.structure import batch_size, map_structure
from .resume import ResumableSampler


class TensorBatchDataset(Dataset):
    """Like ``TensorDataset``, but over any nesting of tensors, and ``__getitems__`` gathers a whole batch at once.

    ``data`` is a tuple (``(theta, x)``) or a dict (``{"theta": ..., "x": ...}``) whose leaves are tensors
    with one common first dimension; ``x`` may itself be a dict of named tensors. Items and batches keep
    the nesting. Use with :func:`keep_batch` as ``collate_fn``: a batch of 64 costs one gather per tensor
    instead of 64 item lookups and a stack, which matters for the small networks of the low-dimensional tasks.

    Example:
        >>> data = TensorBatchDataset({"theta": torch.zeros(5, 2), "x": {"a": torch.ones(5, 3)}})
        >>> batch = data.__getitems__([0, 3])
        >>> batch["theta"].shape, batch["x"]["a"].shape
        (torch.Size([2, 2]), torch.Size([2, 3]))
    """

    def __init__(self, data: Any):
        self.data = data
        self.length = batch_size(data)  # checks that every tensor has the same first dimension

    @property
    def tensors(self) -> Any:
        return self.data

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Any:
        return map_structure(lambda t: t[index], self.data)

    def __getitems__(self, indices: Sequence[int]) -> Any:
        index = torch.as_tensor(indices)
        return map_structure(lambda t: t[index], self.data)


class BatchListDataset(Dataset):
    """Whole batches as items, cut from several datasets with a batch size each, for one DataLoader.

    A test set whose few observations with reference posteriors go one at a time and whose many calibration
    observations go in large batches is one ``DataLoader(BatchListDataset(...), batch_size=None)``, which a
    distributed sampler splits by batch across processes.

    Example:
        >>> a = TensorBatchDataset({"theta": torch.zeros(2, 1)})
        >>> b = TensorBatchDataset({"theta": torch.ones(5, 1)})
        >>> [len(batch["theta"]) for batch in BatchListDataset([(a, 1), (b, 4)])]
        [1, 1, 4, 1]
    """

    def __init__(self, parts: Sequence[tuple[TensorBatchDataset, int]]):
        self.batches = [(dataset, list(range(start, min(start + size, len(dataset)))))
                        for dataset, size in parts for start in range(0, len(dataset), size)]

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> Any:
        dataset, rows = self.batches[index]
        return dataset.__getitems__(rows)


def keep_batch(batch: Any) -> Any:
    """Collate function for :class:`TensorBatchDataset`: the batch is already stacked."""
    return batch


def batch_loader(
    dataset: TensorBatchDataset,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader that gathers whole batches of ``dataset`` with :func:`keep_batch`; workers persist across epochs.

    With ``shuffle_seed``, the training loader: reshuffled each epoch by a :class:`ResumableSampler` (from the seed
    and the epoch, split across DDP ranks), incomplete last batches dropped. Without, the order of ``dataset``.
    """
    sampler = None if shuffle_seed is None else ResumableSampler(dataset, batch_size, shuffle_seed)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, drop_last=sampler is not None, collate_fn=keep_batch,
        num_workers=num_workers, persistent_workers=num_workers > 0,
    )
