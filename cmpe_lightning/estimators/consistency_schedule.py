"""Noise grid, discretization curriculum and time-pair sampling of (improved) consistency training.

References:
    | Consistency Models (Song et al., 2023) https://arxiv.org/abs/2303.01469
    | Improved Techniques for Training Consistency Models (Song & Dhariwal, 2023) https://arxiv.org/abs/2310.14189
    | Consistency Models for Scalable and Fast Simulation-Based Inference (Schmitt et al., 2024)
      https://arxiv.org/abs/2312.05440
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..utils.errors import InputError


def karras_grid(num_points: int, epsilon: float, t_max: float, rho: float = 7.0) -> Tensor:
    """``num_points`` noise levels ascending from ``epsilon`` to ``t_max`` (Karras et al., 2022), in float64.

    Example:
        >>> karras_grid(3, 1e-3, 10.0)[[0, -1]]
        tensor([1.0000e-03, 1.0000e+01], dtype=torch.float64)
    """
    if num_points < 2:
        raise InputError(f"A noise grid needs at least 2 points, got {num_points}.")
    fraction = torch.linspace(0, 1, num_points, dtype=torch.float64)
    low, high = epsilon ** (1 / rho), t_max ** (1 / rho)
    return (low + fraction * (high - low)) ** rho


def discretization_steps(step: int, total_steps: int, s0: int = 10, s1: int = 50) -> int:
    """The curriculum ``N(k) = min(s0 * 2^floor(k / K'), s1) + 1`` grid points at optimizer step ``k``.

    ``K' = floor(K / (log2(s1 / s0) + 1))`` for ``K = total_steps``; with ``s0 = 10, s1 = 50`` the values
    are 11, 21, 41 and 51 for about 30 %, 30 %, 30 % and 10 % of training.

    Example:
        >>> [discretization_steps(k, 1000) for k in (0, 350, 650, 950)]
        [11, 21, 41, 51]
    """
    if total_steps < 1:
        raise InputError(f"total_steps must be positive, got {total_steps}.")
    stage_length = max(1, math.floor(total_steps / (math.log2(s1 / s0) + 1)))
    doublings = min(step // stage_length, 62)  # beyond this, s1 caps it anyway
    return min(s0 * 2**doublings, s1) + 1


PAPER_FINAL_INTERVALS = 50  # the paper's s1 for its short fits


def final_intervals(total_steps: int, least: int = PAPER_FINAL_INTERVALS, most: int = 1280) -> int:
    """The curriculum's final grid size ``s1`` for a fit of ``total_steps`` optimizer steps: improved consistency
    training's ratio (1 280 intervals at the end of 400 000 steps), at least ``least`` (the paper's 50) and at most
    ``most`` (improved CT's 1 280).

    A finer final grid lowers consistency training's discretization bias, and a longer fit has the steps to
    resolve it; a fixed ``s1 = 50`` left a 10-parameter posterior biased after 42 000 steps (docs/sbibm.md).

    Example:
        >>> [final_intervals(k) for k in (5_000, 42_000, 400_000, 10**7)]
        [50, 134, 1280, 1280]
    """
    if total_steps < 1:
        raise InputError(f"total_steps must be positive, got {total_steps}.")
    return int(min(max(round(total_steps * 1280 / 400_000), least), most))


def lognormal_pair_weights(grid: Tensor, p_mean: float = -1.1, p_std: float = 2.0) -> Tensor:
    """Probabilities of the ``len(grid) - 1`` adjacent pairs under a log-normal density of noise levels."""
    cdf = torch.erf((grid.log() - p_mean) / (math.sqrt(2) * p_std))
    return cdf[1:] - cdf[:-1]


def sample_time_pairs(
    num: int, grid: Tensor, p_mean: float, p_std: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Draws ``num`` adjacent pairs ``(t1, t2) = (t_i, t_{i+1})`` of ``grid`` by their log-normal weights."""
    weights = lognormal_pair_weights(grid, p_mean, p_std)
    index = torch.multinomial(weights, num, replacement=True, generator=generator)
    return grid[index], grid[index + 1]
