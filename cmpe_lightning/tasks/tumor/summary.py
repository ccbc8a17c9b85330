"""The summary network of the tumor spheroid growth model: an LSTM over the growth curve, a CNN over the profiles."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...networks.summary import dense_stack
from .preprocessing import PROFILE_CHANNELS


class TumorSummary(nn.Module):
    """Summary of the tumor's observations as :class:`TumorPreprocessing` returns them.

    An LSTM reads the growth curve ``(batch, days, 1)`` (its last hidden state summarizes it);
    ``conv_layers`` 1-D convolutions of stride 2 and a global average over the bins summarize the
    ``profiles`` ``(batch, 3, bins)``; dense layers map both summaries, concatenated, to ``out_features``.
    Any number of days and bins works.

    References:
        | Consistency Models for Scalable and Fast Simulation-Based Inference (Schmitt et al., 2024), tumor model
        | https://arxiv.org/abs/2312.05440
        | The model: Jagiella et al. (2017), Cell Systems 4(2), https://doi.org/10.1016/j.cels.2016.12.002

    Args:
        out_features: size of the summary vector.
        recurrent_width: hidden size of the LSTM.
        conv_channels: channels of each convolution.
        conv_layers: convolutions, each halving the number of bins.
        kernel_size: width of the convolutions (odd).
        dense_width: hidden width of the dense layers.
        dense_depth: hidden dense layers.

    Example:
        >>> net = TumorSummary(out_features=32)
        >>> net({"growth_curve": torch.randn(4, 20, 1), "profiles": torch.randn(4, 3, 300)}).shape
        torch.Size([4, 32])
    """

    def __init__(
        self,
        out_features: int = 32,
        recurrent_width: int = 64,
        conv_channels: int = 64,
        conv_layers: int = 3,
        kernel_size: int = 5,
        dense_width: int = 128,
        dense_depth: int = 2,
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd (to pad the bins symmetrically), got {kernel_size}.")
        self.recurrent = nn.LSTM(1, recurrent_width, batch_first=True)
        layers: list[nn.Module] = []
        for i in range(conv_layers):
            in_channels = PROFILE_CHANNELS if i == 0 else conv_channels
            convolution = nn.Conv1d(in_channels, conv_channels, kernel_size, stride=2, padding=kernel_size // 2)
            layers += [convolution, nn.ReLU()]
        self.convolution = nn.Sequential(*layers)
        profile_features = conv_channels if conv_layers else PROFILE_CHANNELS
        self.head = dense_stack(recurrent_width + profile_features, dense_width, out_features, dense_depth)

    def forward(self, x: dict[str, Tensor]) -> Tensor:
        growth, profiles = x.get("growth_curve"), x.get("profiles")
        if growth is None or profiles is None or growth.ndim != 3 or profiles.ndim != 3 or profiles.shape[1] != PROFILE_CHANNELS:
            found = {name: tuple(part.shape) for name, part in x.items()}
            raise ValueError(
                "TumorSummary expects {growth_curve: (batch, days, 1), profiles: (batch, 3, bins)} as TumorPreprocessing"
                f" returns it, got {found}."
            )
        _, (hidden, _) = self.recurrent(growth)
        pooled = self.convolution(profiles).mean(dim=-1)
        return self.head(torch.cat([hidden[-1], pooled], dim=-1))
