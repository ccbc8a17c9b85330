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

from ..utils.checks import positive_int
from ..utils.errors import InputError
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

    def test_observations(self, num: int, generator: torch.Generator) -> tuple[Tensor, Batch]:
        """The ``num`` pairs ``(theta, x)`` that ``cmpe test`` compares with the reference posterior: fresh draws from
        the joint, unless the task fixes its observations (sbibm's ten, :class:`~cmpe_lightning.SBIBMTask`)."""
        return self.sample_joint(num, generator)

    def sample_joint(self, num: int, generator: torch.Generator) -> tuple[Tensor, Batch]:
        """Draws ``num`` pairs ``(theta, x)`` from the joint distribution, checked to have the declared shapes."""
        theta = self.sample_prior(num, generator)
        if not isinstance(theta, Tensor) or tuple(theta.shape) != (num, *self.theta_shape):
            raise InputError(
                f"{self.origin}.sample_prior({num}, generator) returned {found_shape(theta)}; expected a tensor of"
                f" shape {(num, *self.theta_shape)}, one parameter vector of theta_shape {tuple(self.theta_shape)} per"
                f" draw."
            )
        x = self.simulate(theta, generator)
        self.check_simulated(x, num)
        return theta, x

    @property
    def origin(self) -> str:
        """The user's code behind this simulator, ``module.Class``, for messages that point at it."""
        return f"{type(self).__module__}.{type(self).__qualname__}"

    def check_simulated(self, x: Batch, num: int) -> None:
        """Raises an error naming :attr:`origin` unless ``x`` is ``num`` observations of shape ``x_shape``."""
        try:
            if check_batch(x, self.x_shape, "x") == num:
                return
        except ValueError:
            pass
        raise InputError(
            f"{self.origin} simulated {found_shape(x)} for {num} parameter vectors; its x_shape {self.x_shape} asks"
            f" for {describe(self.x_shape, str(num))}. The shape of what it returns must match x_shape on every call."
        )

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
            raise InputError(
                f"{type(self).__name__} expects theta of shape {describe(tuple(self.theta_shape), 'num')},"
                f" got {tuple(theta.shape)}."
            )

    def check_x(self, x: Batch) -> None:
        check_batch(x, self.x_shape, f"{type(self).__name__}'s observations")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(theta_shape={self.theta_shape}, x_shape={self.x_shape})"


def found_shape(x: object) -> str:
    """What a simulator returned, for messages: ``shape (4, 10)``, ``{a: shape (4, 2)}`` or ``NoneType``."""
    if isinstance(x, (Tensor, np.ndarray)):
        return f"shape {tuple(x.shape)}"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{name}: {found_shape(part)}" for name, part in x.items()) + "}"
    return type(x).__name__


def sample_by_rejection(
    propose: Callable[[Tensor, int], tuple[Tensor, Tensor]],
    batch: int,
    num_samples: int,
    proposals_per_round: int,
    max_proposals_per_call: int = 1_000_000,
    max_rounds: int = 10_000,
) -> Tensor:
    """Collects ``num_samples`` accepted proposals for each of ``batch`` observations.

    Each round proposes ``proposals_per_round`` candidates for every observation still short of samples, in
    calls of at most ``max_proposals_per_call`` candidates (at least one observation per call), so memory
    stays bounded however many observations there are (a call for 10 inverse-kinematics observations of
    200 000 proposals each peaked at about 1.2 GB).

    Args:
        propose: maps observation indices ``rows`` (a long tensor) and a number of proposals ``m`` to
            ``(samples (len(rows), m, d), accepted (len(rows), m))``.
        batch: number of observations.
        num_samples: accepted samples wanted per observation.
        proposals_per_round: ``m``, proposals per observation per round.
        max_proposals_per_call: bound on ``len(rows) * m`` of one call of ``propose``.
        max_rounds: give up (with an error) after this many rounds, e.g. for an observation outside the
            simulator's support, whose acceptance probability is zero.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> def propose(rows, m):  # uniform on [0, 1), kept below 0.5
        ...     u = torch.rand(len(rows), m, 1, generator=g)
        ...     return u, u[..., 0] < 0.5
        >>> samples = sample_by_rejection(propose, batch=3, num_samples=100, proposals_per_round=64)
        >>> samples.shape, bool((samples < 0.5).all())
        (torch.Size([3, 100, 1]), True)
    """
    for name, value in [("batch", batch), ("num_samples", num_samples), ("proposals_per_round", proposals_per_round),
                        ("max_proposals_per_call", max_proposals_per_call)]:
        positive_int(value, name)
    # accepted samples go straight into one preallocated tensor: keeping thousands of small tensors alive
    # between the large temporaries of ``propose`` fragmented the heap (30 inverse-kinematics observations
    # grew to 4 GB, 100 were killed at 24 GB)
    result: Tensor | None = None
    counts = [0] * batch
    rows_per_call = max(1, max_proposals_per_call // proposals_per_round)
    for _ in range(max_rounds):
        short = [i for i in range(batch) if counts[i] < num_samples]
        if not short:
            return result
        for start in range(0, len(short), rows_per_call):
            rows = short[start:start + rows_per_call]
            samples, accepted = propose(torch.tensor(rows), proposals_per_round)
            if result is None:
                result = samples.new_empty(batch, num_samples, *samples.shape[2:])
            for k, i in enumerate(rows):
                kept = samples[k][accepted[k]][:num_samples - counts[i]]
                result[i, counts[i]:counts[i] + len(kept)] = kept
                counts[i] += len(kept)
            del samples, accepted
    worst = min(range(batch), key=counts.__getitem__)
    raise RuntimeError(
        f"Rejection sampling accepted only {counts[worst]} of {num_samples} samples for observation {worst} after"
        f" {max_rounds} rounds of {proposals_per_round} proposals: is the observation inside the simulator's support?"
    )
