"""How often central credible intervals of the draws contain the true parameter: coverage and calibration error."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..utils.checks import positive_int
from ..utils.errors import InputError
from .base import PosteriorMetric


def central_interval_hits(samples: Tensor, theta: Tensor, levels: Sequence[float] | Tensor) -> Tensor:
    """Whether each true parameter entry lies in the draws' central interval of each level: ``(batch, levels, d)``.

    Args:
        samples: ``(batch, n, *theta_shape)`` draws.
        theta: ``(batch, *theta_shape)`` true parameters.
        levels: credible levels in (0, 1).
    """
    samples, theta = samples.detach().flatten(2).float(), theta.detach().flatten(1).float()
    levels = torch.as_tensor(levels, dtype=torch.float32, device=samples.device)
    tails = torch.cat([(1 - levels) / 2, (1 + levels) / 2])
    low, high = torch.quantile(samples, tails, dim=1).chunk(2)  # (levels, batch, d) each
    return ((theta >= low) & (theta <= high)).transpose(0, 1)


class IntervalCoverage(PosteriorMetric):
    """The fraction of true parameter entries inside the draws' central ``level`` interval, logged as
    ``coverage_<level>``.

    Pooled over observations and entries (for images: per-pixel coverage); ``level`` for a calibrated
    posterior, lower for an overconfident one, higher for an underconfident one. With ``n`` draws the
    interval's ends are empirical quantiles, so expect deviations of order ``1 / n``.

    Args:
        level: the credible level of the central interval.

    Example:
        >>> metric = IntervalCoverage(0.9)
        >>> metric.update(torch.randn(2000, 200, 1), torch.randn(2000, 1))
        >>> abs(float(metric.compute()) - 0.9) < 0.03
        True
    """

    higher_is_better = None

    def __init__(self, level: float = 0.9, **kwargs):
        super().__init__(**kwargs)
        if not 0 < level < 1:
            raise InputError(f"level must lie in (0, 1), got {level}.")
        self.level = level
        self.name = f"coverage_{round(100 * level):d}"
        self.add_state("inside", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        self.check(samples, theta)
        hits = central_interval_hits(samples, theta, [self.level])
        self.inside += hits.sum()
        self.count += hits.numel()

    def compute(self) -> Tensor:
        return (self.inside / self.count).float()


class CalibrationError(PosteriorMetric):
    """The paper's calibration error: per parameter, the median over credible levels of |coverage - level|;
    logged as ``calibration_error``, the maximum over parameters.

    Coverage at level ``a`` is the fraction of test observations whose true parameter lies in the draws'
    central ``a`` interval, at ``num_levels`` levels evenly spaced in [0.005, 0.995] (paper: 20). 0 for a
    calibrated posterior (up to the Monte Carlo error of the number of observations); large for a shifted,
    over- or under-confident one. :meth:`coverage` gives the whole curve per parameter, and
    :meth:`per_parameter` the errors.

    References:
        | Consistency Models for Scalable and Fast Simulation-Based Inference (Schmitt et al., 2024)
        | https://arxiv.org/abs/2312.05440

    Args:
        num_levels: credible levels evaluated.

    Example:
        >>> metric = CalibrationError()
        >>> g = torch.Generator().manual_seed(0)
        >>> theta = torch.randn(1000, 2, generator=g)
        >>> metric.update(torch.randn(1000, 200, 2, generator=g), theta)  # the prior is calibrated
        >>> float(metric.compute()) < 0.05
        True
    """

    name = "calibration_error"
    higher_is_better = False

    def __init__(self, num_levels: int = 20, **kwargs):
        super().__init__(**kwargs)
        num_levels = positive_int(num_levels, "num_levels")
        self.levels = torch.linspace(0.005, 0.995, num_levels, dtype=torch.float64)
        # per batch, how many observations' intervals held the truth: (1, levels, d); concatenated under DDP
        self.add_state("inside", default=[], dist_reduce_fx="cat")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        self.check(samples, theta)
        self.inside.append(central_interval_hits(samples, theta, self.levels).double().sum(0, keepdim=True))
        self.count += len(theta)

    def coverage(self) -> Tensor:
        """Empirical coverage ``(levels, d)`` at the levels ``self.levels``."""
        inside = torch.cat(self.inside) if isinstance(self.inside, list) else self.inside
        return inside.sum(0) / self.count

    def per_parameter(self) -> Tensor:
        """The calibration error of each parameter, ``(d,)``."""
        coverage = self.coverage()
        return (coverage - self.levels.to(coverage.device)[:, None]).abs().median(0).values

    def compute(self) -> Tensor:
        return self.per_parameter().max().float()
