"""A simulator whose runs fail now and then, as real simulators do at the edges of their priors."""

from __future__ import annotations

import torch
from torch import Tensor

from ..utils.errors import InputError
from ..utils.structure import Batch, map_structure
from .base import Simulator


class FailingSimulator(Simulator):
    """Wraps ``simulator`` so that a fraction ``failure_rate`` of its runs return NaN (or inf) in every output.

    For testing a pipeline's handling of failed runs: training leaves such pairs out and counts them
    (``train/dropped`` in the logs). The failures are drawn from the same generator as the runs, so they are
    reproducible; prior and reference posterior are the wrapped simulator's.

    Args:
        simulator: the simulator whose runs fail.
        failure_rate: the probability of each run to fail, in [0, 1].
        value: what a failed run returns: ``nan``, ``inf`` or ``-inf``.

    Example:
        >>> from cmpe_lightning import TwoMoons
        >>> failing = FailingSimulator(TwoMoons(), failure_rate=0.5)
        >>> theta, x = failing.sample_joint(1000, torch.Generator().manual_seed(0))
        >>> 400 < int(x.isnan().any(1).sum()) < 600
        True
    """

    def __init__(self, simulator: Simulator, failure_rate: float = 0.01, value: str = "nan"):
        if not 0.0 <= failure_rate <= 1.0:
            raise InputError(f"failure_rate must lie in [0, 1], got {failure_rate}.")
        if value not in ("nan", "inf", "-inf"):
            raise InputError(f"value must be 'nan', 'inf' or '-inf', got {value!r}.")
        self.simulator, self.failure_rate, self.value = simulator, float(failure_rate), float(value)
        self.theta_dim, self.x_shape = simulator.theta_dim, simulator.x_shape

    @property
    def theta_shape(self) -> tuple[int, ...]:
        return self.simulator.theta_shape

    def sample_prior(self, num: int, generator: torch.Generator) -> Tensor:
        return self.simulator.sample_prior(num, generator)

    def simulate(self, theta: Tensor, generator: torch.Generator) -> Batch:
        x = self.simulator.simulate(theta, generator)
        failed = torch.rand(len(theta), generator=generator, device=generator.device) < self.failure_rate

        def spoil(part: Tensor) -> Tensor:
            mask = failed.to(part.device).view(-1, *(1,) * (part.ndim - 1))
            return torch.where(mask, torch.full_like(part, self.value), part)

        return map_structure(spoil, x)

    def sample_reference_posterior(self, x: Tensor, num_samples: int, generator: torch.Generator) -> Tensor:
        return self.simulator.sample_reference_posterior(x, num_samples, generator)
