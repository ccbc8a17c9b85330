"""Posterior metrics as torchmetrics Metrics, computed outside the estimators (see :mod:`cmpe_lightning.callbacks`)."""

from .base import PosteriorMetric
from .c2st import C2ST, c2st
from .coverage import CalibrationError, IntervalCoverage, central_interval_hits
from .image_quality import PosteriorMeanImageQuality
from .mmd import MMD, mmd_squared
from .rmse import NormalizedRMSE, PosteriorRMSE

__all__ = ["PosteriorMetric", "C2ST", "c2st", "IntervalCoverage", "CalibrationError", "central_interval_hits", "PosteriorMeanImageQuality", "MMD", "mmd_squared",
           "NormalizedRMSE", "PosteriorRMSE"]
