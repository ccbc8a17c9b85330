"""Test observations and their reference posterior samples, computed once and kept on disk.

Rejection sampling a reference posterior can take minutes (inverse kinematics); the test set is a pure
function of the simulator, its arguments, the seed and the sizes, so it is stored under a key made of
those and the source code of the simulator's module (a changed simulator gets a new key).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor

from .. import __version__
from ..simulators.base import Simulator
from ..simulators.description import describe_simulator

CACHE_ENV = "CMPE_LIGHTNING_CACHE"


def default_cache_folder() -> Path:
    """``$CMPE_LIGHTNING_CACHE/references`` where that variable is set, else
    ``$XDG_CACHE_HOME/cmpe_lightning/references`` (``~/.cache/cmpe_lightning/references`` by default)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser() / "references"
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return root / "cmpe_lightning" / "references"


def cache_key(simulator: Simulator, **sizes: int) -> str | None:
    """A hash of the simulator's class, its arguments, its module's source, ``sizes`` and the package version;
    ``None`` if the simulator cannot say what its arguments are or where its code is."""
    try:
        description = describe_simulator(simulator)
        source = Path(inspect.getfile(type(simulator))).read_bytes()
    except (ValueError, TypeError, OSError):
        return None
    text = json.dumps({"simulator": description, "source": hashlib.sha256(source).hexdigest(), "sizes": sizes,
                       "version": __version__}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cached(folder: str | Path | None, key: str | None, build: Callable[[], dict[str, Tensor]]) -> dict[str, Tensor]:
    """``build()``'s tensors, read from ``folder/<key>.pt`` if there, else built and written there (atomically).

    ``folder`` or ``key`` ``None`` turns the cache off. An unreadable cache file is rebuilt with a warning.
    """
    if folder is None or key is None:
        return build()
    path = Path(folder).expanduser() / f"{key}.pt"
    if path.is_file():
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            rank_zero_info(f"Test set and reference samples read from the cache {path}")
            return data
        except Exception as error:  # noqa: BLE001 -- a truncated or foreign file is rebuilt, not fatal
            rank_zero_warn(f"Ignoring the unreadable cache file {path} ({error}); recomputing it.")
    data = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        torch.save(data, partial)
        partial.replace(path)  # atomic: readers see a whole file or none
        rank_zero_info(f"Test set and reference samples cached in {path}")
    except OSError as error:  # a read-only home must not stop the test
        rank_zero_warn(f"Could not cache the test set in {path} ({error}).")
    return data
