"""Reading the observations a user wants posteriors for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .tensors import TensorBatchDataset


def load_observations(path: str | Path, x_shape: tuple[int, ...]) -> Tensor:
    """Loads ``(n, *x_shape)`` observations from a ``.pt``, ``.npy`` or ``.csv`` file.

    A ``.pt`` file holds a tensor (or a dict with the key ``observations``); a ``.csv`` file holds one
    observation per row, flattened (``prod(x_shape)`` comma-separated numbers, no header). A single
    observation of shape ``x_shape`` is accepted as ``n = 1``.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: on an unknown or unreadable format, a wrong shape, or NaN/inf values; the message names
            the file, the shape found and the shape expected.
    """
    path = Path(path)
    expected = f"(n, {', '.join(map(str, x_shape))})"
    if not path.is_file():
        raise FileNotFoundError(f"Observation file {str(path)!r} does not exist; expected a .pt, .npy or .csv file of shape {expected}.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".pt":
            data = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(data, dict):
                data = data["observations"]
            data = torch.as_tensor(data)
        elif suffix == ".npy":
            data = torch.from_numpy(np.load(path, allow_pickle=False))
        elif suffix == ".csv":
            data = torch.from_numpy(np.loadtxt(path, delimiter=",", ndmin=2))
        else:
            raise ValueError(f"unknown suffix {suffix!r}; expected .pt, .npy or .csv")
    except Exception as error:  # noqa: BLE001 -- every reader failure becomes one clear message
        raise ValueError(f"Cannot read observations from {str(path)!r}: {error}") from error
    found = tuple(data.shape)
    if suffix == ".csv" and data.ndim == 2 and data.shape[1] == int(np.prod(x_shape)):
        data = data.reshape(len(data), *x_shape)
    elif found == tuple(x_shape):
        data = data[None]
    if tuple(data.shape[1:]) != tuple(x_shape) or data.ndim != len(x_shape) + 1 or len(data) == 0:
        raise ValueError(f"Observations in {str(path)!r} have shape {found}; expected {expected}.")
    data = data.float()
    if not torch.isfinite(data).all():
        bad = (~torch.isfinite(data)).flatten(1).any(1).nonzero().flatten().tolist()
        raise ValueError(f"Observations in {str(path)!r} (shape {found}) contain NaN or inf in rows {bad[:10]}.")
    return data


def prediction_dataset(path: str | Path | None, x_shape: tuple[int, ...]) -> TensorBatchDataset:
    """The ``predict`` set of a DataModule: ``(index, x)`` pairs of the observations in ``path``."""
    if path is None:
        raise ValueError("predict needs observations: pass --data.init_args.observations PATH (.pt, .npy or .csv).")
    x = load_observations(path, x_shape)
    return TensorBatchDataset(torch.arange(len(x)), x)
