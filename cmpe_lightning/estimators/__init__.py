"""Posterior estimators: LightningModules on a shared base class."""

from .base import PosteriorEstimator
from .consistency import ConsistencyPosteriorEstimator
from .coupling_flow import CouplingFlowPosteriorEstimator
from .flow_matching import FlowMatchingPosteriorEstimator

__all__ = [
    "PosteriorEstimator",
    "ConsistencyPosteriorEstimator",
    "CouplingFlowPosteriorEstimator",
    "FlowMatchingPosteriorEstimator",
]
