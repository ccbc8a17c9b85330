"""Lightning callbacks: test metrics, the posterior plot, image grids, the prediction writer and training speed."""

from .diagnostic_plots import DiagnosticPlots
from .image_grid import ImageGrid
from .posterior_metrics import PosteriorMetrics
from .posterior_plot import PosteriorPlot
from .prediction_writer import PosteriorSampleWriter
from .throughput import TrainingSpeed

__all__ = ["PosteriorMetrics", "PosteriorSampleWriter", "TrainingSpeed", "PosteriorPlot", "ImageGrid", "DiagnosticPlots"]
