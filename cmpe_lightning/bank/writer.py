"""Builds a simulation bank: prior draws simulated run by run in worker processes, written shard by shard.

Reproducibility: the parameters of shard ``i`` are ``simulator.sample_prior(n, derived_generator(seed, BANK, i))``
and run ``j`` of shard ``i`` gets the seed :func:`simulation_seed` ``(seed, i, j)``. Neither depends on which other
shards exist or on the number of workers, so any shard range can be (re)built on its own, e.g. one range per
task of a SLURM job array, and a killed build resumes where it stopped (shards on disk are skipped).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..simulators.base import Simulator
from ..simulators.description import describe_simulator
from ..utils.errors import InputError
from ..utils.seeding import BANK, derived_generator
from .format import (
    FORMAT,
    MANIFEST,
    RUN_FIELDS,
    num_shards,
    read_manifest,
    shard_path,
    shard_runs,
    write_manifest,
    write_shard,
)


class BankMismatchError(InputError):
    """The bank folder already holds a bank built with other settings."""


# manifest fields that must agree before an existing bank is extended or resumed
IDENTITY_FIELDS = ("simulator", "seed", "num", "shard_size", "theta_dim", "outputs")


@dataclass
class BankSummary:
    """What one :func:`build_bank` call did."""

    folder: str
    runs: int  # runs simulated by this call
    failed: int  # of which raised (recorded with ok=False and NaN outputs)
    shards_written: int
    shards_skipped: int  # already on disk
    wall_s: float

    def __str__(self) -> str:
        return (
            f"{self.runs} runs ({self.failed} failed) in {self.wall_s:.1f} s: wrote {self.shards_written} shards,"
            f" skipped {self.shards_skipped} already in {self.folder}"
        )


def simulation_seed(seed: int, shard: int, position: int) -> int:
    """The integer seed of run ``position`` of ``shard``: ``SeedSequence([seed, BANK, shard, position])`` hashed to
    one uint32, so it fits every seed argument (uint32 or int64) and is independent of the other runs.

    Example:
        >>> simulation_seed(0, 3, 7) == simulation_seed(0, 3, 7) != simulation_seed(0, 3, 8)
        True
    """
    return int(np.random.SeedSequence([seed, BANK, shard, position]).generate_state(1, dtype=np.uint32)[0])


def shard_theta(simulator: Simulator, seed: int, shard: int, num: int) -> np.ndarray:
    """The ``(num, theta_dim)`` float32 parameters of ``shard``, from a stream of their own."""
    theta = simulator.sample_prior(num, derived_generator(seed, BANK, shard))
    theta = torch.as_tensor(theta).detach().cpu().numpy().astype(np.float32)
    if theta.shape != (num, simulator.theta_dim):
        raise InputError(f"{type(simulator).__name__}.sample_prior({num}) returned shape {theta.shape},"
                         f" expected {(num, simulator.theta_dim)}.")
    return theta


def parse_shard_range(shards: range | str | None, total: int) -> range:
    """Shards to build: ``None`` (all), a ``range`` or ``"START:STOP"`` (either part may be left out).

    Example:
        >>> parse_shard_range("2:", 5), parse_shard_range(None, 5)
        (range(2, 5), range(0, 5))
    """
    if shards is None:
        return range(total)
    if isinstance(shards, str):
        parts = shards.split(":")
        try:
            if len(parts) != 2:
                raise ValueError
            start, stop = (int(parts[0]) if parts[0].strip() else 0), (int(parts[1]) if parts[1].strip() else total)
        except ValueError:
            raise InputError(f"Shard range {shards!r} is not START:STOP with integers, e.g. '0:4'.") from None
        shards = range(start, stop)
    if shards.step != 1 or not 0 <= shards.start < shards.stop:
        raise InputError(f"Shard range {shards.start}:{shards.stop} must satisfy 0 <= START < STOP.")
    if shards.stop > total:
        raise InputError(f"Shard range {shards.start}:{shards.stop} goes past the last shard: this bank has {total}"
                         f" shard{'s' * (total > 1)}, numbered 0 to {total - 1} (STOP at most {total}).")
    return shards


def check_settings(num: int, shard_size: int, workers: int, seed: int) -> None:
    """Raises a ``ValueError`` naming the first bad setting."""
    for name, value in [("num", num), ("shard_size", shard_size), ("workers", workers)]:
        if not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}.")
    if not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}.")


def open_bank(folder: Path, manifest: dict[str, Any]) -> None:
    """Writes ``manifest`` to a new bank, or checks that it agrees with the bank already in ``folder``."""
    if not (folder / MANIFEST).exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_manifest(folder, manifest)
        return
    existing = read_manifest(folder)
    for field in IDENTITY_FIELDS:
        if existing.get(field) != manifest[field]:
            raise BankMismatchError(f"{str(folder)!r} holds a different simulation bank: its {field} is"
                                    f" {existing.get(field)!r}, this build asks for {manifest[field]!r}. Use another"
                                    " folder or the bank's settings.")


# --------------------------------------------------------------------------------------------------- runs
_worker_simulator: Simulator | None = None
_worker_start_error: str | None = None


def _start_worker(pickled_simulator: bytes) -> None:
    global _worker_simulator, _worker_start_error
    torch.set_num_threads(1)  # the workers already fill the cores
    try:
        _worker_simulator = pickle.loads(pickled_simulator)
    except Exception as error:  # reported by the first task: a failing initializer would make the pool respawn forever
        _worker_start_error = f"{type(error).__name__}: {error}"


def _simulate(simulator: Simulator, task: tuple[int, int, np.ndarray, int]) -> tuple:
    """Runs one task ``(shard, position, theta, seed)``; returns it with ``(outputs or None, runtime_s, error)``."""
    shard, position, theta, seed = task
    start = time.perf_counter()
    try:
        outputs, error = {k: np.asarray(v) for k, v in simulator.simulate_run(theta, seed).items()}, None
    except Exception as exception:  # a failed or timed-out run is recorded, the bank goes on
        outputs, error = None, f"{type(exception).__name__}: {exception}"
    return shard, position, outputs, time.perf_counter() - start, error


def _simulate_in_worker(task: tuple[int, int, np.ndarray, int]) -> tuple:
    if _worker_start_error is not None:
        raise RuntimeError(f"A worker process could not rebuild the simulator: {_worker_start_error}")
    return _simulate(_worker_simulator, task)


def check_outputs(simulator: Simulator, outputs: dict[str, np.ndarray]) -> None:
    """A run's outputs must match :attr:`Simulator.output_shapes` (a broken contract stops the build)."""
    expected = {name: tuple(shape) for name, shape in simulator.output_shapes.items()}
    got = {name: value.shape for name, value in outputs.items()}
    if got != expected:
        raise InputError(f"{type(simulator).__name__}.simulate_run returned outputs {got}, expected {expected}"
                         " (its output_shapes).")


