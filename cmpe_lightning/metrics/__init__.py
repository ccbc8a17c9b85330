"""Posterior metrics as torchmetrics Metrics, computed outside the estimators (see :mod:`cmpe_lightning.callbacks`)."""

from .base import PosteriorMetric
from .c2st import C2ST, c2st
from .rmse import NormalizedRMSE

__all__ = ["PosteriorMetric", "C2ST", "c2st", "NormalizedRMSE"]
