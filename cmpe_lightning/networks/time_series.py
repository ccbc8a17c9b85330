"""A summary network for time series: 1-D convolutions or a GRU over the time axis."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ..utils.errors import InputError
from .summary import dense_stack


class TimeSeriesSummary(nn.Module):
    """Summary of a time series ``(batch, length, channels)`` (or ``(batch, length)`` for one channel).

    Shapes it takes: a simulator (or DataModule) with ``x_shape: [length, channels]`` and ``in_channels:
    channels``, or ``x_shape: [length]`` (equivalently ``[length, 1]``) and ``in_channels: 1``. The estimator's
    default standardization (``x_standardization: elementwise``) works with both, one mean and standard deviation
    per time point and channel; ``last_dim`` shares them across time, one per channel.

    ``kind: convolution``: ``layers`` blocks of a kernel-5 convolution and a stride-2 one (ReLU), then the mean
    and standard deviation over time, so any length works; ``kind: gru``: a GRU whose last hidden state
    summarizes the series (as in BayesFlow's time series networks). A dense stack maps either to
    ``out_features``.

    Args:
        in_channels: values per time point (1 for a univariate series).
        out_features: size of the summary vector.
        kind: ``convolution`` or ``gru``.
        width: channels of the convolutions or hidden units of the GRU.
        layers: convolution blocks, or stacked GRU layers.

    Example:
        >>> net = TimeSeriesSummary(in_channels=2, out_features=8)
        >>> net(torch.randn(4, 50, 2)).shape, TimeSeriesSummary(1, 8, kind="gru")(torch.randn(4, 30)).shape
        (torch.Size([4, 8]), torch.Size([4, 8]))

    YAML::

        summary_network:
          class_path: cmpe_lightning.networks.TimeSeriesSummary
          init_args: {in_channels: 2, out_features: 16, kind: gru}
    """

    def __init__(self, in_channels: int = 1, out_features: int = 16,
                 kind: Literal["convolution", "gru"] = "convolution", width: int = 32, layers: int = 2):
        super().__init__()
        if kind not in ("convolution", "gru"):
            raise InputError(f"kind must be 'convolution' or 'gru', got {kind!r}.")
        self.in_channels, self.kind = in_channels, kind
        if kind == "convolution":
            blocks: list[nn.Module] = []
            for i in range(layers):
                blocks += [nn.Conv1d(in_channels if i == 0 else width, width, 5, padding=2), nn.ReLU(),
                           nn.Conv1d(width, width, 3, stride=2, padding=1), nn.ReLU()]
            self.body = nn.Sequential(*blocks)
            pooled = 2 * width
        else:
            self.body = nn.GRU(in_channels, width, num_layers=layers, batch_first=True)
            pooled = width
        self.head = dense_stack(pooled, width, out_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 2 and self.in_channels == 1:
            x = x[..., None]
        if x.ndim != 3 or x.shape[-1] != self.in_channels:
            raise InputError(f"TimeSeriesSummary expects x of shape (batch, length, {self.in_channels}),"
                             f" got {tuple(x.shape)}.")
        if self.kind == "gru":
            _, hidden = self.body(x)
            return self.head(hidden[-1])
        h = self.body(x.transpose(1, 2))
        return self.head(torch.cat([h.mean(-1), h.std(-1, unbiased=False)], -1))
