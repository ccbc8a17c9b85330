"""The energy score: a strictly proper scoring rule of posterior draws against the true parameters."""

from __future__ import annotations

import torch
from torch import Tensor

from ..utils.errors import InputError
from .base import PosteriorMetric


def energy_scores(samples: Tensor, theta: Tensor, scale: Tensor | None = None) -> Tensor:
    """The energy score of each observation's draws, ``(batch,)``; lower is better.

    ``ES = E‖X − θ‖ − ½ E‖X − X'‖`` with ``X, X'`` independent draws (the second term over distinct pairs, so
    the estimate is unbiased). Averaged over pairs ``(θ, x) ~ p(θ, x)``, it is smallest for the true posterior
    and larger for any other (strictly proper): it rewards location, spread and shape at once and needs no
    reference posterior. Scores of two samplers on the same pairs can be compared pair by pair, which cancels
    most of their variance (see :class:`~cmpe_lightning.callbacks.SamplingStepSelection`).

    References:
        | Gneiting & Raftery, *Strictly Proper Scoring Rules, Prediction, and Estimation* (JASA, 2007)

    Args:
        samples: ``(batch, n, *theta_shape)`` draws, ``n >= 2``.
        theta: ``(batch, *theta_shape)`` true parameters.
        scale: divides every parameter entry (e.g. the prior's standard deviations), so that each counts alike.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> theta = torch.randn(2000, 1, generator=g)                  # the posterior is N(0, 1)
        >>> right = energy_scores(torch.randn(2000, 50, 1, generator=g), theta).mean()
        >>> wide = energy_scores(2 * torch.randn(2000, 50, 1, generator=g), theta).mean()
        >>> bool(right < wide)
        True
    """
    samples, theta = samples.detach().flatten(2).float(), theta.detach().flatten(1).float()
    if samples.shape[1] < 2 or len(samples) != len(theta) or samples.shape[2] != theta.shape[1]:
        raise InputError(f"energy_scores expects draws (batch, n >= 2, d) and theta (batch, d), got"
                         f" {tuple(samples.shape)} and {tuple(theta.shape)}.")
    if scale is not None:
        scale = scale.flatten().float().to(samples.device)
        samples, theta = samples / scale, theta / scale
    n = samples.shape[1]
    to_truth = (samples - theta[:, None]).norm(dim=-1).mean(1)
    # the n x n distances of a few observations at a time: bounded memory, and Ctrl-C is never far away
    chunk = max(1, 2**22 // (n * n))
    between = torch.cat([torch.cdist(part, part).sum((1, 2)) for part in samples.split(chunk)]) / (n * (n - 1))
    return to_truth - between / 2


class EnergyScore(PosteriorMetric):
    """The mean :func:`energy_scores` over observations, logged as ``energy_score`` (lower is better; its
    value depends on the parameters' scale, so compare estimators on the same test set)."""

    name = "energy_score"
    higher_is_better = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        self.check(samples, theta)
        self.total += energy_scores(samples, theta).double().sum()
        self.count += len(theta)

    def compute(self) -> Tensor:
        return (self.total / self.count).float()
