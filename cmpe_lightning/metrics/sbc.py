"""Simulation-based calibration: ranks of the true parameters among posterior draws, and a test of their uniformity."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import binom
from torch import Tensor

from ..utils.errors import InputError
from .base import PosteriorMetric, batch_generator


def sbc_ranks(samples: Tensor, theta: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Fractional ranks in [0, 1) of the true parameters among the draws, ``(batch, d)``; uniform for a correct
    posterior.

    The rank ``r`` (draws below the truth, of ``L``) is spread over its bin, ``(r + V) / (L + 1)`` with
    ``V ~ U(0, 1)``, so that ties and the discreteness of ranks do not bias the test (Talts et al., 2018).
    """
    samples, theta = samples.detach().flatten(2).double(), theta.detach().flatten(1).double()
    ranks = (samples < theta[:, None]).sum(1).double()
    jitter = torch.rand(ranks.shape, generator=generator, dtype=torch.float64).to(ranks.device)
    return (ranks + jitter) / (samples.shape[1] + 1)


def _tail_probabilities(counts: np.ndarray, num: int, points: np.ndarray) -> np.ndarray:
    """Two-sided binomial tail probability of each ECDF count ``num * F(z)`` under uniformity."""
    lower = binom.cdf(counts, num, points)
    upper = binom.sf(counts - 1, num, points)
    return np.minimum(1.0, 2 * np.minimum(lower, upper))


class ECDFUniformityTest:
    """The simultaneous ECDF test of uniformity of Säilynoja et al. (2022), for ``num`` values at ``num_points`` points.

    The statistic is the smallest two-sided binomial tail probability of the ECDF over the evaluation points;
    its null distribution is simulated once (``num_simulations`` uniform samples). :meth:`pvalue` tests a
    sample; :meth:`band` gives the simultaneous ``1 - alpha`` band of the ECDF (for plots).

    References:
        | Graphical test for discrete uniformity and its applications in goodness-of-fit evaluation and
        | multiple sample comparison (Säilynoja, Bürkner & Vehtari, 2022) https://arxiv.org/abs/2103.10522

    Example:
        >>> test = ECDFUniformityTest(500)
        >>> rng = np.random.default_rng(0)
        >>> test.pvalue(rng.uniform(size=500)) > 0.05, test.pvalue(rng.uniform(size=500) ** 1.5) < 0.01
        (True, True)
        >>> 0 < ECDFUniformityTest(1).pvalue(np.array([0.3])) <= 1  # a single test observation
        True
    """

    def __init__(self, num: int, num_points: int | None = None, num_simulations: int = 1000, seed: int = 0):
        if num < 1:
            raise InputError(f"The ECDF test needs at least one value, got {num}.")
        self.num = num
        intervals = max(2, num_points or min(num, 100))  # at least the median: one value still gets a p-value
        self.points = np.arange(1, intervals) / intervals
        rng = np.random.default_rng(seed)
        null = rng.uniform(size=(num_simulations, num))
        self.null_statistics = np.sort([self.statistic(sample) for sample in null])

    def statistic(self, values: np.ndarray) -> float:
        counts = (np.asarray(values)[:, None] <= self.points).sum(0)
        return float(_tail_probabilities(counts, self.num, self.points).min())

    def pvalue(self, values: np.ndarray) -> float:
        """The fraction of null statistics at most the observed one (with the observed counted in)."""
        observed = self.statistic(values)
        below = np.searchsorted(self.null_statistics, observed, side="right")
        return float((below + 1) / (len(self.null_statistics) + 1))

    def band(self, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(points, lower, upper)``: the simultaneous ``1 - alpha`` band of the ECDF minus the uniform CDF."""
        gamma = np.quantile(self.null_statistics, alpha)
        lower = binom.ppf(gamma / 2, self.num, self.points) / self.num
        upper = binom.ppf(1 - gamma / 2, self.num, self.points) / self.num
        return self.points, lower - self.points, upper - self.points


class SBC(PosteriorMetric):
    """Simulation-based calibration over the test set, logged as ``sbc_pvalue``: the smallest p-value over parameters.

    Each test observation contributes the rank of its true parameter among its draws (:func:`sbc_ranks`);
    uniform ranks are what a correct posterior gives. Non-uniformity is tested per parameter with
    :class:`ECDFUniformityTest`; a small p-value flags a shifted, over- or under-confident posterior.
    :meth:`ranks` returns the ranks for plots. (The minimum over ``d`` parameters is not corrected for
    multiple testing; read it against ``0.05 / d``.)

    Args:
        seed: seed of the rank jitter and of the simulated null distribution.

    Example:
        >>> metric = SBC()
        >>> g = torch.Generator().manual_seed(0)
        >>> metric.update(torch.randn(300, 100, 2, generator=g), torch.randn(300, 2, generator=g))
        >>> float(metric.compute()) > 0.01
        True
    """

    name = "sbc_pvalue"
    higher_is_better = True

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.add_state("rank_batches", default=[], dist_reduce_fx="cat")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        self.check(samples, theta)
        generator = batch_generator(self.seed, theta)
        self.rank_batches.append(sbc_ranks(samples, theta, generator))

    def ranks(self) -> Tensor:
        """Fractional ranks ``(num_observations, d)``."""
        return torch.cat(self.rank_batches) if isinstance(self.rank_batches, list) else self.rank_batches

    def pvalues(self) -> Tensor:
        """The ECDF test's p-value of each parameter, ``(d,)``."""
        ranks = self.ranks().cpu().numpy()
        test = ECDFUniformityTest(len(ranks), seed=self.seed)
        return torch.tensor([test.pvalue(ranks[:, j]) for j in range(ranks.shape[1])])

    def compute(self) -> Tensor:
        return self.pvalues().min().float()
