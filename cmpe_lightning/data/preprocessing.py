"""Preprocessing: turns the named outputs of a simulation bank's runs into the one tensor ``x`` of the estimators.

A preprocessing object is fitted on the training runs only. Its statistics are part of the DataModule's
state, and so of checkpoints: validation, test and prediction use the training statistics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

Outputs = Mapping[str, np.ndarray]  # output name -> (num_runs, *shape of one run)
OutputShapes = Mapping[str, Sequence[int]]  # output name -> shape of one run, as in the bank's manifest

GROWTH_CURVE = "growth_curve"
ECM_PROFILE = "extra_cellular_matrix_profile"
PROLIFERATION_PROFILE = "proliferation_profile"


class Preprocessing:
    """Base class: maps outputs ``{name: (num, *shape)}`` to observations ``x`` of shape ``(num, *x_shape)``.

    Subclasses implement :meth:`x_shape`, which also checks that the outputs they need exist with usable
    shapes (from the manifest, before any shard is read), and :meth:`__call__`. Those with statistics also
    implement :meth:`fit`, :meth:`state_dict` and :meth:`load_state_dict`, and report :attr:`fitted`.
    """

    def x_shape(self, output_shapes: OutputShapes) -> tuple[int, ...]:
        """The shape of one ``x`` made from outputs of ``output_shapes``; errors on missing or bad outputs."""
        raise NotImplementedError

    def __call__(self, outputs: Outputs) -> Tensor:
        """Float32 observations ``(num, *x_shape)``."""
        raise NotImplementedError

    def fit(self, outputs: Outputs) -> None:
        """Fits the statistics on the training runs' outputs; nothing to fit by default."""
        self.check(outputs)

    @property
    def fitted(self) -> bool:
        return True

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass

    def check(self, outputs: Outputs) -> int:
        """Checks the shapes of ``outputs`` and returns the number of runs."""
        self.x_shape({name: np.shape(array)[1:] for name, array in outputs.items()})
        lengths = {name: len(array) for name, array in outputs.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"{type(self).__name__} needs the same number of runs of every output, got {lengths}.")
        return next(iter(lengths.values()))

    def output_shape(self, output_shapes: OutputShapes, name: str) -> tuple[int, ...]:
        if name not in output_shapes:
            raise ValueError(f"{self!r} needs the output {name!r}, but there are only {sorted(output_shapes)}.")
        return tuple(int(s) for s in output_shapes[name])

    def __repr__(self) -> str:
        return type(self).__name__


class SelectOutput(Preprocessing):
    """Uses the output ``key`` as ``x``, only cast to float32: the default, for the banks of the cheap simulators.

    Example:
        >>> select = SelectOutput("x")
        >>> select.x_shape({"x": (10, 2)})
        (10, 2)
        >>> select({"x": np.zeros((4, 10, 2))}).shape
        torch.Size([4, 10, 2])
    """

    def __init__(self, key: str = "x"):
        self.key = key

    def x_shape(self, output_shapes: OutputShapes) -> tuple[int, ...]:
        return self.output_shape(output_shapes, self.key)

    def __call__(self, outputs: Outputs) -> Tensor:
        self.check(outputs)
        return torch.from_numpy(np.asarray(outputs[self.key], dtype=np.float32))

    def __repr__(self) -> str:
        return f"SelectOutput(key={self.key!r})"


