"""Classifier two-sample test (C2ST) exactly as defined by sbibm."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from torch import Tensor

from .base import PosteriorMetric


def c2st(reference: Tensor, samples: Tensor, seed: int = 1, num_folds: int = 5, n_jobs: int | None = None) -> float:
    """Cross-validated accuracy of a classifier telling ``samples`` from ``reference``; 0.5 means indistinguishable.

    As in sbibm: both sets are z-scored with the reference's mean and standard deviation, then a
    ``MLPClassifier(relu, hidden (10 d, 10 d), adam, max_iter 10000)`` is scored by ``num_folds``-fold shuffled
    cross-validation, and the mean accuracy is returned.

    References:
        | Benchmarking Simulation-Based Inference (Lueckmann et al., 2021)
        | https://arxiv.org/abs/2101.04653

    Args:
        reference: ``(n, d)`` samples of the reference distribution.
        samples: ``(m, d)`` samples of the distribution under test.
        seed: seed of the classifier and of the folds.
        num_folds: folds of the cross-validation.
        n_jobs: parallel folds (scikit-learn's ``n_jobs``); the result does not depend on it.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
        >>> 0.4 < c2st(a, b) < 0.6
        True
    """
    if reference.ndim != 2 or samples.ndim != 2 or reference.shape[1] != samples.shape[1]:
        raise ValueError(
            f"c2st expects reference (n, d) and samples (m, d), got {tuple(reference.shape)} and {tuple(samples.shape)}."
        )
    reference = reference.detach().double().cpu()
    samples = samples.detach().double().cpu()
    if not (torch.isfinite(reference).all() and torch.isfinite(samples).all()):
        raise ValueError("c2st got non-finite values (NaN or inf) in its inputs.")
    mean, std = reference.mean(0), reference.std(0)
    data = torch.cat([(reference - mean) / std, (samples - mean) / std]).numpy()
    target = np.concatenate([np.zeros(len(reference)), np.ones(len(samples))])
    dim = reference.shape[1]
    classifier = MLPClassifier(
        activation="relu", hidden_layer_sizes=(10 * dim, 10 * dim), max_iter=10000, solver="adam", random_state=seed
    )
    folds = KFold(n_splits=num_folds, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(classifier, data, target, cv=folds, scoring="accuracy", n_jobs=n_jobs)))


class C2ST(PosteriorMetric):
    """Mean :func:`c2st` over observations, accumulated batch by batch (and across processes).

    ``update(samples, theta, reference)`` takes ``(batch, m, *theta_shape)`` approximate and
    ``(batch, n, *theta_shape)`` reference samples, one row per observation (parameters are flattened).

    Args:
        seed: seed of the classifier and of the folds.
        num_folds: folds of the cross-validation.
        n_jobs: parallel folds (scikit-learn's ``n_jobs``).

    Example:
        >>> metric = C2ST()
        >>> g = torch.Generator().manual_seed(0)
        >>> metric.update(torch.randn(2, 300, 2, generator=g), torch.zeros(2, 2), torch.randn(2, 300, 2, generator=g))
        >>> 0.4 < float(metric.compute()) < 0.6
        True
    """

    name = "c2st"
    requires_reference = True
    higher_is_better = False

    def __init__(self, seed: int = 1, num_folds: int = 5, n_jobs: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed, self.num_folds, self.n_jobs = seed, num_folds, n_jobs
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        if reference is None:
            raise ValueError("C2ST needs reference posterior samples; this test set has none.")
        self.check(samples, theta, reference)
        for approx, exact in zip(samples.flatten(2), reference.flatten(2)):
            self.total += c2st(exact, approx, self.seed, self.num_folds, self.n_jobs)
            self.count += 1

    def compute(self) -> Tensor:
        return (self.total / self.count).float()
