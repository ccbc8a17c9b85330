"""Standardization of parameters and observations, fitted on training data and stored in checkpoints."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ..utils.errors import InputError

StandardizationMode = Literal["elementwise", "last_dim", "scalar", "none"]


class Standardizer(nn.Module):
    """Affine map ``(v - mean) / std`` with statistics held in buffers (so they travel with checkpoints).

    Args:
        event_shape: the shape of one value (``(theta_dim,)`` or ``x_shape``).
        mode: which statistics are shared. ``elementwise``: one mean/std per entry; ``last_dim``: one per
            entry of the last axis, shared across the others (sets of iid observations); ``scalar``: one for
            all entries (images); ``none``: the identity.

    Example:
        >>> s = Standardizer((3,))
        >>> s.fit(torch.randn(1000, 3) * 5 + 2)
        >>> s(torch.full((1, 3), 2.0)).abs().max() < 0.5
        tensor(True)
    """

    def __init__(self, event_shape: tuple[int, ...], mode: StandardizationMode = "elementwise"):
        super().__init__()
        if mode not in ("elementwise", "last_dim", "scalar", "none"):
            raise InputError(f"Unknown standardization mode {mode!r}; expected elementwise, last_dim, scalar or none.")
        self.mode = mode
        self.event_shape = tuple(event_shape)
        if mode == "elementwise":
            stat_shape = self.event_shape
        elif mode == "last_dim":
            stat_shape = (1,) * (len(self.event_shape) - 1) + self.event_shape[-1:]
        else:
            stat_shape = (1,) * len(self.event_shape)
        self.register_buffer("mean", torch.zeros(stat_shape))
        self.register_buffer("std", torch.ones(stat_shape))
        # how many values the statistics were fitted on; 0 until fit (a float so that averaging keeps it)
        self.register_buffer("num_fitted", torch.zeros(()))

    @property
    def fitted(self) -> bool:
        return self.mode == "none" or bool(self.num_fitted > 0)

    @torch.no_grad()
    def fit(self, values: Tensor) -> None:
        """Computes the statistics from a batch ``(num, *event_shape)`` of training values."""
        if self.mode == "none":
            return
        if tuple(values.shape[1:]) != self.event_shape:
            raise InputError(f"Standardizer expects values of shape (num, {self.event_shape}),"
                             f" got {tuple(values.shape)}.")
        values = values.to(self.mean.device, torch.float64)
        # the axes that share statistics follow from the mode, not from the sizes: an x_shape of (50, 1) keeps one
        # statistic per time point in ``elementwise`` mode (its axis of size 1 is not shared)
        shared = {"elementwise": 0, "last_dim": len(self.event_shape) - 1, "scalar": len(self.event_shape)}[self.mode]
        reduce = list(range(1 + max(shared, 0)))
        self.mean.copy_(values.mean(dim=reduce).reshape(self.mean.shape))
        # a constant entry keeps std 1 instead of dividing by zero
        std = values.std(dim=reduce).reshape(self.std.shape)
        self.std.copy_(torch.where(std > 0, std, torch.ones_like(std)))
        self.num_fitted.fill_(len(values))

    def forward(self, values: Tensor) -> Tensor:
        return (values - self.mean) / self.std

    def inverse(self, values: Tensor) -> Tensor:
        return values * self.std + self.mean


class PartsStandardizer(Standardizer):
    """Observations made of named parts, each part flattened, joined in order and standardized elementwise.

    The default preprocessing of observations with named parts (``x_shape`` a dict): it gives the summary
    network one vector ``(batch, features)``. Tasks whose parts have structure worth keeping (a time series, a
    profile) pass a preprocessing of their own, such as :class:`~cmpe_lightning.TumorPreprocessing`.

    Example:
        >>> s = PartsStandardizer({"curve": (4,), "image": (2, 3)})
        >>> s.fit({"curve": torch.randn(100, 4), "image": torch.randn(100, 2, 3)})
        >>> s({"curve": torch.zeros(5, 4), "image": torch.zeros(5, 2, 3)}).shape
        torch.Size([5, 10])
    """

    def __init__(self, x_shape: Mapping[str, Sequence[int]]):
        self.part_shapes = {name: tuple(shape) for name, shape in x_shape.items()}
        super().__init__((sum(math.prod(shape) for shape in self.part_shapes.values()),), "elementwise")

    def join(self, x: Mapping[str, Tensor]) -> Tensor:
        missing = sorted(set(self.part_shapes) - set(x))
        if missing:
            raise InputError(f"Observations need the parts {sorted(self.part_shapes)}; {missing} missing.")
        return torch.cat([x[name].reshape(len(x[name]), -1) for name in self.part_shapes], 1)

    def fit(self, x: Mapping[str, Tensor]) -> None:
        super().fit(self.join(x))

    def forward(self, x: Mapping[str, Tensor]) -> Tensor:
        return super().forward(self.join(x))
