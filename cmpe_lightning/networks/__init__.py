"""Plain ``nn.Module`` networks: backbones, preconditioning, summary networks, standardization.

They know nothing of Lightning. The coupling flows (:mod:`.coupling`, on zuko) are imported from their
module, so that importing this package does not load zuko.
"""

from .conditional import ConditionalMLP, build_backbone
from .mlp import ResidualMLP
from .preconditioning import ConsistencyPreconditioner, Preconditioner
from .set_attention import SetTransformerSummary
from .standardization import PartsStandardizer, Standardizer
from .summary import DeepSet
from .time_series import TimeSeriesSummary
from .unet import ConditionalUNet

__all__ = ["ConditionalMLP", "build_backbone", "ResidualMLP", "Preconditioner", "ConsistencyPreconditioner",
           "Standardizer", "PartsStandardizer", "DeepSet", "SetTransformerSummary", "TimeSeriesSummary",
           "ConditionalUNet"]
