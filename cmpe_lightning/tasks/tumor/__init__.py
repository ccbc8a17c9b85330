"""The tumor spheroid growth model: simulator, observation preprocessing and summary network.

Importing this package loads neither Numba (compiled on the first run) nor Lightning.
"""

from .preprocessing import TumorPreprocessing
from .simulator import (
    OUTPUT_SHAPES,
    PARAMETER_NAMES,
    PRIOR_HIGH,
    PRIOR_LOW,
    REFERENCE_LOG10_THETA,
    SimulationTimeout,
    TumorSpheroid,
    simulate_tumor,
)
from .summary import TumorSummary

__all__ = [
    "TumorSpheroid",
    "simulate_tumor",
    "SimulationTimeout",
    "TumorPreprocessing",
    "TumorSummary",
    "PARAMETER_NAMES",
    "PRIOR_LOW",
    "PRIOR_HIGH",
    "REFERENCE_LOG10_THETA",
    "OUTPUT_SHAPES",
]
