"""LightningDataModules and datasets."""

from .bank import SimulationBankDataModule
from .observations import load_observations
from .online import OnlineSimulationDataset
from .preprocessing import Preprocessing, SelectOutput, TumorPreprocessing
from .simulation import SimulationDataModule

__all__ = [
    "SimulationDataModule",
    "SimulationBankDataModule",
    "Preprocessing",
    "SelectOutput",
    "TumorPreprocessing",
    "OnlineSimulationDataset",
    "load_observations",
]
