"""How an estimator draws at each stage of a run: one validated, typed description, owned by the estimator."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..utils.checks import positive_int
from ..utils.errors import InputError, InputTypeError

if TYPE_CHECKING:
    from .base import PosteriorDraws

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


class StageSampling:
    """The sampling settings of :class:`~cmpe_lightning.estimators.PosteriorEstimator`: read as ``sampling[stage]``,
    changed only by :meth:`configure_sampling` (and the sampler's defaults by :meth:`set_sampler_defaults`), used by
    :meth:`draw_at`, saved in the checkpoint."""

    def reset_sampling(self) -> None:
        """Every stage back to the default :class:`SamplingSettings` (not hyperparameters)."""
        self._sampling = {stage: SamplingSettings() for stage in STAGES}
        self._configured_stages: set[str] = set()  # in this process: a loaded checkpoint's settings do not replace them

    @property
    def sampling(self) -> Mapping[str, SamplingSettings]:
        """How the estimator draws at each stage (``validate``, ``test``, ``predict``); change with
        :meth:`configure_sampling`. Saved in the checkpoint."""
        return MappingProxyType(self._sampling)

    @classmethod
    def sampler_option_names(cls) -> set[str]:
        """The sampler's own options: the keyword arguments of :meth:`standardized_sample` (and ``max_batch_size``)."""
        return ({*inspect.signature(cls.standardized_sample).parameters, "max_batch_size"}
                - {"self", "context", "generator"})

    def configure_sampling(self, stages: str | Sequence[str], **changes: Any) -> None:
        """Sets how the estimator draws at ``stages`` (``validate``, ``test``, ``predict``, or several).

        ``changes`` are fields of :class:`SamplingSettings` (``num_samples``, ``max_batch_size``, ``options``);
        the stage keeps the others. ``options`` (the sampler's, such as ``{"num_steps": 30}``) are checked against
        :meth:`sampler_option_names` and replace the stage's.

        Example::

            estimator.configure_sampling(["test", "predict"], options={"num_steps": 2})
        """
        stages = [check_stage(stage) for stage in ([stages] if isinstance(stages, str) else stages)]
        unknown = sorted(set(changes) - {field.name for field in dataclasses.fields(SamplingSettings)})
        if unknown:
            raise InputTypeError(f"configure_sampling got unknown setting(s) {unknown}; expected num_samples,"
                                 " max_batch_size or options.")
        if "options" in changes:
            self.check_sampler_options(changes["options"])
        for stage in stages:
            self._sampling[stage] = self._sampling[stage].replace(**changes)
            self._configured_stages.add(stage)

    def sampling_steps(self, options: Mapping[str, Any]) -> int | None:
        """The network evaluations per draw that the sampler ``options`` fix in advance (CMPE's K, a fixed-step ODE
        solver's steps), or ``None`` where the sampler has no such number (a flow's one pass, an adaptive solver)."""
        return None

    def check_sampler_options(self, options: Mapping[str, Any]) -> None:
        """An error naming the options that are not :meth:`sampler_option_names`."""
        accepted = self.sampler_option_names()
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise InputError(f"Unknown sampler option(s) {unknown} for {type(self).__name__}; expected some of"
                             f" {sorted(accepted)}.")

    def set_sampler_defaults(self, **defaults: Any) -> None:
        """Changes the defaults of sampler options that are constructor arguments (CMPE's ``num_steps``), in
        ``hparams`` too, so that the checkpoints saved from now on build the estimator with them."""
        self.check_sampler_options(defaults)
        for name, value in defaults.items():
            if not hasattr(self, name):
                raise InputError(f"{type(self).__name__} has no default {name} to change; it takes {name} per call.")
            setattr(self, name, value)
            self.hparams[name] = value

    def draw_at(self, stage: str, x: Tensor | Mapping[str, Tensor], num_samples: int | None = None,
                generator: torch.Generator | None = None, check_range: bool | None = None) -> PosteriorDraws:
        """:meth:`draw` with the settings of ``stage`` (``num_samples`` given here wins over the stage's).

        ``check_range`` defaults to whether the observations are the user's (``predict``); the simulated pairs of
        validation and test would only make noise with their rare tails.
        """
        settings = self._sampling[check_stage(stage)]
        return self.draw(x, settings.num_samples if num_samples is None else num_samples, generator,
                         check_range=stage == "predict" if check_range is None else check_range,
                         **settings.draw_options())

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["sampling"] = {stage: settings.to_dict() for stage, settings in self._sampling.items()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # settings given in this process (the CLI's --sampler, a callback's num_samples) win over the saved ones
        for stage, saved in checkpoint.get("sampling", {}).items():
            if stage in STAGES and stage not in self._configured_stages:
                self._sampling[stage] = SamplingSettings(**saved)
