"""Consistency model posterior estimation (CMPE)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn

from ..networks.conditional import ConditionalMLP, build_backbone
from ..networks.preconditioning import ConsistencyPreconditioner, per_sample
from ..utils.checks import positive_int
from ..utils.errors import InputError
from .base import PosteriorEstimator
from .consistency_schedule import (
    PAPER_FINAL_INTERVALS,
    discretization_steps,
    final_intervals,
    karras_grid,
    sample_time_pairs,
)


class ConsistencyPosteriorEstimator(PosteriorEstimator):
    r"""Consistency model posterior estimation (CMPE), trained by consistency training.

    The consistency function maps any point of the variance-exploding path
    :math:`\theta_t = \theta + t z` back to its start :math:`\theta`:

    .. math:: f(\theta_t, t; c) = c_{skip}(t)\, \theta_t + c_{out}(t)\, F(\theta_t, c, t),
    .. math:: c_{skip}(t) = \frac{\sigma^2}{(t - \epsilon)^2 + \sigma^2}, \quad
              c_{out}(t) = \frac{\sigma (t - \epsilon)}{\sqrt{\sigma^2 + t^2}},

    so that :math:`f(\theta, \epsilon) = \theta` exactly (:class:`~cmpe_lightning.networks.ConsistencyPreconditioner`).
    Training pairs adjacent noise levels of a Karras grid whose size follows a doubling curriculum and
    minimizes the :math:`1/(t_2 - t_1)`-weighted pseudo-Huber distance between the student
    :math:`f(\theta + t_2 z, t_2)` and the stop-gradient teacher :math:`f(\theta + t_1 z, t_1)` (the same
    network; no EMA teacher, as in improved consistency training). The curriculum's grid size is an
    explicit input of the loss (``num_points``), derived from ``trainer.global_step`` in training; validation
    uses the final grid and seeded noise, so that ``val/loss`` is comparable across training. The summary
    network runs once per step and is shared by teacher and student. Preconditioning, loss and sampler run
    in float32, only the backbone may run in bf16/fp16.

    References:
        | Consistency Models for Scalable and Fast Simulation-Based Inference (Schmitt et al., 2024)
        | https://arxiv.org/abs/2312.05440
        | Improved Techniques for Training Consistency Models (Song & Dhariwal, 2023)
        | https://arxiv.org/abs/2310.14189

    Args:
        theta_shape: shape of one parameter.
        x_shape: shape of one observation.
        backbone: builds the network ``F`` from ``(theta_shape, context_features)``; it is called as
            ``F(theta_in, noise_level, context)`` (see :mod:`cmpe_lightning.networks.conditional`).
        epsilon: smallest noise level (the boundary of the consistency function).
        t_max: largest noise level ``T`` (paper: GMM 1, two moons 10, IK 10, tumor 50, images 200).
        sigma_data: standard deviation of the (standardized) parameters; 1 after standardization.
        rho: exponent of the Karras grid.
        s0: initial number of grid intervals of the curriculum.
        s1: final number of grid intervals of the curriculum; ``None`` (default): from the fit's length
            (:func:`~cmpe_lightning.estimators.consistency_schedule.final_intervals`: 50 up to 15 600 optimizer
            steps, then improved CT's one interval per 312 steps, at most 1 280), fixed at the start of ``fit``.
            The paper's configs set 50 (its GMM 1 280).
        p_mean: mean of the log-normal density of noise levels used to pick pairs.
        p_std: standard deviation of that density.
        pseudo_huber: ``vector`` applies the pseudo-Huber distance to the whole difference vector (improved
            consistency training), ``elementwise`` per parameter and averages (the paper's code).
        huber_c: the constant ``c`` of the pseudo-Huber distance :math:`\sqrt{d^2 + c^2} - c`; ``None``:
            :math:`0.00054 \sqrt{\dim\theta}` (improved consistency training's choice for images).
        preconditioning: ``edm`` (default) feeds ``theta_t / sqrt(sigma^2 + t^2)`` and ``log(t) / 4`` to ``F``
            (Karras et al., 2022), inputs of unit scale at every noise level; ``paper`` feeds raw ``theta_t`` and
            ``t`` (the paper's code; its configs keep it), inputs up to ``t_max`` times the data's scale, which
            train slower: a 10-parameter linear Gaussian needed ``edm`` and learning rate 1e-3 to be calibrated
            after 2 000 steps (docs/short_runs.md).
        num_steps: default number of sampling steps ``K`` (overridable per call of :meth:`sample`).
        clip: default ``(low, high)`` bounds in the original parameter space that every step's estimate is
            clipped to (images: ``(-1.01, 1.01)``), or ``None`` (overridable per call of :meth:`sample`).
        learning_rate: peak learning rate of AdamW; 1e-3 here (the paper's 5e-4 is in its configs).
        kwargs: the arguments every estimator takes (``summary_network``, ``preprocessing``, ``weight_decay``,
            ``warmup_steps``, ``x_standardization``, ``theta_standardization``,
            ``max_batch_size``, ``compile_backbone``): see :class:`PosteriorEstimator`.
    """

    def __init__(
        self,
        theta_shape: int | Sequence[int],
        x_shape: Sequence[int] | Mapping[str, Sequence[int]],
        backbone: Callable[[tuple[int, ...], int], nn.Module] = ConditionalMLP,
        epsilon: float = 1e-3,
        t_max: float = 200.0,
        sigma_data: float = 1.0,
        rho: float = 7.0,
        s0: int = 10,
        s1: int | None = None,
        p_mean: float = -1.1,
        p_std: float = 2.0,
        pseudo_huber: Literal["vector", "elementwise"] = "vector",
        huber_c: float | None = None,
        preconditioning: Literal["paper", "edm"] = "edm",
        num_steps: int = 10,
        clip: tuple[float, float] | None = None,
        learning_rate: float = 1e-3,
        **kwargs: Any,
    ):
        super().__init__(theta_shape, x_shape, learning_rate=learning_rate, **kwargs)
        if not 0 < epsilon < t_max:
            raise InputError(f"Expected 0 < epsilon < t_max, got epsilon={epsilon}, t_max={t_max}.")
        if not 1 <= s0 <= (s0 if s1 is None else s1):
            raise InputError(f"Expected 1 <= s0 <= s1, got s0={s0}, s1={s1}.")
        if pseudo_huber not in ("vector", "elementwise"):
            raise InputError(f"pseudo_huber must be 'vector' or 'elementwise', got {pseudo_huber!r}.")
        self.epsilon, self.t_max, self.rho = epsilon, t_max, rho
        self.s0, self.s1, self.p_mean, self.p_std = s0, s1, p_mean, p_std
        self.pseudo_huber, self.num_steps = pseudo_huber, num_steps
        self.clip = check_bounds(clip)
        if huber_c is not None and not huber_c > 0:
            raise InputError(f"huber_c must be positive or None, got {huber_c!r}.")
        self.huber_c = 0.00054 * math.sqrt(self.theta_dim) if huber_c is None else float(huber_c)
        network = build_backbone(backbone, self.theta_shape, self.summary_dim)
        self.consistency_function = ConsistencyPreconditioner(network, epsilon, sigma_data, preconditioning)

    # ------------------------------------------------------------------------------------------- the model
    def on_fit_start(self) -> None:
        if self.s1 is None:  # fixed for this fit and kept in the checkpoint's hyperparameters
            self.s1 = max(self.s0, final_intervals(self.total_training_steps))
            self.hparams["s1"] = self.s1
            rank_zero_info(f"Consistency training's final noise grid from the fit's length ({self.total_training_steps}"
                           f" optimizer steps): s1 = {self.s1} intervals; set --model.init_args.s1 to choose it.")

    @property
    def final_grid_intervals(self) -> int:
        """``s1``; before a fit has fixed an automatic one, the paper's 50 (or ``s0``, if larger)."""
        return max(self.s0, PAPER_FINAL_INTERVALS) if self.s1 is None else self.s1

    def loss_options(self, stage: str) -> dict[str, int]:
        """The curriculum's grid size at the current optimizer step in training; the final grid in validation."""
        if stage == "train":
            return {"num_points": discretization_steps(self.global_step, self.total_training_steps, self.s0,
                                                       self.final_grid_intervals)}
        return {"num_points": self.final_grid_intervals + 1}

    def standardized_loss(
        self, theta: Tensor, context: Tensor, generator: torch.Generator | None = None, num_points: int | None = None
    ) -> Tensor:
        """Consistency-training loss on a Karras grid of ``num_points`` levels (default: the final grid, ``s1 + 1``)."""
        num_points = self.final_grid_intervals + 1 if num_points is None else num_points
        grid = karras_grid(num_points, self.epsilon, self.t_max, self.rho)
        t1, t2 = sample_time_pairs(len(theta), grid, self.p_mean, self.p_std, generator)
        t1, t2 = t1.to(self.device, torch.float32), t2.to(self.device, torch.float32)
        z = self.randn(theta.shape, generator)
        with torch.no_grad():
            target = self.consistency_function(theta + per_sample(t1, theta) * z, t1, context)
        pred = self.consistency_function(theta + per_sample(t2, theta) * z, t2, context)
        diff = (pred - target).flatten(1)
        if self.pseudo_huber == "vector":
            distance = torch.sqrt(diff.square().sum(-1) + self.huber_c**2) - self.huber_c
        else:
            distance = (torch.sqrt(diff.square() + self.huber_c**2) - self.huber_c).mean(-1)
        return distance / (t2 - t1)

    def standardized_sample(
        self, context: Tensor, generator: torch.Generator | None = None, num_steps: int | None = None,
        clip: tuple[float, float] | None = None,
    ) -> tuple[Tensor, int]:
        """Multi-step consistency sampling with ``num_steps`` network evaluations (default: ``self.num_steps``),
        each step's estimate clipped to ``clip`` (default: ``self.clip``) in the original parameter space."""
        num_steps = positive_int(self.num_steps if num_steps is None else num_steps, "num_steps")
        bounds = check_bounds(self.clip if clip is None else clip)
        if bounds is not None:  # the bounds in standardized space, per parameter entry
            low, high = (self.theta_standardizer(torch.full(self.theta_shape, b, device=self.device)) for b in bounds)
        shape = (len(context), *self.theta_shape)
        levels = karras_grid(num_steps + 1, self.epsilon, self.t_max, self.rho).flip(0).tolist()
        theta = levels[0] * self.randn(shape, generator)
        for i, level in enumerate(levels[:-1]):
            if i > 0:  # re-noise the previous estimate to this level; the first step starts from pure noise
                theta = theta + math.sqrt(level**2 - self.epsilon**2) * self.randn(shape, generator)
            theta = self.consistency_function(theta, level, context)
            if bounds is not None:
                theta = torch.maximum(torch.minimum(theta, high), low)
        return theta, num_steps


    def sampling_steps(self, options: Mapping[str, Any]) -> int | None:
        return int(options.get("num_steps", self.num_steps))


def check_bounds(bounds: Sequence[float] | None) -> tuple[float, float] | None:
    """``(low, high)`` as floats with ``low < high``, or ``None``."""
    if bounds is None:
        return None
    if len(bounds) != 2 or not float(bounds[0]) < float(bounds[1]):
        raise InputError(f"clip must be two bounds (low, high) with low < high, got {bounds!r}.")
    return float(bounds[0]), float(bounds[1])
