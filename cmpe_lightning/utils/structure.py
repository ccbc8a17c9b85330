"""Observations are a tensor or a dict of named tensors; these helpers treat both alike.

An observation *shape* is accordingly a tuple (``(2,)`` for two moons) or a dict of tuples (the tumor's
``{"growth_curve": (20,), ...}``); a batch of observations is a tensor ``(batch, *shape)`` or a dict of such
tensors with one common batch size.

Example:
    >>> x = {"a": torch.zeros(4, 3), "b": torch.zeros(4, 2, 2)}
    >>> batch_size(x), shape_of(x)
    (4, {'a': (3,), 'b': (2, 2)})
    >>> check_batch(x, {"a": (3,), "b": (2, 2)}, "x")
    4
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

import torch
from torch import Tensor

from .errors import InputError

Shape = tuple[int, ...]
ShapeSpec = Union[Shape, dict[str, Shape]]  # the shape of one observation
Batch = Union[Tensor, dict[str, Tensor]]  # observations (batch, *shape) or a dict of them


def normalize_shape(spec: int | Sequence[int] | Mapping[str, Sequence[int]]) -> ShapeSpec:
    """A shape as a tuple of ints (an int is the 1-D case), or a dict of such tuples, checked to be positive."""
    if isinstance(spec, Mapping):
        if not spec:
            raise InputError("An observation made of named parts needs at least one part, got an empty dict.")
        return {str(name): normalize_shape(part) for name, part in spec.items()}
    shape = (int(spec),) if isinstance(spec, int) else tuple(int(s) for s in spec)
    if not shape or any(s < 1 for s in shape):
        raise InputError(f"A shape must be a non-empty sequence of positive integers, got {spec!r}.")
    return shape


def map_structure(fn: Callable[[Any], Any], value: Any) -> Any:
    """Applies ``fn`` to every tensor (or array) in nested dicts, tuples and lists, keeping the nesting."""
    if isinstance(value, Mapping):
        return {key: map_structure(fn, item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(map_structure(fn, item) for item in value)
    return fn(value)


def leaves(value: Any) -> list[Any]:
    """The tensors of a nested structure, in order."""
    found: list[Any] = []
    map_structure(found.append, value)
    return found


def batch_size(x: Batch) -> int:
    """The common first dimension of a tensor or of every tensor of a dict."""
    sizes = {len(leaf) for leaf in leaves(x)}
    if len(sizes) != 1:
        raise InputError(f"The parts of one batch have different first dimensions: {shape_of(x, full=True)}.")
    return sizes.pop()


def shape_of(x: Batch, full: bool = False) -> ShapeSpec:
    """The shape of one item of ``x`` (or, with ``full``, of the whole batch)."""
    return map_structure(lambda t: tuple(t.shape) if full else tuple(t.shape[1:]), x)


def describe(spec: ShapeSpec, leading: str = "batch") -> str:
    """``(batch, 2)`` or ``{growth_curve: (batch, 20), ...}``, for error messages."""
    if isinstance(spec, dict):
        return "{" + ", ".join(f"{name}: {describe(part, leading)}" for name, part in spec.items()) + "}"
    return "(" + ", ".join(map(str, (leading, *spec))) + ")"


def check_batch(x: Batch, spec: ShapeSpec, what: str) -> int:
    """Checks that ``x`` is a batch of observations of shape ``spec``; returns the batch size.

    The error names what was found and what was expected.
    """
    found = map_structure(lambda t: tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__, x)
    matches = isinstance(x, Mapping) == isinstance(spec, dict) and (
        set(x) == set(spec) and all(_matches(x[k], spec[k]) for k in spec) if isinstance(spec, dict)
        else _matches(x, spec)
    )
    if not matches:
        raise InputError(f"{what} must have shape {describe(spec)}, got {found}.")
    return batch_size(x)


def _matches(t: Any, shape: Shape) -> bool:
    return isinstance(t, Tensor) and t.ndim == len(shape) + 1 and tuple(t.shape[1:]) == tuple(shape)


def zeros(spec: ShapeSpec, num: int, device: torch.device | str = "cpu") -> Batch:
    """A batch of ``num`` zero observations of shape ``spec`` (for dry runs of networks)."""
    if isinstance(spec, dict):
        return {name: torch.zeros(num, *part, device=device) for name, part in spec.items()}
    return torch.zeros(num, *spec, device=device)


def as_float_tensors(x: Any, device: torch.device | str) -> Batch:
    """Converts arrays, nested lists or tensors (or a dict of them) to float32 tensors on ``device``."""
    if isinstance(x, Mapping):
        return {name: torch.as_tensor(part, dtype=torch.float32, device=device) for name, part in x.items()}
    return torch.as_tensor(x, dtype=torch.float32, device=device)


def is_finite(x: Batch) -> Tensor:
    """``(batch,)``: whether every value of each observation is finite."""
    return torch.stack([torch.isfinite(t).flatten(1).all(1) for t in leaves(x)]).all(0)


def finite_pairs(theta: Tensor, x: Any) -> tuple[Tensor, Any, int]:
    """``(theta, x)`` without the pairs that hold NaN or inf anywhere, and how many were dropped.

    Example:
        >>> theta, x = torch.zeros(3, 2), torch.tensor([[0.0], [float("nan")], [1.0]])
        >>> kept_theta, kept_x, dropped = finite_pairs(theta, x)
        >>> kept_x.flatten().tolist(), dropped
        ([0.0, 1.0], 1)
    """
    keep = is_finite(x) & torch.isfinite(theta).flatten(1).all(1)
    dropped = int((~keep).sum())
    if dropped == 0:
        return theta, x, 0
    return theta[keep], map_structure(lambda t: t[keep], x), dropped
