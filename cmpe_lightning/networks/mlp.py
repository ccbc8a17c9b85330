"""The residual multilayer perceptron used as backbone by CMPE and FMPE on low-dimensional tasks."""

from __future__ import annotations

import torch  # noqa: F401  (doctest namespace)
from torch import Tensor, nn


class ResidualBlock(nn.Module):
    """``h + Dropout(Linear(act(Linear(act(h)))))``: a pre-activation residual block of constant width."""

    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, width)
        )

    def forward(self, h: Tensor) -> Tensor:
        return h + self.body(h)


class ResidualMLP(nn.Module):
    """Residual MLP ``R^in_features -> R^out_features`` (the paper's network for low-dimensional tasks).

    The estimators build it with ``in_features`` and ``out_features`` they know; YAML sets the rest::

        backbone:
          class_path: cmpe_lightning.networks.ResidualMLP
          init_args: {width: 256, num_blocks: 2, dropout: 0.05}

    Args:
        in_features: input size (for CMPE: theta_dim + summary size + time features).
        out_features: output size (theta_dim).
        width: hidden width (paper: 256; tumor 512).
        num_blocks: residual blocks (paper: 2 for two moons and IK, 3 for the GMM, 4 for the tumor).
        dropout: dropout rate inside each block (paper: 0.05 to 0.2).

    Example:
        >>> net = ResidualMLP(5, 2, width=32)
        >>> net(torch.zeros(7, 5)).shape
        torch.Size([7, 2])
    """

    def __init__(self, in_features: int, out_features: int, width: int = 256, num_blocks: int = 2,
                 dropout: float = 0.05):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, width),
            *(ResidualBlock(width, dropout) for _ in range(num_blocks)),
            nn.ReLU(),
            nn.Linear(width, out_features),
        )

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)
