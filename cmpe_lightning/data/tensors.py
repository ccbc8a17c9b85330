"""A map-style dataset of tensors that is indexed a whole batch at a time, and the DataLoader that reads it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


class TensorBatchDataset(Dataset):
    """Like ``TensorDataset``, but ``__getitems__`` gathers a whole batch with one indexing operation.

    Use with :func:`keep_batch` as ``collate_fn``: a batch of 64 costs one gather instead of 64 item
    lookups and a stack, which matters for the small networks of the low-dimensional tasks.
    """

    def __init__(self, *tensors: Tensor):
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError(f"Tensors must have equal first dimensions, got {[tuple(t.shape) for t in tensors]}.")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, ...]:
        index = torch.as_tensor(indices)
        return tuple(t[index] for t in self.tensors)


def keep_batch(batch: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Collate function for :class:`TensorBatchDataset`: the batch is already stacked."""
    return batch


def batch_loader(
    dataset: TensorBatchDataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    drop_last: bool = False,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader that gathers whole batches of ``dataset`` with :func:`keep_batch`; workers persist across epochs."""
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, collate_fn=keep_batch,
        num_workers=num_workers, persistent_workers=num_workers > 0,
    )
