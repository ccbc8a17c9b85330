"""Reading the observations a user wants posteriors for, as the simulator gives them (raw, not preprocessed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..utils.errors import InputError, InputTypeError, MissingFileError, NotAFileError
from ..utils.files import UnreadableFileError, check_numpy_file, load_tensors
from ..utils.structure import Batch, ShapeSpec, batch_size, describe, is_finite
from .tensors import TensorBatchDataset

FORMATS = {
    "tensor": ".pt (a tensor, or a dict with the key 'observations'), .npy, .npz (the array 'observations') or .csv"
    " (one flattened observation per row, no header)",
    "dict": ".pt (a dict of named tensors, or such a dict under the key 'observations') or .npz (one array per name)",
}


def load_observations(path: str | Path, x_shape: ShapeSpec) -> Batch:
    """Loads ``(n, *x_shape)`` observations, or a dict of named ones where ``x_shape`` is a dict.

    A single observation of shape ``x_shape`` is accepted as ``n = 1``.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: on an unknown or unreadable format, a missing part, a wrong shape, or NaN/inf values;
            the message names the file, the shape found and the shape expected.
    """
    path = Path(path)
    named = isinstance(x_shape, dict)
    expected = describe(x_shape, "n")
    formats = FORMATS["dict" if named else "tensor"]
    if path.is_dir():
        raise NotAFileError(f"Observation file {str(path)!r} is a folder; expected a file: {formats}.")
    if not path.is_file():
        raise MissingFileError(f"Observation file {str(path)!r} does not exist; expected {formats}"
                               f" of shape {expected}.")
    flattened_rows = path.suffix.lower() == ".csv"
    try:
        data = _read(path)
    except UnreadableFileError:
        raise
    except Exception as error:  # noqa: BLE001 -- every reader failure becomes one clear message
        raise InputError(f"Cannot read observations from {str(path)!r} ({error}); expected {formats}.") from error
    if isinstance(data, dict) and "observations" in data:
        data = data["observations"]
    if named:
        if not isinstance(data, dict) or not set(x_shape) <= set(data):
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise InputError(f"Observations in {str(path)!r} must hold the parts {sorted(x_shape)}, found {found}.")
        x = {name: _as_batch(path, data[name], shape, f"{expected} (part {name!r})", flattened_rows)
             for name, shape in x_shape.items()}
        if len({len(part) for part in x.values()}) != 1:
            lengths = {name: len(part) for name, part in x.items()}
            raise InputError(f"The parts of the observations in {str(path)!r} differ in number: {lengths}.")
    else:
        if isinstance(data, dict):
            raise InputError(f"{str(path)!r} holds a dict {sorted(data)} without the key 'observations';"
                             f" expected {formats}.")
        x = _as_batch(path, data, x_shape, expected, flattened_rows)
    finite = is_finite(x)
    if not finite.all():
        bad = (~finite).nonzero().flatten().tolist()
        raise InputError(f"Observations in {str(path)!r} contain NaN or inf in rows {bad[:10]}.")
    return x


def _read(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".pt":
        return load_tensors(path, "Observation file")
    if suffix == ".npy":
        check_numpy_file(path, "Observation file")
        return np.load(path, allow_pickle=False)
    if suffix == ".npz":
        check_numpy_file(path, "Observation file")
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    if suffix == ".csv":
        return np.loadtxt(path, delimiter=",", ndmin=2)
    raise InputError(f"unknown suffix {suffix!r}")


def _as_batch(path: Path, data: Any, shape: tuple[int, ...], expected: str, flattened_rows: bool) -> torch.Tensor:
    """``data`` as float32 ``(n, *shape)``; ``flattened_rows``: each row is one observation, flattened (CSV)."""
    kind = getattr(getattr(data, "dtype", None), "kind", None)  # numpy: b(ool), i, u, f, c(omplex), U/S (text), O...
    try:
        if kind not in (None, "b", "i", "u", "f"):
            raise InputTypeError(f"values of dtype {data.dtype}")
        data = torch.as_tensor(data)
        if data.is_complex() or not (data.is_floating_point() or data.dtype in (torch.bool, torch.uint8, torch.int8,
                                                                                torch.int16, torch.int32, torch.int64)):
            raise InputTypeError(f"values of dtype {data.dtype}")
    except (TypeError, ValueError, RuntimeError) as error:
        raise InputError(f"Observations in {str(path)!r} are not an array of real numbers ({error});"
                         f" expected {expected}.") from error
    found = tuple(data.shape)
    if flattened_rows and data.ndim == 2 and data.shape[1] == int(np.prod(shape)):
        data = data.reshape(len(data), *shape)
    elif found == tuple(shape):
        data = data[None]
    if data.ndim != len(shape) + 1 or tuple(data.shape[1:]) != tuple(shape) or len(data) == 0:
        raise InputError(f"Observations in {str(path)!r} have shape {found}; expected {expected}.")
    return data.float()


def prediction_dataset(path: str | Path | None, x_shape: ShapeSpec) -> TensorBatchDataset:
    """The ``predict`` set of a DataModule: batches ``{index, x}`` of the observations in ``path``."""
    if path is None:
        formats = FORMATS["dict" if isinstance(x_shape, dict) else "tensor"]
        raise InputError(f"predict needs observations: pass --data.init_args.observations PATH ({formats}).")
    x = load_observations(path, x_shape)
    return TensorBatchDataset({"index": torch.arange(batch_size(x)), "x": x})
