"""What rebuilds a simulator: its class path and constructor arguments, as banks and reference caches record them."""

from __future__ import annotations

import inspect
import json
from typing import Any

from ..utils.errors import InputError
from .base import Simulator


def describe_simulator(simulator: Simulator, init_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"class_path", "init_args"}`` that rebuild ``simulator``; ``init_args`` default to the attributes named like
    the arguments of its ``__init__``.

    Example:
        >>> from cmpe_lightning import TwoMoons
        >>> describe_simulator(TwoMoons())
        {'class_path': 'cmpe_lightning.tasks.two_moons.TwoMoons', 'init_args': {'proposals_per_round': 100000}}
    """
    cls = type(simulator)
    if init_args is None:
        init_args = {}
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if not hasattr(simulator, name):
                raise InputError(f"Cannot record how to rebuild {cls.__name__}: it keeps no attribute {name!r} for its"
                                 " __init__ argument; pass simulator_config={'init_args': {...}} to build_bank.")
            init_args[name] = getattr(simulator, name)
    # a JSON round trip, so that tuples and lists compare equal with a manifest read back from disk
    return json.loads(json.dumps({"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": init_args},
                                 default=str))
