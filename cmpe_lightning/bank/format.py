"""The on-disk format of a simulation bank: a manifest and numbered ``.npz`` shards.

A bank folder holds

- ``bank.json``, the manifest: format version, the simulator (``class_path`` and ``init_args``), the
  bank's ``seed``, ``num`` runs in total, ``shard_size``, the ``outputs`` (name -> shape of one run) and
  ``theta_dim``;
- ``shard_000000.npz``, ``shard_000001.npz``, ...: shard ``i`` holds runs ``i * shard_size`` up to
  ``min((i + 1) * shard_size, num)``, with arrays ``index`` (global run numbers), ``theta``
  ``(n, theta_dim)``, ``seed`` (the run's integer seed), ``ok`` (False where the run failed or timed out;
  its outputs are NaN), ``runtime_s`` and one array ``(n, *shape)`` per output.

Shards are written to a temporary name and renamed, so a shard file is either complete or absent.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.errors import InputError, MissingFileError
from ..utils.files import check_numpy_file

FORMAT = "cmpe-simulation-bank-1"
MANIFEST = "bank.json"
RUN_FIELDS = ("index", "theta", "seed", "ok", "runtime_s")
MANIFEST_FIELDS = {"num": int, "shard_size": int, "theta_dim": int, "outputs": dict}


def shard_path(folder: str | os.PathLike, shard: int) -> Path:
    return Path(folder) / f"shard_{shard:06d}.npz"


def num_shards(manifest: dict[str, Any]) -> int:
    return -(-manifest["num"] // manifest["shard_size"])


def shard_runs(manifest: dict[str, Any], shard: int) -> range:
    """Global run numbers of ``shard``."""
    start = shard * manifest["shard_size"]
    return range(start, min(start + manifest["shard_size"], manifest["num"]))


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of the bank in ``folder``, with a clear error when there is none."""
    path = Path(folder) / MANIFEST
    if not Path(folder).is_dir():
        raise MissingFileError(f"Simulation bank folder {str(folder)!r} does not exist; build one with cmpe-simulate.")
    if not path.is_file():
        raise MissingFileError(f"{str(folder)!r} is not a simulation bank: it has no {MANIFEST}"
                               " (build one with cmpe-simulate).")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{str(path)!r} is not a bank manifest: not JSON ({error}).") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise InputError(f"{str(path)!r} has format {found!r}, expected {FORMAT!r}.")
    wrong = [key for key, kind in MANIFEST_FIELDS.items() if not isinstance(manifest.get(key), kind)]
    if wrong or manifest["num"] < 1 or manifest["shard_size"] < 1 or manifest["theta_dim"] < 1:
        raise InputError(f"{str(path)!r} is damaged: its fields {wrong or ['num', 'shard_size', 'theta_dim']}"
                         " are missing or invalid (expected"
                         f" {', '.join(f'{k}: {v.__name__}' for k, v in MANIFEST_FIELDS.items())}).")
    return manifest


def write_atomically(path: Path, write) -> None:
    """Calls ``write(file)`` on a temporary file next to ``path`` and renames it to ``path`` on success."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_manifest(folder: str | os.PathLike, manifest: dict[str, Any]) -> None:
    write_atomically(Path(folder) / MANIFEST, lambda f: f.write(json.dumps(manifest, indent=2).encode()))


def write_shard(folder: str | os.PathLike, shard: int, arrays: dict[str, np.ndarray]) -> None:
    write_atomically(shard_path(folder, shard), lambda f: np.savez(f, **arrays))


def read_shard(folder: str | os.PathLike, shard: int) -> dict[str, np.ndarray]:
    """The arrays of a shard, read without pickle; a damaged file is a ``ValueError`` that names it."""
    path = shard_path(folder, shard)
    check_numpy_file(path, "Shard")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise InputError(f"Shard {str(path)!r} is damaged or not a shard ({error}); delete it and run cmpe-simulate"
                         f" again to rebuild it.") from error
