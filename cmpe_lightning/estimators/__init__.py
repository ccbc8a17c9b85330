"""Posterior estimators: LightningModules on a shared abstract base class."""

from .base import PosteriorDraws, PosteriorEstimator
from .consistency import ConsistencyPosteriorEstimator
from .coupling_flow import CouplingFlowPosteriorEstimator
from .flow_matching import FlowMatchingPosteriorEstimator

__all__ = [
    "PosteriorEstimator",
    "PosteriorDraws",
    "ConsistencyPosteriorEstimator",
    "CouplingFlowPosteriorEstimator",
    "FlowMatchingPosteriorEstimator",
]