class TumorPreprocessing(Preprocessing):
    """The tumor spheroid growth model's outputs, preprocessed as in the CMPE paper and packed into one vector.

    - ``growth_curve`` (the spheroid radius on 20 days): standardized with one mean and std over all days
      and training runs (the paper's scalar per channel; a per-day standardization would remove the growth
      trend that the summary network reads), a sequence ``(days, 1)``;
    - ``extra_cellular_matrix_profile`` and ``proliferation_profile`` (1000 radial bins each): truncated to
      their first ``profile_bins`` bins and stacked with a position channel (the bin index) into
      ``(profile_bins, 3)``, each channel standardized with one mean and std over bins and training runs.

    The estimators take one tensor, so both parts are packed into a flat vector of
    ``x_shape = (days + 3 * profile_bins,)`` (920 for the tumor's 20 days and 300 bins):
    ``x[:days]`` is the growth curve, and ``x[days:]`` the ``(profile_bins, 3)`` block flattened row-major,
    so that ``x[days + 3 * b + c]`` is channel ``c`` (0: matrix, 1: proliferation, 2: position) of bin ``b``.
    :class:`~cmpe_lightning.networks.TumorSummary` unpacks it.

    References:
        | Consistency Models for Scalable and Fast Simulation-Based Inference (Schmitt et al., 2024), tumor model
        | https://arxiv.org/abs/2312.05440
        | The model: Jagiella et al. (2017), Cell Systems 4(2), https://doi.org/10.1016/j.cels.2016.12.002

    Args:
        profile_bins: leading bins of each profile kept.

    Example:
        >>> outputs = {"growth_curve": np.random.rand(8, 20), "extra_cellular_matrix_profile": np.random.rand(8, 1000),
        ...            "proliferation_profile": np.random.rand(8, 1000)}
        >>> tumor = TumorPreprocessing(profile_bins=300)
        >>> tumor.fit(outputs)
        >>> tumor(outputs).shape, tumor.x_shape({name: a.shape[1:] for name, a in outputs.items()})
        (torch.Size([8, 920]), (920,))
    """

    def __init__(self, profile_bins: int = 300):
        if profile_bins < 1:
            raise ValueError(f"profile_bins must be a positive integer, got {profile_bins}.")
        self.profile_bins = int(profile_bins)
        self.growth_mean: float | None = None
        self.growth_std: float | None = None
        self.profile_mean: np.ndarray | None = None  # (3,): matrix, proliferation, position
        self.profile_std: np.ndarray | None = None

    def x_shape(self, output_shapes: OutputShapes) -> tuple[int, ...]:
        growth = self.output_shape(output_shapes, GROWTH_CURVE)
        if len(growth) != 1:
            raise ValueError(f"{self!r} expects the output {GROWTH_CURVE!r} of shape (days,), got {growth}.")
        for name in (ECM_PROFILE, PROLIFERATION_PROFILE):
            shape = self.output_shape(output_shapes, name)
            if len(shape) != 1 or shape[0] < self.profile_bins:
                raise ValueError(
                    f"{self!r} expects the output {name!r} of shape (bins,) with bins >= {self.profile_bins},"
                    f" got {shape}."
                )
        return (growth[0] + 3 * self.profile_bins,)

    def fit(self, outputs: Outputs) -> None:
        self.check(outputs)
        growth = np.asarray(outputs[GROWTH_CURVE], dtype=np.float64)
        self.growth_mean, self.growth_std = float(growth.mean()), nonzero(growth.std())
        profiles = self.profiles(outputs)
        self.profile_mean = profiles.mean(axis=(0, 1))
        self.profile_std = np.array([nonzero(s) for s in profiles.std(axis=(0, 1))])

    def __call__(self, outputs: Outputs) -> Tensor:
        if not self.fitted:
            raise RuntimeError(
                f"{self!r} is not fitted: call fit() on the training runs' outputs or load_state_dict() first."
            )
        num = self.check(outputs)
        growth = (np.asarray(outputs[GROWTH_CURVE], dtype=np.float64) - self.growth_mean) / self.growth_std
        profiles = (self.profiles(outputs) - self.profile_mean) / self.profile_std
        return torch.from_numpy(np.concatenate([growth, profiles.reshape(num, -1)], axis=1).astype(np.float32))

    def profiles(self, outputs: Outputs) -> np.ndarray:
        """The unstandardized ``(num, profile_bins, 3)`` block: matrix, proliferation and position channels."""
        matrix, proliferation = (np.asarray(outputs[name][:, : self.profile_bins], dtype=np.float64)
                                 for name in (ECM_PROFILE, PROLIFERATION_PROFILE))
        position = np.broadcast_to(np.arange(self.profile_bins, dtype=np.float64), matrix.shape)
        return np.stack([matrix, proliferation, position], axis=-1)

    @property
    def fitted(self) -> bool:
        return self.growth_mean is not None

    def state_dict(self) -> dict[str, Any]:
        if not self.fitted:
            return {}
        # plain floats, so that checkpoints load with torch.load(weights_only=True)
        return {"profile_bins": self.profile_bins, "growth_mean": self.growth_mean, "growth_std": self.growth_std,
                "profile_mean": self.profile_mean.tolist(), "profile_std": self.profile_std.tolist()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not state_dict:
            return
        if state_dict["profile_bins"] != self.profile_bins:
            raise ValueError(
                f"The statistics were fitted with profile_bins={state_dict['profile_bins']}, but this is {self!r}:"
                " set the same profile_bins as in training."
            )
        self.growth_mean, self.growth_std = float(state_dict["growth_mean"]), float(state_dict["growth_std"])
        self.profile_mean, self.profile_std = np.array(state_dict["profile_mean"]), np.array(state_dict["profile_std"])

    def __repr__(self) -> str:
        return f"TumorPreprocessing(profile_bins={self.profile_bins})"


def nonzero(std: float) -> float:
    """A standard deviation to divide by: a constant input keeps std 1 instead of dividing by zero."""
    return float(std) if std > 0 else 1.0
