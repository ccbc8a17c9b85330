"""The interface of every posterior metric: draws, true parameters and, where a task has one, reference draws."""

from __future__ import annotations

import zlib

import torch
from torch import Tensor
from torchmetrics import Metric

from ..utils.errors import InputError


def batch_generator(seed: int, theta: Tensor) -> torch.Generator:
    """A CPU generator keyed by ``seed`` and the batch's true parameters.

    Metrics that jitter or pick draws use it, so that a batch gets the same random numbers wherever it
    falls in the test loop and on whichever process: values gathered under DDP equal single-process ones.
    """
    digest = zlib.crc32(theta.detach().float().cpu().contiguous().numpy().tobytes())
    return torch.Generator().manual_seed((int(seed) << 32) + digest)


class PosteriorMetric(Metric):
    """A torchmetrics Metric of posterior draws, logged by :class:`~cmpe_lightning.callbacks.PosteriorMetrics`.

    ``update(samples, theta, reference)`` takes the draws ``(batch, num_samples, *theta_shape)``, the true
    parameters ``(batch, *theta_shape)`` and the reference posterior's draws ``(batch, m, *theta_shape)``, or
    ``None`` where the task has no reference (metrics with ``requires_reference`` are then skipped). The
    value is logged as ``test/<name>``. States reduce across processes, so values are correct under DDP.
    """

    name: str = "metric"
    requires_reference: bool = False
    # metrics that also need the observations get them as update(..., x=x) (a tensor or a dict of named parts)
    requires_observations: bool = False
    # metrics that fit a scikit-learn classifier (seconds to minutes) are left out of validation by default
    trains_classifier: bool = False
    full_state_update = False

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:  # pragma: no cover
        raise NotImplementedError

    def feed(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None, x=None) -> bool:
        """:meth:`update` with what this metric needs (the observations ``x`` where it asks for them); ``False``,
        and no update, where it needs a reference and ``reference`` is ``None``."""
        if self.requires_reference and reference is None:
            return False
        if self.requires_observations:
            self.update(samples, theta, reference, x=x)
        else:
            self.update(samples, theta, reference)
        return True

    @staticmethod
    def check(samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        """Checks that draws, parameters and reference agree in batch and parameter shape."""
        event = tuple(theta.shape[1:])
        ok = samples.ndim == theta.ndim + 1 and len(samples) == len(theta) and tuple(samples.shape[2:]) == event
        if reference is not None:
            ok = (ok and reference.ndim == samples.ndim and len(reference) == len(theta)
                  and tuple(reference.shape[2:]) == event)
        if not ok:
            found = (tuple(samples.shape), tuple(theta.shape), None if reference is None else tuple(reference.shape))
            raise InputError(
                "A posterior metric expects samples (batch, n, *theta_shape), theta (batch, *theta_shape) and reference"
                f" (batch, m, *theta_shape) or None; got {found}."
            )
