"""Checks of user-given arguments, with errors that name the argument, the value and what was expected."""

from __future__ import annotations

import numbers

from .errors import InputError


def positive_int(value: object, name: str) -> int:
    """``value`` as an int if it is a positive integer (a Python or numpy int, not a bool, float or string).

    Example:
        >>> positive_int(3, "num_steps")
        3
        >>> positive_int(2.5, "num_steps")
        Traceback (most recent call last):
        ...
        cmpe_lightning.utils.errors.InputError: num_steps must be a positive integer, got 2.5.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)
