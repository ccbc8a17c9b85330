"""A bimodal Gaussian mixture observed through a set of iid draws."""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

from ..simulators.base import Simulator
from ..utils.errors import InputError


class BimodalGMM(Simulator):
    r"""Bimodal Gaussian mixture model with a set of ``num_observations`` iid draws.

    .. math:: \theta \sim N(0, I_2), \quad x_k \sim \tfrac12 N(\theta, \sigma^2 I) + \tfrac12 N(-\theta, \sigma^2 I)

    The reference posterior is exact. Conditioning on the component signs :math:`s \in \{\pm1\}^K`, the
    posterior is Gaussian with precision :math:`\lambda = 1 + K/\sigma^2` and mean
    :math:`m_s / (\sigma^2 \lambda)`, :math:`m_s = \sum_k s_k x_k`; the signs have posterior weights
    :math:`\propto \exp(\|m_s\|^2 / (2 \sigma^4 \lambda))`. The posterior is this mixture of :math:`2^K`
    Gaussians, which is sampled exactly. The same ``sigma`` is used in simulator and reference (the paper's
    code mixed 0.5 and sqrt(0.5)).

    Args:
        num_observations: the set size ``K``.
        sigma: the standard deviation of each mixture component.

    Example:
        >>> sim = BimodalGMM()
        >>> g = torch.Generator().manual_seed(0)
        >>> theta, x = sim.sample_joint(3, g)
        >>> x.shape
        torch.Size([3, 10, 2])
    """

    theta_dim = 2

    def __init__(self, num_observations: int = 10, sigma: float = 0.5):
        if not 1 <= num_observations <= 16:
            raise InputError(f"num_observations must lie in [1, 16] (exact reference), got {num_observations}.")
        if sigma <= 0:
            raise InputError(f"sigma must be positive, got {sigma}.")
        self.num_observations = num_observations
        self.sigma = sigma
        self.x_shape = (num_observations, 2)

    def sample_prior(self, num: int, generator: torch.Generator) -> Tensor:
        return torch.randn(num, 2, generator=generator, device=generator.device)

    def simulate(self, theta: Tensor, generator: torch.Generator) -> Tensor:
        self.check_theta(theta)
        shape = (len(theta), self.num_observations)
        sign = 2 * torch.randint(0, 2, shape, generator=generator, device=generator.device) - 1
        noise = torch.randn(*shape, 2, generator=generator, device=generator.device)
        return sign[..., None] * theta[:, None, :] + self.sigma * noise

    def sample_reference_posterior(self, x: Tensor, num_samples: int, generator: torch.Generator) -> Tensor:
        self.check_x(x)
        x = x.to(generator.device, torch.float64)
        signs = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=self.num_observations)), dtype=x.dtype)
        signs = signs.to(x.device)
        var = self.sigma**2
        precision = 1 + self.num_observations / var
        m = torch.einsum("sk,bkd->bsd", signs, x)  # (batch, 2^K, 2)
        log_weights = m.square().sum(-1) / (2 * var**2 * precision)
        component = torch.multinomial(log_weights.softmax(-1), num_samples, replacement=True, generator=generator)
        means = torch.gather(m, 1, component[..., None].expand(-1, -1, 2)) / (var * precision)
        noise = torch.randn(means.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (means + noise / precision**0.5).float()
