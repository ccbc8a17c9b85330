"""The summary network of the tumor spheroid growth model: an LSTM over the growth curve, a CNN (or a small
transformer) over the profiles."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ...networks.summary import dense_stack
from ...utils.errors import InputError
from .preprocessing import PROFILE_CHANNELS


class TumorSummary(nn.Module):
    """Summary of the tumor's observations as :class:`TumorPreprocessing` returns them.

    An LSTM reads the growth curve ``(batch, days, 1)`` (its last hidden state summarizes it). The
    ``profiles`` ``(batch, 3, bins)`` are summarized by ``conv_layers`` 1-D convolutions of stride 2 and a
    global average over the bins (``profile_network: convolution``), or, as the paper's "small transformer",
    by ``attention_layers`` self-attention layers over patches of ``patch_size`` bins and an average over
    the patches (``transformer``; the position channel tells the patches apart). Dense layers map both
    summaries, concatenated, to ``out_features``. Any number of days and bins works.

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
        profile_network: ``"convolution"`` or ``"transformer"``.
        patch_size: bins per token of the transformer.
        attention_layers: transformer layers (``conv_channels`` wide, 4 heads).

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
        profile_network: Literal["convolution", "transformer"] = "convolution",
        patch_size: int = 10,
        attention_layers: int = 2,
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise InputError(f"kernel_size must be odd (to pad the bins symmetrically), got {kernel_size}.")
        if profile_network not in ("convolution", "transformer"):
            raise InputError(f"profile_network must be 'convolution' or 'transformer', got {profile_network!r}.")
        self.recurrent = nn.LSTM(1, recurrent_width, batch_first=True)
        if profile_network == "transformer":
            self.convolution = ProfileTransformer(conv_channels, patch_size, attention_layers)
            profile_features = conv_channels
        else:
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
        if (growth is None or profiles is None or growth.ndim != 3 or profiles.ndim != 3
                or profiles.shape[1] != PROFILE_CHANNELS):
            found = {name: tuple(part.shape) for name, part in x.items()}
            raise InputError(
                "TumorSummary expects {growth_curve: (batch, days, 1), profiles: (batch, 3, bins)}"
                " as TumorPreprocessing"
                f" returns it, got {found}."
            )
        _, (hidden, _) = self.recurrent(growth)
        pooled = self.convolution(profiles).mean(dim=-1)
        return self.head(torch.cat([hidden[-1], pooled], dim=-1))


class ProfileTransformer(nn.Module):
    """Self-attention over patches of the profiles: ``(batch, 3, bins)`` to ``(batch, width, patches)``.

    Example:
        >>> ProfileTransformer(width=16, patch_size=10)(torch.randn(2, 3, 295)).shape
        torch.Size([2, 16, 30])
    """

    def __init__(self, width: int = 64, patch_size: int = 10, layers: int = 2, heads: int = 4):
        super().__init__()
        if patch_size < 1 or layers < 1:
            raise InputError(f"patch_size and layers must be positive, got {patch_size} and {layers}.")
        self.patch_size = patch_size
        self.embed = nn.Linear(PROFILE_CHANNELS * patch_size, width)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, profiles: Tensor) -> Tensor:
        batch, channels, bins = profiles.shape
        padded = nn.functional.pad(profiles, (0, -bins % self.patch_size))  # zeros: no cell at that depth
        patches = padded.view(batch, channels, -1, self.patch_size).permute(0, 2, 1, 3).flatten(2)
        return self.encoder(self.embed(patches)).transpose(1, 2)
