"""Posterior z-scores and contraction (Schad, Betancourt & Vasishth, 2021): where and how sharply the posterior sits."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import PosteriorMetric


class PosteriorZScore(PosteriorMetric):
    r"""Root mean square of the posterior z-scores, logged as ``zscore``: about 1 for a calibrated posterior.

    .. math:: z_{ij} = (\bar\theta_{ij} - \theta_{ij}) / s_{ij}

    with the draws' mean :math:`\bar\theta` and standard deviation :math:`s` for observation ``i`` and
    parameter ``j``. Above 1: the posterior is too narrow or off target; below 1: too wide.
    :meth:`scores` gives all of them (for a z-score against contraction plot).

    Example:
        >>> metric = PosteriorZScore()
        >>> g = torch.Generator().manual_seed(0)
        >>> metric.update(torch.randn(2000, 100, 2, generator=g), torch.randn(2000, 2, generator=g))
        >>> abs(float(metric.compute()) - 1) < 0.05  # the prior is a calibrated posterior of uninformative data
        True
    """

    name = "zscore"
    higher_is_better = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("score_batches", default=[], dist_reduce_fx="cat")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        self.check(samples, theta)
        samples, theta = samples.detach().flatten(2).double(), theta.detach().flatten(1).double()
        self.score_batches.append((samples.mean(1) - theta) / samples.std(1).clamp_min(1e-12))

    def scores(self) -> Tensor:
        """``(num_observations, d)`` z-scores."""
        return torch.cat(self.score_batches) if isinstance(self.score_batches, list) else self.score_batches

    def compute(self) -> Tensor:
        return self.scores().square().mean().sqrt().float()


class PosteriorContraction(PosteriorMetric):
    r"""Mean posterior contraction, logged as ``contraction``: 0 when the data teach nothing, 1 for a point mass.

    .. math:: c_{ij} = 1 - s_{ij}^2 / \sigma_j^2

    with the posterior variance :math:`s_{ij}^2` of the draws and the prior variance :math:`\sigma_j^2`,
    estimated by the variance of the test set's true parameters. :meth:`values` gives all of them.

    Example:
        >>> metric = PosteriorContraction()
        >>> theta = torch.randn(1000, 2)
        >>> metric.update(theta[:, None] + 0.5 * torch.randn(1000, 100, 2), theta)
        >>> abs(float(metric.compute()) - 0.75) < 0.05
        True
    """

    name = "contraction"
    higher_is_better = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("variances", default=[], dist_reduce_fx="cat")
        self.add_state("thetas", default=[], dist_reduce_fx="cat")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        self.check(samples, theta)
        self.variances.append(samples.detach().flatten(2).double().var(1))
        self.thetas.append(theta.detach().flatten(1).double())

    def values(self) -> Tensor:
        """``(num_observations, d)`` contractions."""
        variances, thetas = (torch.cat(s) if isinstance(s, list) else s for s in (self.variances, self.thetas))
        prior = thetas.var(0).clamp_min(1e-12)
        return 1 - variances / prior

    def compute(self) -> Tensor:
        return self.values().mean().float()
