"""Finding the user's own code: the working folder on the import path, and objects named by import path."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from .errors import InputError


def add_working_folder() -> None:
    """Puts the working folder first on ``sys.path``, so that ``class_path: my_model.MySimulator`` finds
    ``./my_model.py`` from ``cmpe`` and ``cmpe-simulate`` as it does from ``python -m cmpe_lightning``."""
    folder = os.getcwd()
    if folder not in sys.path and "" not in sys.path:
        sys.path.insert(0, folder)


def import_object(path: str) -> Any:
    """The object at the import path ``"package.module.name"``, with an error that says what to check.

    Example:
        >>> import_object("math.pi")
        3.141592653589793
    """
    module_name, _, name = path.rpartition(".")
    if not module_name or not name:
        raise InputError(f"{path!r} is not an import path: expected 'module.name', e.g. 'my_model.simulate'.")
    add_working_folder()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise InputError(
            f"Cannot import {path!r}: {error}. A module of your own must be a file {module_name.replace('.', '/')}.py"
            f" in the working folder ({os.getcwd()}) or on PYTHONPATH."
        ) from error
    if not hasattr(module, name):
        public = sorted(n for n in vars(module) if not n.startswith("_"))[:20]
        raise InputError(f"Module {module_name!r} has no {name!r}; it has {public}.")
    return getattr(module, name)
