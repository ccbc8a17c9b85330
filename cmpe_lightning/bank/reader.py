"""Reading simulations: the runs of a bank folder, or arrays the user holds, behind one interface.

A :class:`Runs` knows the bank's shape facts at once (``num`` runs, ``theta_dim``, the outputs and their shapes)
and reads the arrays of every run present on :meth:`Runs.read`: ``index`` (global run numbers), ``theta``, ``ok``
and the outputs. :meth:`Runs.successful` leaves out the failed runs. The DataModule that splits and batches them
(:class:`~cmpe_lightning.data.SimulationBankDataModule`) does not know where they came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..utils.errors import InputError, MissingFileError
from . import format as bank_format
from .format import RUN_FIELDS


class Runs:
    """Simulation runs: ``num``, ``theta_dim``, ``output_shapes`` and their arrays (:meth:`read`)."""

    source: str  # where the runs are, for messages
    num: int  # all runs of the bank, also those of shards not written yet
    theta_dim: int
    output_shapes: dict[str, tuple[int, ...]]

    def read(self) -> dict[str, np.ndarray]:
        """``index``, ``theta``, ``ok`` and the outputs of every run present."""
        raise NotImplementedError

    def successful(self) -> dict[str, np.ndarray]:
        """``index``, ``theta`` and the outputs of the runs marked ``ok`` (the failed ones are counted in a warning);
        a run marked ok with NaN or inf is an error that names it."""
        from lightning.pytorch.utilities import rank_zero_warn  # only where a fit reads its data

        runs = self.read()
        ok = runs.pop("ok").astype(bool)
        if not ok.all():
            rank_zero_warn(f"Simulation bank {self.source!r}: dropped {(~ok).sum()} failed runs (ok=False) of"
                           f" {len(ok)}.")
        runs = {name: array[ok] for name, array in runs.items()}
        for name in ["theta", *self.output_shapes]:
            bad = ~np.isfinite(runs[name].reshape(len(runs[name]), -1)).all(axis=1)
            if bad.any():
                raise InputError(
                    f"Simulation bank {self.source!r}: {bad.sum()} runs marked ok have NaN or inf in {name!r}"
                    f" (runs {runs['index'][bad][:10].tolist()})."
                )
        return runs


class FolderRuns(Runs):
    """The runs of the bank in ``folder`` (``bank.json`` and ``shard_*.npz``), each shard checked against the
    manifest when read; shards not written yet are left out with a warning."""

    def __init__(self, folder: str | os.PathLike):
        self.source = str(folder)
        self.manifest = bank_format.read_manifest(folder)
        self.num, self.theta_dim = int(self.manifest["num"]), int(self.manifest["theta_dim"])
        self.output_shapes = {name: tuple(shape) for name, shape in self.manifest["outputs"].items()}

    def read_shard(self, shard: int) -> dict[str, np.ndarray]:
        """The arrays of ``shard``, checked against the manifest."""
        arrays = bank_format.read_shard(self.source, shard)
        runs = bank_format.shard_runs(self.manifest, shard)
        num = len(runs)
        expected = {"index": (num,), "theta": (num, self.theta_dim), "seed": (num,), "ok": (num,), "runtime_s": (num,)}
        expected |= {name: (num, *shape) for name, shape in self.output_shapes.items()}
        where = f"Shard {str(bank_format.shard_path(self.source, shard))!r} disagrees with the manifest"
        for name, shape in expected.items():
            if name not in arrays:
                raise InputError(f"{where}: it has no array {name!r} (it has {sorted(arrays)}).")
            if arrays[name].shape != shape:
                raise InputError(f"{where}: array {name!r} has shape {arrays[name].shape}, expected {shape}.")
        if not np.array_equal(arrays["index"], runs):
            raise InputError(f"{where}: its 'index' is not the runs {runs.start} to {runs.stop - 1}.")
        return arrays

    def read(self) -> dict[str, np.ndarray]:
        from lightning.pytorch.utilities import rank_zero_warn

        count = bank_format.num_shards(self.manifest)
        present = [s for s in range(count) if bank_format.shard_path(self.source, s).is_file()]
        if not present:
            raise MissingFileError(
                f"Simulation bank {self.source!r} has no shards yet (expected {count} shard_*.npz files for"
                f" {self.num} runs); run cmpe-simulate."
            )
        shards = [self.read_shard(s) for s in present]
        runs = {name: np.concatenate([shard[name] for shard in shards])
                for name in ["index", "theta", "ok", *self.output_shapes]}
        if len(present) < count:
            missing = sorted(set(range(count)) - set(present))
            rank_zero_warn(
                f"Simulation bank {self.source!r} holds {len(runs['index'])} of its {self.num} runs:"
                f" {len(missing)} of {count} shards are missing (first {missing[:5]}); using the runs present."
            )
        return runs


class ArrayRuns(Runs):
    """Runs held in memory: ``theta`` ``(n, theta_dim)`` and ``outputs`` (name -> ``(n, ...)``), checked by
    :func:`check_runs`; rows with NaN or inf outputs are failed runs.

    Example:
        >>> runs = ArrayRuns(np.zeros((4, 2)), {"x": np.array([[0.0], [1.0], [np.nan], [3.0]])})
        >>> runs.num, runs.theta_dim, runs.output_shapes, runs.read()["ok"].tolist()
        (4, 2, {'x': (1,)}, [True, True, False, True])
    """

    def __init__(self, theta: Any, outputs: Mapping[str, Any], source: str = "arrays in memory"):
        theta, outputs, ok = check_runs(theta, dict(outputs))
        self.source, self.num, self.theta_dim = source, len(theta), theta.shape[1]
        self.output_shapes = {name: tuple(array.shape[1:]) for name, array in outputs.items()}
        self._arrays = {"index": np.arange(self.num), "theta": theta, "ok": ok, **outputs}

    def read(self) -> dict[str, np.ndarray]:
        return dict(self._arrays)


def check_runs(theta: Any, outputs: dict) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """``theta`` as float64 ``(runs, theta_dim)``, the outputs as float32 and which runs have finite outputs, after
    checking shapes, lengths and names (an :class:`~cmpe_lightning.utils.errors.InputError` names what is wrong)."""
    theta = np.asarray(theta, dtype=np.float64)
    theta = theta[:, None] if theta.ndim == 1 else theta
    if theta.ndim != 2 or len(theta) == 0:
        raise InputError(f"theta must have shape (runs, theta_dim) with at least one run, got {theta.shape}.")
    if not outputs:
        raise InputError("There must be at least one output array besides theta.")
    if clashes := sorted(set(outputs) & set(RUN_FIELDS)):
        raise InputError(f"Output names {clashes} clash with the bank's run fields {RUN_FIELDS}; rename them.")
    outputs = {name: np.asarray(array, dtype=np.float32) for name, array in outputs.items()}
    for name, array in outputs.items():
        if array.ndim == 0 or len(array) != len(theta):
            raise InputError(f"Output {name!r} has shape {array.shape}: it needs one row per run, like theta's"
                             f" {len(theta)} rows.")
    bad_theta = ~np.isfinite(theta).all(axis=1)
    if bad_theta.any():
        rows = np.flatnonzero(bad_theta)
        raise InputError(f"theta has NaN or inf in {len(rows)} rows (first: {rows[:5].tolist()}); remove those runs.")
    ok = np.ones(len(theta), dtype=bool)
    for array in outputs.values():
        ok &= np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    return theta, outputs, ok
