"""Maximum mean discrepancy between the true parameters and posterior draws."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..utils.errors import InputError
from .base import PosteriorMetric

# the kernel widths of BayesFlow's MMD (variances of the Gaussian kernels), which the CMPE paper reports
BAYESFLOW_WIDTHS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 5, 10, 15, 20, 25, 30, 35, 100, 1e3, 1e4, 1e5, 1e6)


def mmd_squared(a: Tensor, b: Tensor, widths: Sequence[float] = BAYESFLOW_WIDTHS) -> Tensor:
    r"""The unbiased squared MMD of samples ``a`` ``(n, d)`` and ``b`` ``(m, d)`` under a sum of Gaussian kernels.

    .. math:: k(u, v) = \sum_s \exp\big(-\lVert u - v \rVert^2 / (2 s)\big), \qquad
              \mathrm{MMD}^2_u = \overline{k(a, a')} + \overline{k(b, b')} - 2\, \overline{k(a, b)}

    where the first two means leave out the pairs of a sample with itself: the biased estimator keeps them and
    adds about ``2 k(u, u) / n`` (with 19 kernels and 100 images: about 0.3, far above the signal). The
    unbiased estimate is zero in expectation for equal distributions and may then be slightly negative.

    References:
        | A Kernel Two-Sample Test (Gretton et al., 2012), Lemma 6 https://jmlr.org/papers/v13/gretton12a.html

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(300, 2, generator=g), torch.randn(300, 2, generator=g)
        >>> abs(float(mmd_squared(a, b))) < 0.05 < float(mmd_squared(a, b + 3))
        True
    """
    if len(a) < 2 or len(b) < 2:
        raise InputError(f"The MMD needs at least 2 samples on each side, got {len(a)} and {len(b)}.")
    scales = 1 / (2 * torch.tensor(widths, dtype=torch.float64, device=a.device))

    def kernel_sum(u: Tensor, v: Tensor) -> Tensor:
        distances = torch.cdist(u.double(), v.double()).square()
        return torch.exp(-distances[..., None] * scales).sum(-1)

    n, m, self_similarity = len(a), len(b), float(len(widths))  # k(u, u) = one per kernel
    within_a = (kernel_sum(a, a).sum() - n * self_similarity) / (n * (n - 1))
    within_b = (kernel_sum(b, b).sum() - m * self_similarity) / (m * (m - 1))
    return within_a + within_b - 2 * kernel_sum(a, b).mean()


class MMD(PosteriorMetric):
    """Unbiased squared MMD between the true parameters and one posterior draw per observation, logged as ``mmd``.

    For a correct posterior the draws, taken across observations, follow the prior, as the true parameters
    do, so the MMD is near zero; it measures whether the draws look like real parameters (images), not
    whether they fit their observation (see the RMSE for that). Kernels as BayesFlow's (and the CMPE paper's).

    Args:
        widths: variances of the summed Gaussian kernels.

    Example:
        >>> metric = MMD()
        >>> theta = torch.randn(200, 3)
        >>> metric.update(torch.randn(200, 1, 3), theta)
        >>> abs(float(metric.compute())) < 0.1
        True
    """

    name = "mmd"
    higher_is_better = False

    def __init__(self, widths: Sequence[float] = BAYESFLOW_WIDTHS, **kwargs):
        super().__init__(**kwargs)
        self.widths = tuple(float(w) for w in widths)
        self.add_state("draws", default=[], dist_reduce_fx="cat")
        self.add_state("thetas", default=[], dist_reduce_fx="cat")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        self.check(samples, theta)
        self.draws.append(samples[:, 0].detach().flatten(1).double())
        self.thetas.append(theta.detach().flatten(1).double())

    def compute(self) -> Tensor:
        draws, thetas = (torch.cat(s) if isinstance(s, list) else s for s in (self.draws, self.thetas))
        return mmd_squared(thetas, draws, self.widths).float()


class ReferenceMMD(PosteriorMetric):
    """Unbiased squared MMD between posterior draws and the reference posterior's, per observation, averaged.

    Logged as ``mmd`` on the tasks with a reference posterior (next to C2ST); zero in expectation for a
    correct posterior. At most ``max_points`` draws of each set enter (the cost grows with their square).

    Args:
        widths: variances of the summed Gaussian kernels (BayesFlow's).
        max_points: draws per set and observation.

    Example:
        >>> metric = ReferenceMMD()
        >>> g = torch.Generator().manual_seed(0)
        >>> metric.update(torch.randn(2, 300, 2, generator=g), torch.zeros(2, 2), torch.randn(2, 300, 2, generator=g))
        >>> abs(float(metric.compute())) < 0.05
        True
    """

    name = "mmd"
    requires_reference = True
    higher_is_better = False

    def __init__(self, widths: Sequence[float] = BAYESFLOW_WIDTHS, max_points: int = 1000, **kwargs):
        super().__init__(**kwargs)
        if max_points < 2:
            raise InputError(f"max_points must be at least 2, got {max_points}.")
        self.widths, self.max_points = tuple(float(w) for w in widths), max_points
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        if reference is None:
            raise InputError("ReferenceMMD needs reference posterior draws: update(samples, theta, reference).")
        self.check(samples, theta, reference)
        for drawn, ref in zip(samples, reference):
            self.total += mmd_squared(drawn[: self.max_points].flatten(1), ref[: self.max_points].flatten(1),
                                      self.widths)
            self.count += 1

    def compute(self) -> Tensor:
        return (self.total / self.count).float()
