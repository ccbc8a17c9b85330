"""The tumor model's observation preprocessing: from its three raw outputs to the summary network's input."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...utils.checks import positive_int
from ...utils.errors import InputError

GROWTH_CURVE = "growth_curve"
ECM_PROFILE = "extra_cellular_matrix_profile"
PROLIFERATION_PROFILE = "proliferation_profile"
PROFILE_CHANNELS = 3  # extra-cellular matrix, proliferation, position


class TumorPreprocessing(nn.Module):
    """Turns the tumor's raw outputs into the inputs of :class:`TumorSummary`, as in the CMPE paper.

    - ``growth_curve`` (the spheroid radius on each day) is standardized with one mean and std over all
      days and training runs (a per-day standardization would remove the growth trend that the summary
      network reads) and returned as a sequence ``(batch, days, 1)``;
    - ``extra_cellular_matrix_profile`` and ``proliferation_profile`` (1000 radial bins each) are cut to
      their first ``profile_bins`` bins and stacked with a position channel (the bin index) into
      ``profiles`` ``(batch, 3, profile_bins)``, each channel standardized over bins and training runs.

    The statistics are buffers: fitted on the training runs by the estimator at the start of ``fit`` and
    saved in its checkpoint, so that a loaded estimator takes observations exactly as the simulator gives them.

    References:
        | Consistency Models for Scalable and Fast Simulation-Based Inference (Schmitt et al., 2024), tumor model
        | https://arxiv.org/abs/2312.05440

    Args:
        profile_bins: leading bins of each profile kept.

    Example:
        >>> raw = {"growth_curve": torch.rand(8, 20), "extra_cellular_matrix_profile": torch.rand(8, 1000),
        ...        "proliferation_profile": torch.rand(8, 1000)}
        >>> tumor = TumorPreprocessing(profile_bins=300)
        >>> tumor.fit(raw)
        >>> {name: tuple(part.shape) for name, part in tumor(raw).items()}
        {'growth_curve': (8, 20, 1), 'profiles': (8, 3, 300)}
    """

    def __init__(self, profile_bins: int = 300):
        super().__init__()
        self.profile_bins = positive_int(profile_bins, "profile_bins")
        self.register_buffer("growth_mean", torch.zeros(()))
        self.register_buffer("growth_std", torch.ones(()))
        self.register_buffer("profile_mean", torch.zeros(PROFILE_CHANNELS, 1))
        self.register_buffer("profile_std", torch.ones(PROFILE_CHANNELS, 1))
        self.register_buffer("num_fitted", torch.zeros(()))  # a float, so that weight averaging keeps it

    @property
    def fitted(self) -> bool:
        return bool(self.num_fitted > 0)

    def check(self, outputs: dict[str, Tensor]) -> None:
        """Checks that the three outputs are there with usable shapes."""
        if not isinstance(outputs, dict):
            raise InputError(
                f"{self!r} takes the tumor's outputs as a dict"
                f" {{{GROWTH_CURVE}, {ECM_PROFILE}, {PROLIFERATION_PROFILE}}},"
                f" got {type(outputs).__name__}."
            )
        for name in (GROWTH_CURVE, ECM_PROFILE, PROLIFERATION_PROFILE):
            if name not in outputs:
                raise InputError(f"{self!r} needs the output {name!r}, got only {sorted(outputs)}.")
            shape = tuple(outputs[name].shape)
            if len(shape) != 2 or (name != GROWTH_CURVE and shape[1] < self.profile_bins):
                need = "(batch, days)" if name == GROWTH_CURVE else f"(batch, bins) with bins >= {self.profile_bins}"
                raise InputError(f"{self!r} expects {name!r} of shape {need}, got {shape}.")

    def profiles(self, outputs: dict[str, Tensor]) -> Tensor:
        """The unstandardized ``(batch, 3, profile_bins)`` block: matrix, proliferation and position."""
        matrix = outputs[ECM_PROFILE][:, : self.profile_bins]
        proliferation = outputs[PROLIFERATION_PROFILE][:, : self.profile_bins]
        position = torch.arange(self.profile_bins, dtype=matrix.dtype, device=matrix.device).expand_as(matrix)
        return torch.stack([matrix, proliferation, position], dim=1)

    @torch.no_grad()
    def fit(self, outputs: dict[str, Tensor]) -> None:
        """Fits the statistics on the training runs' raw outputs."""
        self.check(outputs)
        growth = outputs[GROWTH_CURVE].double()
        self.growth_mean.copy_(growth.mean())
        self.growth_std.copy_(nonzero(growth.std(unbiased=False)))
        profiles = self.profiles({name: part.double() for name, part in outputs.items()})
        self.profile_mean.copy_(profiles.mean(dim=(0, 2))[:, None])
        self.profile_std.copy_(nonzero(profiles.std(dim=(0, 2), unbiased=False))[:, None])
        self.num_fitted.fill_(len(growth))

    def forward(self, outputs: dict[str, Tensor]) -> dict[str, Tensor]:
        self.check(outputs)
        growth = (outputs[GROWTH_CURVE].float() - self.growth_mean) / self.growth_std
        profiles = (self.profiles({name: part.float() for name, part in outputs.items()}) - self.profile_mean)
        return {"growth_curve": growth[..., None], "profiles": profiles / self.profile_std}

    def extra_repr(self) -> str:
        return f"profile_bins={self.profile_bins}"


def nonzero(std: Tensor) -> Tensor:
    """Standard deviations to divide by: a constant input keeps std 1 instead of dividing by zero."""
    return torch.where(std > 0, std, torch.ones_like(std))
