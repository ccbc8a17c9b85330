"""How an estimator draws at each stage of a run: one validated, typed description, owned by the estimator."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..utils.checks import positive_int
from ..utils.errors import InputError

STAGES = ("validate", "test", "predict")


@dataclasses.dataclass(frozen=True)
class SamplingSettings:
    """How to draw from an estimator at one stage (``validate``, ``test`` or ``predict``).

    Args:
        num_samples: draws per observation (``test`` on a set with a reference posterior draws as many as it has;
            validation callbacks say how many they draw).
        max_batch_size: the most draws computed at once (memory); ``None``: the estimator's ``max_batch_size``.
        options: the sampler's own settings, keyword arguments of ``standardized_sample`` (CMPE: ``num_steps``,
            ``clip``; FMPE: ``solver``, ``num_steps``, ``atol``, ``rtol``); empty: the estimator's defaults.

    Example:
        >>> settings = SamplingSettings(num_samples=500, options={"num_steps": 2})
        >>> settings.replace(max_batch_size=1024).draw_options()
        {'num_steps': 2, 'max_batch_size': 1024}
        >>> SamplingSettings(num_samples=0)
        Traceback (most recent call last):
        ...
        cmpe_lightning.utils.errors.InputError: num_samples must be a positive integer, got 0.
    """

    num_samples: int = 1000
    max_batch_size: int | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_samples", positive_int(self.num_samples, "num_samples"))
        if self.max_batch_size is not None:
            object.__setattr__(self, "max_batch_size", positive_int(self.max_batch_size, "max_batch_size"))
        if not isinstance(self.options, Mapping):
            raise InputError(f"Sampler options must be a mapping such as {{'num_steps': 10}}, got {self.options!r}.")
        object.__setattr__(self, "options", dict(self.options))

    def replace(self, **changes: Any) -> SamplingSettings:
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)

    def draw_options(self) -> dict[str, Any]:
        """The keyword arguments of :meth:`PosteriorEstimator.draw` besides the observations and ``num_samples``."""
        chunk = {} if self.max_batch_size is None else {"max_batch_size": self.max_batch_size}
        return {**self.options, **chunk}

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for the checkpoint."""
        return {"num_samples": self.num_samples, "max_batch_size": self.max_batch_size, "options": dict(self.options)}


def check_stage(stage: str) -> str:
    """``stage`` if it is one of :data:`STAGES`, else an error naming it."""
    if stage not in STAGES:
        raise InputError(f"Unknown sampling stage {stage!r}; expected one of {STAGES}.")
    return stage
