"""Lightning callbacks: test metrics, the posterior plot, image grids, the prediction writer, training speed, the choice
of K, and the default recipe's weight averaging, training length and early stop."""

from .best_weights import BestWeights
from .checkpoint_files import LastCheckpoint
from .diagnostic_plots import DiagnosticPlots
from .image_grid import ImageGrid
from .posterior_metrics import PosteriorMetrics
from .posterior_plot import PosteriorPlot
from .prediction_writer import PosteriorSampleWriter
from .step_selection import SamplingStepSelection
from .throughput import TrainingSpeed
from .training_length import TrainingLength
from .weight_averaging import EMA

__all__ = ["PosteriorMetrics", "PosteriorSampleWriter", "TrainingSpeed", "PosteriorPlot", "ImageGrid",
           "DiagnosticPlots", "SamplingStepSelection", "EMA", "BestWeights", "TrainingLength", "LastCheckpoint"]
