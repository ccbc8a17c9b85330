"""The simulator contract shared by every task.

A simulator is a prior plus a vectorized forward model, both written in torch so that they run on the
device of the :class:`torch.Generator` they are given. Tasks with an exact or near-exact posterior also
implement :meth:`Simulator.sample_reference_posterior`, which the test stage compares against.

Shapes: parameters are flat vectors ``(num, theta_dim)`` or, for a simulator that sets ``theta_shape``,
tensors ``(num, *theta_shape)`` (a clean image). Observations are tensors ``(num, *x_shape)`` or, where
``x_shape`` is a dict, dicts of named tensors ``{name: (num, *x_shape[name])}`` (the tumor's outputs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from ..utils.structure import Batch, ShapeSpec, check_batch, describe


class Simulator(ABC):
    """Prior ``p(theta)`` and forward model ``p(x | theta)`` of one inference task.

    Every random draw takes an explicit ``generator``; results live on ``generator.device``.
    """

    theta_dim: int
    x_shape: ShapeSpec

    @property
    def theta_shape(self) -> tuple[int, ...]:
        """The shape of one parameter; ``(theta_dim,)`` unless a subclass sets it."""
        return (self.theta_dim,)

    @abstractmethod
    def sample_prior(self, num: int, generator: torch.Generator) -> Tensor:
        """Draws ``num`` parameters, shape ``(num, theta_dim)``."""

    @abstractmethod
    def simulate(self, theta: Tensor, generator: torch.Generator) -> Batch:
        """Simulates one observation per parameter: ``(num, *x_shape)``, or a dict of named outputs."""

    def sample_reference_posterior(self, x: Tensor, num_samples: int, generator: torch.Generator) -> Tensor:
        """Draws ``(batch, num_samples, theta_dim)`` samples of the true posterior at observations ``x``."""
        raise NotImplementedError(f"{type(self).__name__} has no reference posterior sampler.")

    def sample_joint(self, num: int, generator: torch.Generator) -> tuple[Tensor, Batch]:
        """Draws ``num`` pairs ``(theta, x)`` from the joint distribution."""
        theta = self.sample_prior(num, generator)
        return theta, self.simulate(theta, generator)

    @property
    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        """Named outputs of one run, as :meth:`simulate_run` returns them: ``x``, or the parts of a dict ``x_shape``."""
        return dict(self.x_shape) if isinstance(self.x_shape, dict) else {"x": tuple(self.x_shape)}

    def simulate_run(self, theta: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """Simulates one run from a numpy ``theta`` of shape ``(theta_dim,)`` and an integer seed.

        This is the interface of the simulation bank (``cmpe-simulate``): deterministic for a given seed,
        outputs as in :attr:`output_shapes`. Simulators whose runs are costly override it.
        """
        generator = torch.Generator().manual_seed(int(seed))
        x = self.simulate(torch.as_tensor(theta, dtype=torch.float32).reshape(1, *self.theta_shape), generator)
        if isinstance(x, dict):
            return {name: value[0].numpy() for name, value in x.items()}
        return {"x": x[0].numpy()}

    def check_theta(self, theta: Tensor) -> None:
        if theta.ndim != len(self.theta_shape) + 1 or tuple(theta.shape[1:]) != tuple(self.theta_shape):
            raise ValueError(
                f"{type(self).__name__} expects theta of shape {describe(tuple(self.theta_shape), 'num')},"
                f" got {tuple(theta.shape)}."
            )

    def check_x(self, x: Batch) -> None:
        check_batch(x, self.x_shape, f"{type(self).__name__}'s observations")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(theta_shape={self.theta_shape}, x_shape={self.x_shape})"


def sample_by_rejection(
    propose: Callable[[int], tuple[Tensor, Tensor]],
    batch: int,
    num_samples: int,
    proposals_per_round: int,
    max_rounds: int = 10_000,
) -> Tensor:
    """Collects ``num_samples`` accepted proposals for each of ``batch`` observations.

    Args:
        propose: maps a number of proposals ``m`` to ``(samples (batch, m, d), accepted (batch, m))``.
        batch: number of observations.
        num_samples: accepted samples wanted per observation.
        proposals_per_round: ``m`` of each call of ``propose``.
        max_rounds: give up (with an error) after this many rounds, e.g. for an observation outside the
            simulator's support, whose acceptance probability is zero.
    """
    collected: list[list[Tensor]] = [[] for _ in range(batch)]
    counts = [0] * batch
    for _ in range(max_rounds):
        samples, accepted = propose(proposals_per_round)
        for i in range(batch):
            if counts[i] < num_samples:
                kept = samples[i][accepted[i]]
                collected[i].append(kept)
                counts[i] += len(kept)
        if min(counts) >= num_samples:
            return torch.stack([torch.cat(c)[:num_samples] for c in collected])
    worst = min(range(batch), key=counts.__getitem__)
    raise RuntimeError(
        f"Rejection sampling accepted only {counts[worst]} of {num_samples} samples for observation {worst} after"
        f" {max_rounds} rounds of {proposals_per_round} proposals: is the observation inside the simulator's support?"
    )
