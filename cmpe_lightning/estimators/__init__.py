"""Posterior estimators: LightningModules on a shared base class."""

from .base import PosteriorEstimator
from .consistency import ConsistencyPosteriorEstimator

__all__ = ["PosteriorEstimator", "ConsistencyPosteriorEstimator"]
