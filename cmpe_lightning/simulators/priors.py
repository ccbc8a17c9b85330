"""Priors written as ``torch.distributions`` objects, constructible from a YAML config."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.distributions import Distribution, Independent, Normal, Uniform

from ..utils.errors import InputError


class BoxUniform(Independent):
    """Independent uniform priors on ``[low_i, high_i)``, one per parameter, as in sbi.

    Example:
        >>> prior = BoxUniform(low=[0.0, -1.0], high=[1.0, 1.0])
        >>> expected = -torch.log(torch.tensor(2.0)).item()
        >>> prior.sample((5,)).shape, prior.log_prob(torch.tensor([0.5, 0.0])).item() == expected
        (torch.Size([5, 2]), True)

    YAML (the ``prior`` of a :class:`~cmpe_lightning.simulators.FunctionSimulator`)::

        prior:
          class_path: cmpe_lightning.BoxUniform
          init_args: {low: [0.0, -1.0], high: [1.0, 1.0]}
    """

    def __init__(self, low: Sequence[float] | torch.Tensor, high: Sequence[float] | torch.Tensor):
        low, high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        if low.ndim != 1 or low.shape != high.shape or not bool((low < high).all()):
            raise InputError(f"BoxUniform needs 1-D low < high of one length, got low={low.tolist()},"
                             f" high={high.tolist()}.")
        super().__init__(Uniform(low, high), 1)


class DiagonalNormal(Independent):
    """Independent normal priors ``N(loc_i, scale_i²)``, one per parameter.

    Example:
        >>> DiagonalNormal(loc=[0.0, 1.0], scale=[1.0, 0.5]).sample((3,)).shape
        torch.Size([3, 2])
    """

    def __init__(self, loc: Sequence[float] | torch.Tensor, scale: Sequence[float] | torch.Tensor):
        loc, scale = torch.as_tensor(loc, dtype=torch.float32), torch.as_tensor(scale, dtype=torch.float32)
        if loc.ndim != 1 or loc.shape != scale.shape or not bool((scale > 0).all()):
            raise InputError(f"DiagonalNormal needs 1-D loc and scale > 0 of one length, got loc={loc.tolist()},"
                             f" scale={scale.tolist()}.")
        super().__init__(Normal(loc, scale), 1)


def as_vector_distribution(prior: Distribution) -> Distribution:
    """``prior`` with event shape ``(theta_dim,)``: a batch of independent scalars becomes one vector event."""
    if len(prior.event_shape) == 1:
        return prior
    if len(prior.event_shape) == 0 and len(prior.batch_shape) <= 1:
        return Independent(prior.expand(prior.batch_shape or (1,)), 1)
    raise InputError(
        f"A prior must draw flat parameter vectors: event shape (theta_dim,) or a 1-D batch of scalars; got"
        f" {type(prior).__name__} with batch shape {tuple(prior.batch_shape)}"
        f" and event shape {tuple(prior.event_shape)}."
    )
