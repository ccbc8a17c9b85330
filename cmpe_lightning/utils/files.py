"""Reading files that may come from anyone: tensors only, never pickled code."""

from __future__ import annotations

import os
import pickle
from typing import Any

import torch

from .errors import InputError


class UnreadableFileError(InputError):
    """A file that cannot be read safely; the message names it."""


def load_tensors(path: str | os.PathLike, what: str) -> Any:
    """``torch.load`` without running pickled code (``weights_only``); any failure is an
    :class:`UnreadableFileError` (a ``ValueError``) naming the file and saying what it is likely to be."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnreadableFileError(f"{what} {str(path)!r} holds pickled objects other than tensors, numbers and"
                                  " containers; such objects (code) are not loaded from files.") from error
    except Exception as error:  # noqa: BLE001 -- a torn zip, a text file, an old pickle: all unreadable
        raise UnreadableFileError(f"Cannot read {what.lower()} {str(path)!r}: it is truncated (a copy or a save cut"
                                  f" short) or not a file torch.save wrote ({type(error).__name__}).") from error


MAGIC = {".npy": (b"\x93NUMPY", "a NumPy .npy file (numpy.save)"),
         ".npz": (b"PK", "a NumPy .npz archive (numpy.savez)")}


def check_numpy_file(path: str | os.PathLike, what: str) -> None:
    """Raises :class:`UnreadableFileError` unless ``path`` starts as its suffix (.npy or .npz) says, so that a text
    file or a foreign one is named as such instead of as "pickled data" (numpy's guess for unknown files)."""
    suffix = os.path.splitext(str(path))[1].lower()
    magic, kind = MAGIC[suffix]
    with open(path, "rb") as file:
        head = file.read(len(magic))
    if head != magic:
        found = "an empty file" if not head else "something else (a text file?)"
        raise UnreadableFileError(f"{what} {str(path)!r} is not {kind}: it is {found}.")
