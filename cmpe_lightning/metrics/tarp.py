"""Tests of accuracy with random points (TARP): a calibration check of the joint posterior, not per parameter."""

from __future__ import annotations

import torch
from torch import Tensor

from ..utils.checks import positive_int
from .base import PosteriorMetric, batch_generator


def tarp_coverage(samples: Tensor, theta: Tensor, references: Tensor) -> Tensor:
    """For each observation, the fraction of draws closer to its reference point than the true parameter, ``(batch,)``.

    Uniform on [0, 1] for a correct posterior (whatever the reference points, if drawn independently of the
    draws); its ECDF against the diagonal is TARP's expected-coverage curve.
    """
    samples, theta = samples.detach().flatten(2).double(), theta.detach().flatten(1).double()
    references = references.double()
    drawn = (samples - references[:, None]).norm(dim=-1)
    true = (theta - references).norm(dim=-1)
    return (drawn < true[:, None]).double().mean(1)


class TARP(PosteriorMetric):
    """TARP's distance of the expected-coverage curve from the diagonal, logged as ``tarp`` (0 for a correct posterior).

    Each observation gets a reference point drawn uniformly from the box spanned by the test set's true
    parameters (standardized by their mean and spread), and :func:`tarp_coverage` the fraction of draws
    nearer to it than the truth; the curve ``ECP(a) = P(fraction < a)`` lies on the diagonal exactly when
    the posterior is correct (Lemos et al., 2023, Theorem 3). The value is the largest distance
    ``max_a |ECP(a) - a|`` (a Kolmogorov–Smirnov distance, so of order ``1 / sqrt(n)`` for ``n`` correct
    observations); :meth:`curve` gives the whole curve.

    References:
        | Sampling-Based Accuracy Testing of Posterior Estimators for General Inference (Lemos et al., 2023)
        | https://arxiv.org/abs/2302.03026

    Args:
        seed: seed of the reference points.
        num_draws: draws kept per observation (the first ones; fewer are resampled with replacement), so that
            test sets mixing observations with different numbers of draws (reference and calibration pairs) stack.

    Example:
        >>> metric = TARP()
        >>> g = torch.Generator().manual_seed(0)
        >>> metric.update(torch.randn(1000, 200, 2, generator=g), torch.randn(1000, 2, generator=g))
        >>> float(metric.compute()) < 0.06
        True
    """

    name = "tarp"
    higher_is_better = False

    def __init__(self, seed: int = 0, num_draws: int = 100, **kwargs):
        super().__init__(**kwargs)
        self.seed, self.num_draws = seed, positive_int(num_draws, "num_draws")
        self.add_state("draws", default=[], dist_reduce_fx="cat")
        self.add_state("thetas", default=[], dist_reduce_fx="cat")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        # the reference points need the whole test set's spread: keep a few draws per observation until compute
        self.check(samples, theta)
        if samples.shape[1] < self.num_draws:  # resampled with replacement: the fraction keeps its expectation
            pick = torch.randint(samples.shape[1], (self.num_draws,), generator=batch_generator(self.seed, theta))
            samples = samples[:, pick.to(samples.device)]
        self.draws.append(samples[:, : self.num_draws].detach().flatten(2).float())
        self.thetas.append(theta.detach().flatten(1).float())

    def fractions(self) -> Tensor:
        draws, thetas = (torch.cat(s) if isinstance(s, list) else s for s in (self.draws, self.thetas))
        mean, std = thetas.mean(0), thetas.std(0).clamp_min(1e-12)
        draws, thetas = (draws - mean) / std, (thetas - mean) / std
        low, high = thetas.min(0).values, thetas.max(0).values
        generator = torch.Generator().manual_seed(self.seed)
        references = low + (high - low) * torch.rand(thetas.shape, generator=generator,
                                                     dtype=torch.float64).to(thetas.device)
        return tarp_coverage(draws, thetas, references)

    def curve(self, num_points: int = 101) -> tuple[Tensor, Tensor]:
        """``(levels, expected coverage)`` of TARP's plot."""
        fractions = self.fractions()
        levels = torch.linspace(0, 1, num_points, dtype=torch.float64, device=fractions.device)
        return levels, (fractions[:, None] < levels).double().mean(0)

    def compute(self) -> Tensor:
        fractions = self.fractions().sort().values
        n = len(fractions)
        # the Kolmogorov–Smirnov distance of the fractions' ECDF from the uniform CDF
        ranks = torch.arange(1, n + 1, dtype=torch.float64, device=fractions.device)
        return torch.maximum(ranks / n - fractions, fractions - (ranks - 1) / n).max().float()
