"""cmpe_lightning: consistency model posterior estimation and its baselines, on PyTorch Lightning.

Example:
    >>> from cmpe_lightning import PosteriorEstimator  # doctest: +SKIP
    >>> est = PosteriorEstimator.load_from_checkpoint("last.ckpt")  # doctest: +SKIP
    >>> est.sample(x, num_samples=1000).shape  # doctest: +SKIP
    torch.Size([batch, 1000, theta_dim])
"""

from .data import SimulationDataModule
from .estimators import (
    ConsistencyPosteriorEstimator,
    CouplingFlowPosteriorEstimator,
    FlowMatchingPosteriorEstimator,
    PosteriorEstimator,
)
from .simulators import BimodalGMM, InverseKinematics, Simulator, TwoMoons

__version__ = "0.1.0"
__all__ = [
    "PosteriorEstimator",
    "ConsistencyPosteriorEstimator",
    "CouplingFlowPosteriorEstimator",
    "FlowMatchingPosteriorEstimator",
    "SimulationDataModule",
    "Simulator",
    "TwoMoons",
    "BimodalGMM",
    "InverseKinematics",
]
