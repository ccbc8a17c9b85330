"""Derived random streams: one independent, reproducible generator per (seed, purpose, ...) key."""

from __future__ import annotations

import numpy as np
import torch

# purposes of the data streams derived from one user seed
TRAIN, VALIDATION, TEST, REFERENCE, STANDARDIZATION, BANK, SPLIT, CALIBRATION = range(8)


def derived_generator(*key: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A generator seeded by hashing ``key`` with numpy's ``SeedSequence``: distinct keys give independent streams.

    Example:
        >>> a = torch.rand(2, generator=derived_generator(0, 1))
        >>> torch.equal(a, torch.rand(2, generator=derived_generator(0, 1)))
        True
    """
    if any(k < 0 for k in key):
        raise ValueError(f"Seed keys must be non-negative integers, got {key}.")
    seed = int(np.random.SeedSequence(list(key)).generate_state(1, dtype=np.uint64)[0] >> 1)
    return torch.Generator(device=device).manual_seed(seed)
