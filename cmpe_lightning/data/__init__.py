"""LightningDataModules and datasets: online or fixed-budget simulation, and simulation banks on disk."""

from .arrays import ArrayDataModule
from .bank import SimulationBankDataModule
from .observations import load_observations
from .online import OnlineSimulationDataset
from .simulation import SimulationDataModule

__all__ = ["SimulationDataModule", "SimulationBankDataModule", "ArrayDataModule", "OnlineSimulationDataset",
           "load_observations"]
