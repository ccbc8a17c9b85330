"""How often central credible intervals of the draws contain the true parameter: coverage and calibration error."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

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
    """The fraction of true parameter entries inside the draws' central ``level`` interval, logged as ``coverage_<level>``.

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
            raise ValueError(f"level must lie in (0, 1), got {level}.")
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
