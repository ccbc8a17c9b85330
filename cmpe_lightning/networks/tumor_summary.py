"""The summary network of the tumor spheroid growth model: an LSTM over the growth curve, a CNN over the profiles."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .summary import dense_stack

PROFILE_CHANNELS = 3  # extra-cellular matrix, proliferation, position


class TumorSummary(nn.Module):
    """Summary of the tumor model's observations, packed by :class:`~cmpe_lightning.data.TumorPreprocessing`.

    The input ``(batch, growth_days + 3 * profile_bins)`` holds the growth curve in its first
    ``growth_days`` entries and the ``(profile_bins, 3)`` profile block, flattened row-major, after them.
    An LSTM reads the growth curve as a sequence ``(growth_days, 1)`` (its last hidden state summarizes
    it); ``conv_layers`` 1-D convolutions of stride 2 and a global average over the bins summarize the
    profiles; dense layers map both summaries, concatenated, to ``out_features``.

    References:
        | Consistency Models for Scalable and Fast Simulation-Based Inference (Schmitt et al., 2024), tumor model
        | https://arxiv.org/abs/2312.05440
        | The model: Jagiella et al. (2017), Cell Systems 4(2), https://doi.org/10.1016/j.cels.2016.12.002

    Args:
        profile_bins: profile bins kept by the preprocessing.
        out_features: size of the summary vector.
        growth_days: length of the growth curve.
        recurrent_width: hidden size of the LSTM.
        conv_channels: channels of each convolution.
        conv_layers: convolutions, each halving the number of bins.
        kernel_size: width of the convolutions (odd).
        dense_width: hidden width of the dense layers.
        dense_depth: hidden dense layers.

    Example:
        >>> net = TumorSummary(profile_bins=300, out_features=32)
        >>> net(torch.randn(4, 20 + 3 * 300)).shape
        torch.Size([4, 32])
    """

    def __init__(
        self,
        profile_bins: int = 300,
        out_features: int = 32,
        growth_days: int = 20,
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
        self.profile_bins, self.growth_days = profile_bins, growth_days
        self.recurrent = nn.LSTM(1, recurrent_width, batch_first=True)
        layers: list[nn.Module] = []
        for i in range(conv_layers):
            in_channels = PROFILE_CHANNELS if i == 0 else conv_channels
            convolution = nn.Conv1d(in_channels, conv_channels, kernel_size, stride=2, padding=kernel_size // 2)
            layers += [convolution, nn.ReLU()]
        self.convolution = nn.Sequential(*layers)
        profile_features = conv_channels if conv_layers else PROFILE_CHANNELS
        self.head = dense_stack(recurrent_width + profile_features, dense_width, out_features, dense_depth)

    @property
    def in_features(self) -> int:
        return self.growth_days + PROFILE_CHANNELS * self.profile_bins

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"TumorSummary(growth_days={self.growth_days}, profile_bins={self.profile_bins}) expects x of shape"
                f" (batch, {self.in_features}) = {self.growth_days} growth-curve days + {self.profile_bins} profile"
                f" bins x {PROFILE_CHANNELS} channels, got {tuple(x.shape)}."
            )
        growth = x[:, : self.growth_days, None]
        _, (hidden, _) = self.recurrent(growth)
        profiles = x[:, self.growth_days :].reshape(len(x), self.profile_bins, PROFILE_CHANNELS).transpose(1, 2)
        pooled = self.convolution(profiles).mean(dim=-1)
        return self.head(torch.cat([hidden[-1], pooled], dim=-1))
