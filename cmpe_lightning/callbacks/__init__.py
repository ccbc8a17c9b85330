"""Lightning callbacks: prediction writer and training speed."""

from .prediction_writer import PosteriorSampleWriter
from .throughput import TrainingSpeed

__all__ = ["PosteriorSampleWriter", "TrainingSpeed"]
