"""Flow matching posterior estimation (FMPE)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..networks.conditional import ConditionalMLP, build_backbone
from ..networks.preconditioning import Preconditioner, per_sample
from ..utils.errors import InputError
from ..utils.modes import full_precision
from .base import PosteriorEstimator
from .ode import FIXED_STEP, SOLVERS, Solver, divergence, integrate


class FlowMatchingPosteriorEstimator(PosteriorEstimator):
    r"""Flow matching posterior estimation: a velocity field transports N(0, I) to the posterior.

    Along the path :math:`\theta_t = t \theta + (1 - (1 - \sigma_{min}) t) z` the network regresses the
    velocity :math:`\theta - (1 - \sigma_{min}) z`; sampling integrates the learned ODE from ``t = 0``
    (noise) to ``t = 1``. Two recipes:

    - ``paper`` (as run in the CMPE paper): rectified flow, :math:`t \sim U(0, 1)`, :math:`\sigma_{min} = 0`,
      log-cosh loss, 1000 Euler steps;
    - ``original`` (Wildberger, Dax et al., 2023): :math:`t` with density :math:`\propto t^\alpha`,
      :math:`\sigma_{min} > 0`, squared error, an adaptive solver.

    The backbone is called as ``F(theta_t, t, context)`` through the identity
    :class:`~cmpe_lightning.networks.Preconditioner` (the same backbones as CMPE); the path, loss and ODE state
    are float32 (under mixed precision only the network runs in low precision; ``log_prob`` runs wholly in
    float32).

    References:
        | Flow Matching for Scalable Simulation-Based Inference (Wildberger et al., 2023)
        | https://arxiv.org/abs/2305.17161
        | Flow Matching for Generative Modeling (Lipman et al., 2023) https://arxiv.org/abs/2210.02747

    Args:
        theta_shape: shape of one parameter.
        x_shape: shape of one observation.
        backbone: builds the velocity network from ``(theta_shape, context_features)``, see
            :mod:`cmpe_lightning.networks.conditional`.
        recipe: ``paper`` or ``original``.
        time_power: ``alpha`` of the ``original`` recipe's time density (``paper`` uses 0).
        sigma_min: width of the data end of the ``original`` recipe's path (``paper`` uses 0).
        solver: default ODE solver: ``euler``, ``midpoint``, ``rk4`` or ``dopri5``.
        num_steps: default number of fixed solver steps.
        atol: default absolute tolerance of ``dopri5``.
        rtol: default relative tolerance of ``dopri5``.
        exact_divergence: ``log_prob`` with the exact divergence (one backward pass per parameter) or,
            if false, Hutchinson's one-pass estimate (for high dimensions).
        kwargs: the arguments every estimator takes (``summary_network``, ``preprocessing``, ``learning_rate``,
            ``weight_decay``, ``warmup_steps``, ``x_standardization``, ``theta_standardization``,
            ``max_batch_size``, ``compile_backbone``): see :class:`PosteriorEstimator`.
    """

    validation_draws_are_costly = True

    def __init__(
        self,
        theta_shape: int | Sequence[int],
        x_shape: Sequence[int] | Mapping[str, Sequence[int]],
        backbone: Callable[[tuple[int, ...], int], nn.Module] = ConditionalMLP,
        recipe: Literal["paper", "original"] = "paper",
        time_power: float = 1.0,
        sigma_min: float = 1e-4,
        solver: Solver = "euler",
        num_steps: int = 1000,
        atol: float = 1e-5,
        rtol: float = 1e-5,
        exact_divergence: bool = True,
        **kwargs: Any,
    ):
        super().__init__(theta_shape, x_shape, **kwargs)
        if recipe not in ("paper", "original"):
            raise InputError(f"recipe must be 'paper' or 'original', got {recipe!r}.")
        if solver not in SOLVERS:
            raise InputError(f"Unknown solver {solver!r}; expected one of {SOLVERS}.")
        self.recipe = recipe
        self.time_power = 0.0 if recipe == "paper" else time_power
        self.sigma_min = 0.0 if recipe == "paper" else sigma_min
        self.solver, self.num_steps, self.atol, self.rtol = solver, num_steps, atol, rtol
        self.exact_divergence = exact_divergence
        # the velocity at theta_t and time t (a float or (batch,)), in float32 around the backbone
        self.velocity = Preconditioner(build_backbone(backbone, self.theta_shape, self.summary_dim))

    def standardized_loss(self, theta: Tensor, context: Tensor, generator: torch.Generator | None = None) -> Tensor:
        # density proportional to t^alpha: inverse CDF of u ~ U(0, 1)
        t = self.rand((len(theta),), generator) ** (1 / (1 + self.time_power))
        z = self.randn(theta.shape, generator)
        shrink = 1 - self.sigma_min
        t_ = per_sample(t, theta)
        theta_t = t_ * theta + (1 - shrink * t_) * z
        error = (self.velocity(theta_t, t, context) - (theta - shrink * z)).flatten(1)
        if self.recipe == "paper":  # log cosh, written to stay finite for large errors
            return (error + F.softplus(-2 * error) - math.log(2)).mean(-1)
        return error.square().mean(-1)

    def _solver_options(self, solver, num_steps, atol, rtol) -> dict:
        return dict(
            solver=self.solver if solver is None else solver,
            num_steps=self.num_steps if num_steps is None else num_steps,
            atol=self.atol if atol is None else atol,
            rtol=self.rtol if rtol is None else rtol,
        )

    def standardized_sample(
        self,
        context: Tensor,
        generator: torch.Generator | None = None,
        solver: Solver | None = None,
        num_steps: int | None = None,
        atol: float | None = None,
        rtol: float | None = None,
    ) -> tuple[Tensor, int]:
        """Integrates the ODE from noise; the config's solver settings are the defaults of every option."""
        z = self.randn((len(context), *self.theta_shape), generator)
        # the state stays float32: velocity() returns float32 even when the network runs in bf16
        return integrate(
            lambda t, x: self.velocity(x, t, context), z, 0.0, 1.0,
            **self._solver_options(solver, num_steps, atol, rtol)
        )

    def sampling_steps(self, options: Mapping[str, Any]) -> int | None:
        fixed = options.get("solver", self.solver) in FIXED_STEP
        return int(options.get("num_steps", self.num_steps)) if fixed else None

    def standardized_log_prob(
        self,
        theta: Tensor,
        context: Tensor,
        solver: Solver | None = None,
        num_steps: int | None = None,
        atol: float | None = None,
        rtol: float | None = None,
    ) -> Tensor:
        """``log q(theta)`` by integrating the ODE back to noise with the divergence of the velocity.

        ``log q_1(theta) = log N(z) - int_0^1 div v(theta_t, t) dt``; the state carries the running integral.
        """
        d, shape = self.theta_dim, (len(theta), *self.theta_shape)

        def flat_velocity(t: float, flat: Tensor) -> Tensor:
            return self.velocity(flat.view(shape), t, context).flatten(1)

        def augmented(t: float, state: Tensor) -> Tensor:
            v, div = divergence(lambda x: flat_velocity(t, x), state[:, :d], self.exact_divergence)
            return torch.cat([v, div[:, None]], dim=-1)

        start = torch.cat([theta.float().flatten(1), theta.new_zeros(len(theta), 1)], dim=-1)
        with full_precision(self.device):
            end, _ = integrate(augmented, start, 1.0, 0.0, **self._solver_options(solver, num_steps, atol, rtol))
        z, integral = end[:, :d], end[:, d]  # integral = int_1^0 div dt = -int_0^1 div dt
        return -0.5 * z.square().sum(-1) - 0.5 * d * math.log(2 * math.pi) + integral
