"""Plain ``nn.Module`` networks: backbones and summary networks. They know nothing of Lightning."""

from .mlp import ResidualMLP
from .summary import DeepSet

__all__ = ["ResidualMLP", "DeepSet"]
