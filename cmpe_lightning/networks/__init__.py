"""Plain ``nn.Module`` networks: backbones and summary networks. They know nothing of Lightning."""

from .mlp import ResidualMLP
from .summary import DeepSet
from .tumor_summary import TumorSummary

__all__ = ["ResidualMLP", "DeepSet", "TumorSummary"]
