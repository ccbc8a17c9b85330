"""cmpe_lightning: consistency model posterior estimation and its baselines, on PyTorch Lightning.

Example:
    >>> from cmpe_lightning import PosteriorEstimator  # doctest: +SKIP
    >>> est = PosteriorEstimator.load_from_checkpoint("last.ckpt")  # doctest: +SKIP
    >>> est.sample(x, num_samples=1000).shape  # doctest: +SKIP
    torch.Size([batch, 1000, theta_dim])
"""

from .data import SimulationBankDataModule, SimulationDataModule
from .estimators import (
    ConsistencyPosteriorEstimator,
    CouplingFlowPosteriorEstimator,
    FlowMatchingPosteriorEstimator,
    PosteriorEstimator,
)
from .simulators import BimodalGMM, InverseKinematics, Simulator, TumorSpheroid, TwoMoons

__version__ = "0.1.0"
__all__ = [
    "PosteriorEstimator",
    "ConsistencyPosteriorEstimator",
    "CouplingFlowPosteriorEstimator",
    "FlowMatchingPosteriorEstimator",
    "SimulationDataModule",
    "SimulationBankDataModule",
    "Simulator",
    "TwoMoons",
    "BimodalGMM",
    "InverseKinematics",
    "TumorSpheroid",
]
