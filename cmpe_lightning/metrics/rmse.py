"""Errors of posterior draws and of the posterior mean, per observation and in units of the parameters' spread."""

from __future__ import annotations

import torch
from torch import Tensor

from ..utils.errors import InputError
from .base import PosteriorMetric


class NormalizedRMSE(PosteriorMetric):
    r"""Root mean squared error of the posterior mean, per parameter divided by the true parameters' spread.

    .. math::

        \mathrm{NRMSE} = \sqrt{\frac{1}{d} \sum_j \frac{\frac{1}{N} \sum_i (\bar\theta_{ij} - \theta_{ij})^2}{s_j^2}}

    with :math:`\bar\theta_i` the mean of the draws for observation :math:`i` and :math:`s_j` the standard
    deviation of the true :math:`\theta_{ij}` over the test set (BayesFlow's normalized RMSE divides by
    their range instead). About 1 for an estimator that ignores the data; 0 for a point mass at the truth.

    Example:
        >>> metric = NormalizedRMSE()
        >>> theta = torch.randn(50, 3)
        >>> metric.update(theta[:, None].expand(50, 10, 3), theta)
        >>> float(metric.compute())
        0.0
    """

    name = "normalized_rmse"
    higher_is_better = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("errors", default=[], dist_reduce_fx="cat")  # posterior mean - truth, (N, d)
        self.add_state("thetas", default=[], dist_reduce_fx="cat")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        self.check(samples, theta)
        theta = theta.detach().flatten(1).double()
        self.errors.append(samples.detach().flatten(2).double().mean(1) - theta)
        self.thetas.append(theta)

    def compute(self) -> Tensor:
        errors, thetas = (torch.cat(s) if isinstance(s, list) else s for s in (self.errors, self.thetas))
        spread = thetas.var(0, unbiased=False)
        spread = torch.where(spread > 0, spread, torch.ones_like(spread))  # a constant parameter: plain squared error
        return (errors.square().mean(0) / spread).mean().sqrt().float()


class PosteriorRMSE(PosteriorMetric):
    r"""Root mean squared error of the draws, per observation, averaged over observations (the paper's image RMSE).

    .. math:: \mathrm{RMSE} = \frac{1}{N} \sum_i \sqrt{\frac{1}{n d} \sum_{k, j} (\theta^{(k)}_{ij} - \theta_{ij})^2}

    over ``n`` draws and ``d`` parameter entries (784 pixels) of observation ``i``. A calibrated posterior
    scores about :math:`\sqrt{2}` times the error of its mean. ``of_mean: true`` scores the posterior mean
    instead (the draws' average), logged as ``posterior_mean_rmse``.

    Args:
        of_mean: score the mean of the draws instead of each draw.

    Example:
        >>> metric = PosteriorRMSE()
        >>> metric.update(torch.ones(2, 5, 3), torch.zeros(2, 3))
        >>> float(metric.compute())
        1.0
    """

    higher_is_better = False

    def __init__(self, of_mean: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.of_mean = of_mean
        self.name = "posterior_mean_rmse" if of_mean else "rmse"
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        self.check(samples, theta)
        samples = samples.detach().flatten(2).double()
        if self.of_mean:
            samples = samples.mean(1, keepdim=True)
        error = samples - theta.detach().flatten(1).double()[:, None]
        self.total += error.square().mean((1, 2)).sqrt().sum()
        self.count += len(error)

    def compute(self) -> Tensor:
        return (self.total / self.count).float()


class StandardizedDrawError(PosteriorMetric):
    r"""Error of the posterior draws with every parameter in units of its spread over the test set.

    .. math::
        \mathrm{MAE} = \frac{1}{N n d} \sum_{i, k, j} \frac{|\theta^{(k)}_{ij} - \theta_{ij}|}{s_j}, \qquad
        \mathrm{RMSE} = \sqrt{\frac{1}{N n d} \sum_{i, k, j} \frac{(\theta^{(k)}_{ij} - \theta_{ij})^2}{s_j^2}}

    over ``N`` observations, ``n`` draws and ``d`` parameters, :math:`s_j` the standard deviation of the true
    :math:`\theta_{\cdot j}`. The CMPE paper's tumor table reports the first and calls it RMSE; ``kind:
    rmse`` is a true root mean square, logged as ``standardized_rmse`` (``standardized_mae`` otherwise).

    Args:
        kind: ``"mae"`` or ``"rmse"``.

    Example:
        >>> metric = StandardizedDrawError("rmse")
        >>> theta = torch.tensor([[0.0], [2.0]])  # spread 1
        >>> metric.update(theta[:, None] + torch.tensor([[[1.0], [-1.0]]]), theta)
        >>> float(metric.compute())
        1.0
    """

    higher_is_better = False

    def __init__(self, kind: str = "mae", **kwargs):
        super().__init__(**kwargs)
        if kind not in ("mae", "rmse"):
            raise InputError(f"kind must be 'mae' or 'rmse', got {kind!r}.")
        self.kind, self.name = kind, f"standardized_{kind}"
        self.add_state("errors", default=[], dist_reduce_fx="cat")  # per observation and parameter, (N, d)
        self.add_state("thetas", default=[], dist_reduce_fx="cat")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        self.check(samples, theta)
        theta = theta.detach().flatten(1).double()
        error = samples.detach().flatten(2).double() - theta[:, None]
        self.errors.append(error.abs().mean(1) if self.kind == "mae" else error.square().mean(1))
        self.thetas.append(theta)

    def compute(self) -> Tensor:
        errors, thetas = (torch.cat(s) if isinstance(s, list) else s for s in (self.errors, self.thetas))
        spread = thetas.std(0, unbiased=False)
        spread = torch.where(spread > 0, spread, torch.ones_like(spread))
        if self.kind == "mae":
            return (errors / spread).mean().float()
        return (errors / spread.square()).mean().sqrt().float()
