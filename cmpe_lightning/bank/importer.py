"""Simulations made elsewhere (R, C++, a lab pipeline) turned into a simulation bank that every DataModule reads.

Arrays come from ``.npz``, ``.npy``, ``.pt`` or ``.csv`` files: ``theta`` of shape ``(n, theta_dim)`` and one or
more outputs of shape ``(n, ...)``, one row per run. Rows whose outputs hold NaN or inf are kept as failed runs
(``ok=False``, as a simulation that crashed), so the bank's row numbers stay the user's; a NaN or inf in
``theta``, arrays of different lengths or an existing bank in the way are errors.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..utils.checks import positive_int
from ..utils.errors import ExistingFileError, InputError, MissingFileError
from .format import FORMAT, shard_runs, write_manifest, write_shard
from .reader import check_runs
from .writer import BankSummary

SUFFIXES = (".npz", ".npy", ".pt", ".csv")


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The named arrays in ``path``: every array of an ``.npz`` or of a ``.pt`` dict, or the one array of a
    ``.npy``, ``.csv`` (comma separated numbers; a header line of names is skipped) or ``.pt`` tensor, named
    after the file's stem."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"No file {str(path)!r} to import.")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    if suffix == ".npy":
        return {path.stem: np.load(path, allow_pickle=False)}
    if suffix == ".csv":
        with open(path) as file:
            first = file.readline()
        has_header = any(c.isalpha() and c not in "eE" for c in first.replace("nan", "").replace("inf", ""))
        return {path.stem: np.loadtxt(path, delimiter=",", skiprows=int(has_header), ndmin=2)}
    if suffix == ".pt":
        import torch

        value = torch.load(path, map_location="cpu", weights_only=True)  # no pickled code from a file
        items = value.items() if isinstance(value, dict) else [(path.stem, value)]
        return {str(name): np.asarray(array) for name, array in items}
    raise InputError(f"Cannot import {str(path)!r}: expected a file ending in one of {SUFFIXES}.")


def import_bank(
    theta: np.ndarray,
    outputs: dict[str, np.ndarray],
    folder: str | os.PathLike,
    shard_size: int = 500,
    source: dict | None = None,
) -> BankSummary:
    """Writes ``theta`` ``(n, theta_dim)`` and the named ``outputs`` ``(n, ...)`` as a new bank in ``folder``.

    Args:
        theta: parameters, one row per run (a 1-D array is one parameter).
        outputs: name -> array with one row per run; a single output named ``x`` makes ``x`` a tensor, several
            make it a dict (see :class:`~cmpe_lightning.data.SimulationBankDataModule`).
        folder: the bank to create; an existing non-empty folder is an error (nothing is overwritten).
        shard_size: runs per shard file.
        source: recorded in the manifest as where the runs came from.

    Example:
        >>> import tempfile
        >>> from cmpe_lightning.bank.format import read_manifest
        >>> rng = np.random.default_rng(0)
        >>> theta = rng.uniform(size=(10, 2)); x = theta + 0.1 * rng.normal(size=(10, 2))
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     summary = import_bank(theta, {"x": x}, f"{folder}/bank", shard_size=4)
        ...     manifest = read_manifest(f"{folder}/bank")
        >>> summary.runs, summary.shards_written, manifest["theta_dim"], manifest["outputs"]
        (10, 3, 2, {'x': [2]})
    """
    theta, outputs, ok = check_runs(theta, outputs)
    shard_size = positive_int(shard_size, "shard_size")
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ExistingFileError(f"{str(folder)!r} exists and is not empty; import into a new folder.")

    from .. import __version__

    manifest = {
        "format": FORMAT, "simulator": {"class_path": None, "imported_from": source or {}},
        "seed": None, "num": len(theta), "shard_size": shard_size, "theta_dim": theta.shape[1],
        "outputs": {name: list(array.shape[1:]) for name, array in outputs.items()},
        "version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    num_shards = -(-len(theta) // shard_size)
    for shard in range(num_shards):
        runs = np.arange(shard_runs(manifest, shard).start, shard_runs(manifest, shard).stop)
        write_shard(folder, shard, {
            "index": runs, "theta": theta[runs], "seed": np.full(len(runs), -1, dtype=np.int64), "ok": ok[runs],
            "runtime_s": np.full(len(runs), np.nan), **{name: array[runs] for name, array in outputs.items()},
        })
    write_manifest(folder, manifest)  # last: a folder without bank.json is an unfinished import
    return BankSummary(str(folder), len(theta), int((~ok).sum()), num_shards, 0, 0.0)
