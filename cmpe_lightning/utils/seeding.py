"""Derived random streams: one independent, reproducible generator per (seed, purpose, ...) key."""

from __future__ import annotations

import os

import numpy as np
import torch

from .errors import InputError

# purposes of the data streams derived from one user seed
TRAIN, VALIDATION, TEST, REFERENCE, STANDARDIZATION, BANK, SPLIT, CALIBRATION = range(8)
MASK64 = (1 << 64) - 1


def derived_generator(*key: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A generator seeded by hashing ``key`` with numpy's ``SeedSequence``: distinct keys give independent streams.

    Example:
        >>> a = torch.rand(2, generator=derived_generator(0, 1))
        >>> torch.equal(a, torch.rand(2, generator=derived_generator(0, 1)))
        True
    """
    return torch.Generator(device=device).manual_seed(derived_seed(*key))


def derived_seed(*key: int) -> int:
    """A 63-bit seed hashed from ``key`` with numpy's ``SeedSequence``."""
    if any(k < 0 for k in key):
        raise InputError(f"Seed keys must be non-negative integers, got {key}.")
    return int(np.random.SeedSequence(list(key)).generate_state(1, dtype=np.uint64)[0] >> 1)


def run_seed() -> int:
    """The seed of this run: the one Lightning's ``seed_everything`` (the CLI's ``seed_everything``) set, else the
    seed torch's global generator started from (random in an unseeded process)."""
    seed = os.environ.get("PL_GLOBAL_SEED")
    return int(seed) if seed is not None else torch.initial_seed()


def mixed_seed(*key: int) -> int:
    """A 64-bit seed mixed from ``key`` word by word with splitmix64's finalizer (Steele et al., 2014).

    For the seeds of every training step: a few integer operations, where :func:`derived_seed`'s ``SeedSequence``
    costs 80 us a call inside a training loop. Distinct keys give unrelated seeds.

    Example:
        >>> mixed_seed(0, 1, 2) == mixed_seed(0, 1, 2) != mixed_seed(0, 2, 1)
        True
    """
    mixed = len(key)
    for word in key:
        z = (mixed ^ word) + 0x9E3779B97F4A7C15 & MASK64
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & MASK64
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB & MASK64
        mixed = z ^ (z >> 31)
    return mixed


def seed_global_generators(*key: int, device: torch.device) -> None:
    """Seeds torch's global generators of the CPU and of ``device`` from ``key``.

    Called at the start of every training step with (the run's seed, the step, the batch, the rank), so that the
    step's noise and dropout masks are a function of that key, not of the steps before it: a fit resumed from a
    checkpoint trains bit for bit as the uninterrupted one. Only the generators a step uses are seeded:
    ``torch.manual_seed`` also visits every other accelerator type, which costs 1.5 ms. They are not restored
    after the step (saving the CPU generator's state alone cost 35 us a step): what draws from them between steps
    draws, as the steps do, from a stream fixed by the last step's key.
    """
    seed = mixed_seed(*key)
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.default_generators[device.index if device.index is not None
                                      else torch.cuda.current_device()].manual_seed(seed)
