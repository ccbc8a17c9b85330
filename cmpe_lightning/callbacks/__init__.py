"""Lightning callbacks: test metrics, the posterior plot, image grids, the prediction writer, training speed, the choice of K."""

from .diagnostic_plots import DiagnosticPlots
from .image_grid import ImageGrid
from .posterior_metrics import PosteriorMetrics
from .posterior_plot import PosteriorPlot
from .prediction_writer import PosteriorSampleWriter
from .step_selection import SamplingStepSelection
from .throughput import TrainingSpeed

__all__ = ["PosteriorMetrics", "PosteriorSampleWriter", "TrainingSpeed", "PosteriorPlot", "ImageGrid", "DiagnosticPlots",
           "SamplingStepSelection"]
