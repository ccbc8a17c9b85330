"""cmpe_lightning: consistency model posterior estimation and its baselines, on PyTorch Lightning.

The public names are exported lazily: ``import cmpe_lightning`` loads nothing heavy, and a name loads
its own module on first use (so that importing a simulator loads neither Lightning nor scikit-learn,
zuko or Numba).

Example:
    >>> from cmpe_lightning import PosteriorEstimator  # doctest: +SKIP
    >>> est = PosteriorEstimator.load_from_checkpoint("last.ckpt")  # doctest: +SKIP
    >>> est.sample(x, num_samples=1000).shape  # doctest: +SKIP
    torch.Size([batch, 1000, *theta_shape])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "PosteriorEstimator": "estimators",
    "ConsistencyPosteriorEstimator": "estimators",
    "CouplingFlowPosteriorEstimator": "estimators",
    "FlowMatchingPosteriorEstimator": "estimators",
    "SimulationDataModule": "data",
    "SimulationBankDataModule": "data",
    "ArrayDataModule": "data",
    "train": "training",
    "Posterior": "posterior",
    "Simulator": "simulators",
    "FunctionSimulator": "simulators",
    "FailingSimulator": "simulators",
    "BoxUniform": "simulators",
    "DiagonalNormal": "simulators",
    "TwoMoons": "tasks.two_moons",
    "BimodalGMM": "tasks.gmm",
    "InverseKinematics": "tasks.inverse_kinematics",
    "TumorSpheroid": "tasks.tumor",
    "SBIBMTask": "tasks.sbibm_tasks",
    "simulate_tumor": "tasks.tumor",
    "TumorPreprocessing": "tasks.tumor",
    "TumorSummary": "tasks.tumor",
    "ImageDenoisingDataModule": "tasks.denoising",
    "ImageSummary": "tasks.denoising",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from .data import ArrayDataModule, SimulationBankDataModule, SimulationDataModule
    from .estimators import (
        ConsistencyPosteriorEstimator,
        CouplingFlowPosteriorEstimator,
        FlowMatchingPosteriorEstimator,
        PosteriorEstimator,
    )
    from .posterior import Posterior
    from .simulators import BoxUniform, DiagonalNormal, FailingSimulator, FunctionSimulator, Simulator
    from .tasks.denoising import ImageDenoisingDataModule, ImageSummary
    from .tasks.gmm import BimodalGMM
    from .tasks.inverse_kinematics import InverseKinematics
    from .tasks.sbibm_tasks import SBIBMTask
    from .tasks.tumor import TumorPreprocessing, TumorSpheroid, TumorSummary, simulate_tumor
    from .tasks.two_moons import TwoMoons
    from .training import train
