"""Derived random streams: one independent, reproducible generator per (seed, purpose, ...) key."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from .errors import InputError

# purposes of the data streams derived from one user seed
TRAIN, VALIDATION, TEST, REFERENCE, STANDARDIZATION, BANK, SPLIT, CALIBRATION = range(8)


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


@contextmanager
def seeded_global_rng(*key: int, device: torch.device) -> Iterator[None]:
    """Runs the block on torch's global generators (CPU and ``device``) seeded from ``key``, restoring them after.

    A training step run inside it draws its noise and dropout masks as a function of ``key`` (the run's seed,
    the step, the batch, the rank), not of the steps before it: a fit resumed from a checkpoint trains
    bit for bit as the uninterrupted one. Only the generators the step uses are seeded and restored:
    ``torch.manual_seed`` and ``fork_rng`` also visit every other accelerator type, which cost 1.5 ms a step.
    """
    seed = derived_seed(*key)
    generators = [torch.default_generator]
    if device.type == "cuda":
        generators.append(torch.cuda.default_generators[device.index if device.index is not None
                                                        else torch.cuda.current_device()])
    states = [generator.get_state() for generator in generators]
    for generator in generators:
        generator.manual_seed(seed)
    try:
        yield
    finally:
        for generator, state in zip(generators, states):
            generator.set_state(state)
