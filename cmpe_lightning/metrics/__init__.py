"""Posterior metrics as torchmetrics Metrics, computed outside the estimators (see :mod:`cmpe_lightning.callbacks`)."""

from .base import PosteriorMetric
from .c2st import C2ST, JointC2ST, c2st
from .contraction import PosteriorContraction, PosteriorZScore
from .coverage import CalibrationError, IntervalCoverage, central_interval_hits
from .energy_score import EnergyScore, energy_scores
from .image_quality import PosteriorMeanImageQuality
from .mmd import MMD, ReferenceMMD, mmd_squared
from .rmse import NormalizedRMSE, PosteriorRMSE, StandardizedDrawError
from .sbc import SBC, ECDFUniformityTest, sbc_ranks
from .tarp import TARP, tarp_coverage

__all__ = [
    "PosteriorMetric", "C2ST", "JointC2ST", "c2st", "CalibrationError", "IntervalCoverage", "central_interval_hits",
    "MMD", "ReferenceMMD", "mmd_squared", "NormalizedRMSE", "PosteriorRMSE", "StandardizedDrawError",
    "PosteriorMeanImageQuality", "PosteriorContraction", "PosteriorZScore", "EnergyScore", "energy_scores", "SBC",
    "ECDFUniformityTest", "sbc_ranks", "TARP", "tarp_coverage",
]