class PendingShard:
    """The runs of one shard gathered as they finish, in any order."""

    def __init__(self, shard: int, index: range, theta: np.ndarray, seeds: np.ndarray):
        self.shard, self.index, self.theta, self.seeds = shard, index, theta, seeds
        self.outputs: list[dict[str, np.ndarray] | None] = [None] * len(index)
        self.runtime_s = np.zeros(len(index))
        self.done = 0

    def arrays(self, output_shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        ok = np.array([o is not None for o in self.outputs])
        arrays = {"index": np.asarray(self.index, dtype=np.int64), "theta": self.theta, "seed": self.seeds, "ok": ok,
                  "runtime_s": self.runtime_s}
        for name, shape in output_shapes.items():
            values = [o[name] for o in self.outputs if o is not None]
            # floating, so that failed runs can be NaN; the type depends only on the values, not on run order
            dtype = np.result_type(np.float32, *{value.dtype for value in values})
            column = np.full((len(self.index), *shape), np.nan, dtype=dtype)
            if values:
                column[ok] = np.stack(values)
            arrays[name] = column
        return arrays


@contextmanager
def _results(simulator: Simulator, tasks: Iterator[tuple], workers: int) -> Iterator[Iterator[tuple]]:
    """The results of ``tasks`` as they finish: in this process, or one run at a time spread over ``workers``
    spawned processes (spawn, because forking a process that holds torch threads can deadlock)."""
    if workers == 1:
        yield (_simulate(simulator, task) for task in tasks)
        return
    try:
        pickled = pickle.dumps(simulator)
    except Exception as error:
        name = type(simulator).__name__
        raise InputError(f"{name} cannot be sent to worker processes ({error}); use workers=1.") from error
    # the pool is terminated on leaving, also on an error or Ctrl-C: only the shards in flight are lost
    with multiprocessing.get_context("spawn").Pool(workers, _start_worker, (pickled,)) as pool:
        yield pool.imap_unordered(_simulate_in_worker, tasks)


def build_bank(
    simulator: Simulator,
    folder: str | os.PathLike,
    num: int,
    shard_size: int = 500,
    seed: int = 0,
    workers: int = 1,
    shards: range | str | None = None,
    progress: bool = True,
    simulator_config: dict[str, Any] | None = None,
) -> BankSummary:
    """Simulates ``num`` prior draws of ``simulator`` into the bank ``folder`` (see :mod:`~cmpe_lightning.bank.format`).

    Args:
        simulator: the task; its :meth:`~Simulator.simulate_run` is called once per run.
        folder: the bank; created if needed. An existing bank must have the same simulator, seed, num and
            shard_size: its missing shards are built (resume), the shards on disk are kept.
        num: runs in the whole bank.
        shard_size: runs per shard file.
        seed: the seed of every parameter draw and run seed.
        workers: processes that simulate runs in parallel (``1``: in this process). They are spawned, so a script
            that calls ``build_bank`` with ``workers > 1`` needs an ``if __name__ == "__main__":`` guard.
        shards: the shards to build, a ``range`` or ``"START:STOP"``; default all.
        progress: show a progress bar over runs.
        simulator_config: ``{"init_args": {...}}`` (a ``class_path`` is ignored: it is the simulator's class) for
            the manifest, when the simulator keeps no attributes named like its ``__init__`` arguments.

    Example:
        >>> import tempfile
        >>> from cmpe_lightning import TwoMoons
        >>> from cmpe_lightning.bank.format import read_shard
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     summary = build_bank(TwoMoons(), folder, num=10, shard_size=4, progress=False)
        ...     summary.runs, read_shard(folder, 2)["x"].shape
        (10, (2, 2))
    """
    from .. import __version__

    started = time.perf_counter()
    check_settings(num, shard_size, workers, seed)
    folder = Path(folder)
    init_args = (simulator_config or {}).get("init_args")
    manifest = {
        "format": FORMAT,
        "simulator": describe_simulator(simulator, init_args),
        "seed": seed, "num": num, "shard_size": shard_size, "theta_dim": simulator.theta_dim,
        "outputs": {name: list(shape) for name, shape in simulator.output_shapes.items()},
        "version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if clashes := sorted(set(manifest["outputs"]) & set(RUN_FIELDS)):
        raise InputError(f"Outputs {clashes} of {type(simulator).__name__} clash with the run fields {RUN_FIELDS}.")
    requested = parse_shard_range(shards, num_shards(manifest))
    open_bank(folder, manifest)

    pending = {}
    for shard in requested:
        if not shard_path(folder, shard).exists():
            runs = shard_runs(manifest, shard)
            seeds = np.array([simulation_seed(seed, shard, j) for j in range(len(runs))], dtype=np.int64)
            pending[shard] = PendingShard(shard, runs, shard_theta(simulator, seed, shard, len(runs)), seeds)
    total = sum(len(p.index) for p in pending.values())
    # shard by shard, so that shards finish (and are written) in turn; a snapshot, as finished shards leave `pending`
    tasks = ((p.shard, j, p.theta[j], int(p.seeds[j])) for p in list(pending.values()) for j in range(len(p.index)))

    failed, written, first_error = 0, 0, None
    skipped = len(requested) - len(pending)
    bar = tqdm(total=total, unit="run", desc=f"simulating {folder.name}", disable=not progress or total == 0)
    with bar, _results(simulator, tasks, min(workers, max(total, 1))) as results:
        for shard, position, outputs, runtime_s, error in results:
            current = pending[shard]
            if outputs is not None:
                check_outputs(simulator, outputs)
            elif first_error is None:
                first_error = error
                warnings.warn(f"Run {current.index[position]} (theta={current.theta[position].tolist()}) failed and is"
                              f" recorded with ok=False and NaN outputs: {error}", RuntimeWarning, stacklevel=2)
            failed += outputs is None
            current.outputs[position], current.runtime_s[position] = outputs, runtime_s
            current.done += 1
            if current.done == len(current.index):
                write_shard(folder, shard, current.arrays(simulator.output_shapes))
                del pending[shard]  # frees its outputs
                written += 1
            bar.update()
            bar.set_postfix({"ok": bar.n - failed, "failed": failed}, refresh=False)
    return BankSummary(str(folder), total, failed, written, skipped, time.perf_counter() - started)
