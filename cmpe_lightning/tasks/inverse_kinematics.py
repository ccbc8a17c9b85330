"""Inverse kinematics of a planar arm (Kruse et al., 2021)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..simulators.base import Simulator, sample_by_rejection
from ..utils.errors import InputError


class InverseKinematics(Simulator):
    r"""A planar arm on a vertical rail: find the rail height and three joint angles that reach a point.

    .. math:: \theta \sim N(0, \mathrm{diag}(0.25^2, 0.5^2, 0.5^2, 0.5^2)),
    .. math:: x_1 = \theta_1 + \sum_j l_j \sin\phi_j, \quad x_2 = \sum_j l_j \cos\phi_j,
              \quad \phi_j = \theta_2 + \dots + \theta_{j+1}, \quad l = (0.5, 0.5, 1.0)

    The forward model is deterministic. The reference posterior draws the angles from the prior, solves
    for :math:`\theta_1` exactly (it enters :math:`x_1` additively, with unit Jacobian), accepts it with
    probability proportional to its prior density, and tolerates only :math:`|x_2 - \hat x_2| <` ``tolerance``.
    This is exact in :math:`x_1` and far cheaper than the paper's rejection ABC with tolerance 0.002 on both.

    References:
        | Benchmarking Invertible Architectures on Inverse Problems (Kruse et al., 2021)
        | https://arxiv.org/abs/2101.10763

    Args:
        tolerance: the ABC tolerance on ``x_2`` of the reference posterior.
        proposals_per_round: proposals per observation per rejection round.
    """

    theta_dim = 4
    x_shape = (2,)
    lengths = (0.5, 0.5, 1.0)
    prior_scale = (0.25, 0.5, 0.5, 0.5)

    def __init__(self, tolerance: float = 1e-3, proposals_per_round: int = 200_000):
        if tolerance <= 0:
            raise InputError(f"tolerance must be positive, got {tolerance}.")
        self.tolerance = tolerance
        self.proposals_per_round = proposals_per_round

    def sample_prior(self, num: int, generator: torch.Generator) -> Tensor:
        scale = torch.tensor(self.prior_scale, device=generator.device)
        return scale * torch.randn(num, 4, generator=generator, device=generator.device)

    def arm_end(self, angles: Tensor) -> tuple[Tensor, Tensor]:
        """Horizontal and vertical reach of the arm for joint angles ``(..., 3)``, rail height excluded."""
        phi = torch.cumsum(angles, dim=-1)
        lengths = torch.tensor(self.lengths, device=angles.device, dtype=angles.dtype)
        return (lengths * torch.sin(phi)).sum(-1), (lengths * torch.cos(phi)).sum(-1)

    def simulate(self, theta: Tensor, generator: torch.Generator) -> Tensor:
        self.check_theta(theta)
        reach1, reach2 = self.arm_end(theta[:, 1:])
        return torch.stack([theta[:, 0] + reach1, reach2], dim=-1)

    def sample_reference_posterior(self, x: Tensor, num_samples: int, generator: torch.Generator) -> Tensor:
        self.check_x(x)
        x = x.to(generator.device)
        rail_scale = self.prior_scale[0]

        def propose(rows: Tensor, m: int) -> tuple[Tensor, Tensor]:
            x_rows = x[rows.to(x.device)]
            angles = self.sample_prior(len(rows) * m, generator)[:, 1:].view(len(rows), m, 3)
            reach1, reach2 = self.arm_end(angles)
            rail = x_rows[:, None, 0] - reach1
            u = torch.rand(rail.shape, generator=generator, device=generator.device)
            accepted = ((x_rows[:, None, 1] - reach2).abs() < self.tolerance) & (
                u < torch.exp(-0.5 * (rail / rail_scale) ** 2)
            )
            return torch.cat([rail[..., None], angles], dim=-1), accepted

        return sample_by_rejection(propose, len(x), num_samples, self.proposals_per_round)



