"""Loading a checkpoint without knowing its estimator class."""

from __future__ import annotations

import importlib
import os
import pickle
import zipfile
from typing import Any

import torch


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's dict, read without running pickled code (``weights_only``); a missing, truncated or foreign
    file is a ``ValueError`` (or ``FileNotFoundError``) that names it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint {str(path)!r} does not exist.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"Cannot read checkpoint {str(path)!r}: it is truncated (a copy or a save cut short), not a checkpoint, or"
            f" holds objects that are not plain tensors and numbers ({first_line[:200]})."
        ) from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{str(path)!r} is not a Lightning checkpoint: it holds no 'state_dict'.")
    return checkpoint


def load_any_estimator(base: type, checkpoint_path, *args, **kwargs):
    """Builds the subclass of ``base`` recorded in the checkpoint (by the cmpe CLI) and loads it.

    Loading a checkpoint restores the networks named in its config (``class_path``): it imports and builds
    them, so load only checkpoints you trust as you would run their code.
    """
    checkpoint = read_checkpoint(checkpoint_path)
    class_path = checkpoint.get("hyper_parameters", {}).get("_class_path")
    if class_path is None:
        raise ValueError(
            f"Checkpoint {str(checkpoint_path)!r} does not record its estimator class (it was not trained through"
            f" the cmpe CLI): call load_from_checkpoint on the estimator class itself."
        )
    module_name, _, class_name = class_path.rpartition(".")
    target = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(target, type) and issubclass(target, base)):
        raise ValueError(f"Checkpoint {str(checkpoint_path)!r} records {class_path!r}, not a {base.__name__}.")
    return target.load_from_checkpoint(checkpoint_path, *args, **kwargs)
