"""Classifier two-sample test (C2ST) exactly as defined by sbibm."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

from ..utils.errors import InputError
from .base import PosteriorMetric, batch_generator


def c2st(reference: Tensor, samples: Tensor, seed: int = 1, num_folds: int = 5, n_jobs: int | None = None,
         hidden_units: int | None = None) -> float:
    """Cross-validated accuracy of a classifier telling ``samples`` from ``reference``; 0.5 means indistinguishable.

    As in sbibm, to the bit (``tests/unit/test_sbibm_tasks.py``): both sets, in float32, are z-scored with the
    reference's mean and standard deviation, then a
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
        hidden_units: width of the classifier's two hidden layers (sbibm: ``10 d``, the default).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
        >>> 0.4 < c2st(a, b) < 0.6
        True
    """
    if reference.ndim != 2 or samples.ndim != 2 or reference.shape[1] != samples.shape[1]:
        raise InputError(
            f"c2st expects reference (n, d) and samples (m, d), got {tuple(reference.shape)}"
            f" and {tuple(samples.shape)}."
        )
    # in float32, as sbibm computes it from its float32 samples: scikit-learn's classifier keeps the data's precision,
    # and float64 data trains a different classifier (0.676 against sbibm's 0.701 on the same two-moons samples)
    reference = reference.detach().float().cpu()
    samples = samples.detach().float().cpu()
    if not (torch.isfinite(reference).all() and torch.isfinite(samples).all()):
        raise InputError("c2st got non-finite values (NaN or inf) in its inputs.")
    mean, std = reference.mean(0), reference.std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))  # a constant feature (a blank pixel) stays as it is
    data = torch.cat([(reference - mean) / std, (samples - mean) / std]).numpy()
    target = np.concatenate([np.zeros(len(reference)), np.ones(len(samples))])
    width = 10 * reference.shape[1] if hidden_units is None else hidden_units
    from sklearn.model_selection import KFold, cross_val_score  # here: scikit-learn takes 0.1 s to import
    from sklearn.neural_network import MLPClassifier

    classifier = MLPClassifier(
        activation="relu", hidden_layer_sizes=(width, width), max_iter=10000, solver="adam", random_state=seed
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
    trains_classifier = True
    higher_is_better = False

    def __init__(self, seed: int = 1, num_folds: int = 5, n_jobs: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed, self.num_folds, self.n_jobs = seed, num_folds, n_jobs
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        if reference is None:
            raise InputError("C2ST needs reference posterior samples; this test set has none.")
        self.check(samples, theta, reference)
        for approx, exact in zip(samples.flatten(2), reference.flatten(2)):
            self.total += c2st(exact, approx, self.seed, self.num_folds, self.n_jobs)
            self.count += 1

    def compute(self) -> Tensor:
        return (self.total / self.count).float()


class JointC2ST(PosteriorMetric):
    """A reference-free classifier check, logged as ``joint_c2st``: 0.5 when the posterior is correct.

    Over the test set, a classifier tells the true pairs ``(theta_i, x_i)`` from pairs ``(theta~_i, x_i)``
    with one posterior draw ``theta~_i`` per observation (:func:`c2st` on the joined, flattened vectors).
    Both sets follow ``p(theta, x)`` exactly when the posterior is correct; any accuracy above 0.5 is
    evidence against it. It needs many test observations (hundreds or more), not many draws, and sees
    ``x`` as flattened raw values, so it suits low-dimensional observations best.

    References:
        | Validation diagnostics for SBI algorithms based on normalizing flows (Linhart et al., 2022)
        | https://arxiv.org/abs/2211.09602 (the joint-space classifier, of which L-C2ST is the local form)

    Args:
        seed: seed of the classifier, of the folds and of the choice of draw.
        num_folds: folds of the cross-validation.
        hidden_units: width of the classifier's hidden layers (default ``10 d``, at most 256).

    Example:
        >>> metric = JointC2ST()
        >>> g = torch.Generator().manual_seed(0)
        >>> theta = torch.randn(600, 1, generator=g)
        >>> x = theta + 0.5 * torch.randn(600, 1, generator=g)
        >>> exact = x[:, None] / 1.25 + (0.2 ** 0.5) * torch.randn(600, 4, 1, generator=g)
        >>> metric.update(exact, theta, x=x)
        >>> float(metric.compute()) < 0.56
        True
    """

    name = "joint_c2st"
    requires_observations = True
    trains_classifier = True
    higher_is_better = False

    def __init__(self, seed: int = 1, num_folds: int = 5, hidden_units: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed, self.num_folds, self.hidden_units = seed, num_folds, hidden_units
        self.add_state("true_pairs", default=[], dist_reduce_fx="cat")
        self.add_state("drawn_pairs", default=[], dist_reduce_fx="cat")

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None, x=None) -> None:
        if x is None:
            raise InputError("JointC2ST needs the observations: update(samples, theta, x=x).")
        self.check(samples, theta)
        parts = x.values() if isinstance(x, dict) else [x]
        x = torch.cat([part.detach().flatten(1).double() for part in parts], dim=-1)
        generator = batch_generator(self.seed, theta)
        pick = torch.randint(samples.shape[1], (len(theta),), generator=generator).to(samples.device)
        drawn = samples[torch.arange(len(theta), device=samples.device), pick]
        self.true_pairs.append(torch.cat([theta.detach().flatten(1).double(), x], dim=-1))
        self.drawn_pairs.append(torch.cat([drawn.detach().flatten(1).double(), x], dim=-1))

    def compute(self) -> Tensor:
        true, drawn = (torch.cat(s) if isinstance(s, list) else s for s in (self.true_pairs, self.drawn_pairs))
        if len(true) < self.num_folds:  # too few pairs for the cross-validation: no value rather than a crash
            warnings.warn(f"The joint C2ST needs at least num_folds = {self.num_folds} simulated pairs,"
                          f" got {len(true)}; it is reported as NaN (add calibration observations to the test).")
            return torch.tensor(float("nan"))
        width = self.hidden_units if self.hidden_units is not None else min(10 * true.shape[1], 256)
        return torch.tensor(c2st(true, drawn, self.seed, self.num_folds, hidden_units=width), dtype=torch.float32)
