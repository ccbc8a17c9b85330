"""The two-moons task of sbibm (Lueckmann et al., 2021)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..simulators.base import Simulator, sample_by_rejection


class TwoMoons(Simulator):
    r"""Two moons: a crescent-shaped, bimodal posterior in two dimensions.

    .. math:: \theta \sim U(-1, 1)^2, \quad a \sim U(-\pi/2, \pi/2), \quad r \sim N(0.1, 0.01^2),
    .. math:: x = (r \cos a + 0.25 - |\theta_1 + \theta_2| / \sqrt{2},\; r \sin a + (\theta_2 - \theta_1) / \sqrt{2})

    The reference posterior is exact: draw the latent ``(a, r)`` from the simulator, invert the map for both
    signs of :math:`\theta_1 + \theta_2`, and keep what lies inside the prior's support.

    References:
        | Benchmarking Simulation-Based Inference (Lueckmann et al., 2021)
        | https://arxiv.org/abs/2101.04653

    Example:
        >>> sim = TwoMoons()
        >>> g = torch.Generator().manual_seed(0)
        >>> theta, x = sim.sample_joint(5, g)
        >>> sim.sample_reference_posterior(x[:2], 100, g).shape
        torch.Size([2, 100, 2])
    """

    theta_dim = 2
    x_shape = (2,)

    def __init__(self, proposals_per_round: int = 100_000):
        self.proposals_per_round = proposals_per_round

    def sample_prior(self, num: int, generator: torch.Generator) -> Tensor:
        return 2 * torch.rand(num, 2, generator=generator, device=generator.device) - 1

    def _moon(self, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
        """The simulator's latent point ``(r cos a + 0.25, r sin a)``."""
        a = math.pi * (torch.rand(shape, generator=generator, device=generator.device) - 0.5)
        r = 0.1 + 0.01 * torch.randn(shape, generator=generator, device=generator.device)
        return torch.stack([r * torch.cos(a) + 0.25, r * torch.sin(a)], dim=-1)

    def simulate(self, theta: Tensor, generator: torch.Generator) -> Tensor:
        self.check_theta(theta)
        shift = torch.stack(
            [-(theta[:, 0] + theta[:, 1]).abs() / math.sqrt(2), (theta[:, 1] - theta[:, 0]) / math.sqrt(2)], dim=-1
        )
        return self._moon((len(theta),), generator) + shift

    def sample_reference_posterior(self, x: Tensor, num_samples: int, generator: torch.Generator) -> Tensor:
        self.check_x(x)
        x = x.to(generator.device)

        def propose(rows: Tensor, m: int) -> tuple[Tensor, Tensor]:
            q = x[rows.to(x.device), None, :] - self._moon((len(rows), m), generator)
            sign = 2 * torch.randint(0, 2, (len(rows), m), generator=generator, device=generator.device) - 1
            total = -math.sqrt(2) * q[..., 0] * sign  # theta1 + theta2, up to its sign
            diff = math.sqrt(2) * q[..., 1]  # theta2 - theta1
            theta = torch.stack([(total - diff) / 2, (total + diff) / 2], dim=-1)
            feasible = (q[..., 0] <= 0) & (theta.abs() <= 1).all(dim=-1)
            return theta, feasible

        return sample_by_rejection(propose, len(x), num_samples, self.proposals_per_round)
