"""The summary network of the denoising task: a small CNN over the observed image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...utils.errors import InputError


class ImageSummary(nn.Module):
    """Convolution blocks (3×3 conv, GroupNorm, SiLU), 2× average pooling after the blocks in ``downsample``,
    then global average pooling (the paper's) or flattening, and a linear map to ``out_features``.

    Global average pooling keeps what is in the image but only implicitly where (through the zero padding);
    ``pooling: flatten`` keeps the positions of the last feature map (7 × 7 for 28 × 28 inputs with two
    poolings) at the cost of a larger linear layer.

    Args:
        in_channels: channels of the observation.
        channels: filters of each block (paper: 64, 64, 128, 128).
        out_features: size of the summary vector (paper: 128).
        groups: GroupNorm groups (paper: 8).
        downsample: indices of the blocks followed by 2× average pooling.
        pooling: ``average`` (global average pooling) or ``flatten``.
        image_size: height and width of the observation (needed by ``flatten``).
        channels_last: run the convolutions in channels-last memory format (faster on CPUs and tensor cores).

    Example:
        >>> net = ImageSummary(channels=(8, 8), out_features=16)
        >>> net(torch.rand(3, 1, 28, 28)).shape
        torch.Size([3, 16])
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (64, 64, 128, 128),
        out_features: int = 128,
        groups: int = 8,
        downsample: Sequence[int] = (1, 2),
        pooling: Literal["average", "flatten"] = "average",
        image_size: Sequence[int] = (28, 28),
        channels_last: bool = True,
    ):
        super().__init__()
        if pooling not in ("average", "flatten"):
            raise InputError(f"pooling must be 'average' or 'flatten', got {pooling!r}.")
        layers: list[nn.Module] = []
        height, width = image_size
        for i, out_channels in enumerate(channels):
            layers += [nn.Conv2d(in_channels if i == 0 else channels[i - 1], out_channels, 3, padding=1),
                       nn.GroupNorm(min(groups, out_channels), out_channels), nn.SiLU()]
            if i in downsample:
                layers.append(nn.AvgPool2d(2, ceil_mode=True))
                height, width = -(-height // 2), -(-width // 2)
        self.features = nn.Sequential(*layers)
        self.pooling, self.channels_last = pooling, channels_last
        flat = channels[-1] * (height * width if pooling == "flatten" else 1)
        self.head = nn.Linear(flat, out_features)
        if channels_last:
            self.features.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            raise InputError(f"ImageSummary expects images (batch, channels, height, width), got {tuple(x.shape)}.")
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.features(x)
        h = F.adaptive_avg_pool2d(h, 1).flatten(1) if self.pooling == "average" else h.flatten(1)
        return self.head(h)
