"""LightningDataModules and datasets."""

from .observations import load_observations
from .online import OnlineSimulationDataset
from .simulation import SimulationDataModule

__all__ = ["SimulationDataModule", "OnlineSimulationDataset", "load_observations"]
