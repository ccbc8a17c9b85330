"""Loading a checkpoint without knowing its estimator class."""

from __future__ import annotations

import importlib
import os
from typing import Any

from ..utils.errors import InputError, MissingFileError
from ..utils.files import load_tensors


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's dict, read without running pickled code; a missing, truncated or foreign file is an error
    that names it."""
    if not os.path.isfile(path):
        raise MissingFileError(f"Checkpoint {str(path)!r} does not exist.")
    checkpoint = load_tensors(path, "Checkpoint")
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise InputError(f"{str(path)!r} is not a Lightning checkpoint: it holds no 'state_dict'.")
    return checkpoint


def load_any_estimator(base: type, checkpoint_path, *args, **kwargs):
    """Builds the subclass of ``base`` recorded in the checkpoint (by the cmpe CLI) and loads it.

    Loading a checkpoint restores the networks named in its config (``class_path``): it imports and builds
    them, so load only checkpoints you trust as you would run their code.
    """
    checkpoint = read_checkpoint(checkpoint_path)
    class_path = checkpoint.get("hyper_parameters", {}).get("_class_path")
    if class_path is None:
        raise InputError(
            f"Checkpoint {str(checkpoint_path)!r} does not record its estimator class (it was not trained through"
            f" the cmpe CLI): call load_from_checkpoint on the estimator class itself."
        )
    module_name, _, class_name = class_path.rpartition(".")
    target = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(target, type) and issubclass(target, base)):
        raise InputError(f"Checkpoint {str(checkpoint_path)!r} records {class_path!r}, not a {base.__name__}.")
    return target.load_from_checkpoint(checkpoint_path, *args, **kwargs)
