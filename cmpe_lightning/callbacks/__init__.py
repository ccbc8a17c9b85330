"""Lightning callbacks: prediction writer, training speed and the posterior plot of the test."""

from .posterior_plot import PosteriorPlot
from .prediction_writer import PosteriorSampleWriter
from .throughput import TrainingSpeed

__all__ = ["PosteriorSampleWriter", "TrainingSpeed", "PosteriorPlot"]
