"""A small U-Net behind the backbone contract: the network of CMPE and FMPE over image-shaped parameters.

References:
    | U-Net (Ronneberger et al., 2015) https://arxiv.org/abs/1505.04597
    | Denoising Diffusion Probabilistic Models (Ho et al., 2020), the residual blocks, attention and
    | time embedding of its U-Net https://arxiv.org/abs/2006.11239
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..utils.errors import InputError


class SinusoidalEmbedding(nn.Module):
    """``[sin(s t f_i), cos(s t f_i)]`` with frequencies ``f_i`` from 1 down to 1/10 000 (Vaswani et al., 2017).

    ``scale`` ``s`` = 1000 resolves a noise level in [0, 1] (flow matching) or ``log(t) / 4`` (EDM) as DDPM
    resolves its integer steps 0..1000.

    Example:
        >>> SinusoidalEmbedding(64)(torch.rand(5)).shape
        torch.Size([5, 64])
    """

    def __init__(self, dim: int, scale: float = 1000.0):
        super().__init__()
        if dim % 2:
            raise InputError(f"The embedding dimension must be even, got {dim}.")
        frequencies = torch.exp(-math.log(10_000) * torch.arange(dim // 2) / (dim // 2))
        self.register_buffer("frequencies", frequencies, persistent=False)
        self.scale = scale

    def forward(self, t: Tensor) -> Tensor:
        angles = self.scale * t.float()[:, None] * self.frequencies
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class ResidualBlock(nn.Module):
    """GroupNorm, SiLU, 3×3 conv, plus a per-channel shift from the embedding, twice; a 1×1 conv on the skip."""

    def __init__(self, in_channels: int, out_channels: int, embedding_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, in_channels), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.embedding = nn.Linear(embedding_dim, out_channels)
        self.norm2 = nn.GroupNorm(min(groups, out_channels), out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, h: Tensor, embedding: Tensor) -> Tensor:
        out = self.conv1(F.silu(self.norm1(h)))
        out = out + self.embedding(embedding)[:, :, None, None]
        out = self.conv2(self.dropout(F.silu(self.norm2(out))))
        return self.skip(h) + out


class SelfAttention(nn.Module):
    """Single-head self-attention over the pixels of a feature map, residual."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(min(groups, channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, h: Tensor) -> Tensor:
        b, c, height, width = h.shape
        q, k, v = self.qkv(self.norm(h)).flatten(2).transpose(1, 2).chunk(3, dim=-1)  # (b, pixels, c) each
        attended = F.scaled_dot_product_attention(q, k, v)
        return h + self.out(attended.transpose(1, 2).reshape(b, c, height, width))


class Level(nn.Module):
    """The residual blocks (and attention after each) of one resolution."""

    def __init__(self, channels: Sequence[tuple[int, int]], embedding_dim: int, groups: int, dropout: float,
                 attention: bool):
        super().__init__()
        self.blocks = nn.ModuleList(ResidualBlock(i, o, embedding_dim, groups, dropout) for i, o in channels)
        self.attention = nn.ModuleList(SelfAttention(o, groups) if attention else nn.Identity() for _, o in channels)


class ConditionalUNet(nn.Module):
    """U-Net over ``theta_in`` as an image ``(channels, height, width)``, conditioned on the noise level and context.

    The noise level is embedded sinusoidally (``time_embedding_dim``) and by a 2-layer SiLU MLP, then
    concatenated with the summary network's context; every residual block adds a per-channel projection of
    that vector. Each level has ``num_res_blocks`` blocks on the way down and one more on the way up
    (taking the skip connections), with self-attention at the levels in ``attention_levels``; levels are
    joined by 2× down- and upsampling (sizes that do not halve evenly, like 7, are padded and cropped). The
    output convolution starts at zero, so the untrained network returns zeros and the estimator starts from
    its preconditioning's skip term.

    YAML sets the architecture; the estimator supplies the shapes::

        backbone:
          class_path: cmpe_lightning.networks.ConditionalUNet
          init_args: {channels: [16, 32, 64], attention_levels: [2], num_res_blocks: 2}

    Args:
        theta_shape: ``(channels, height, width)`` of one parameter (given by the estimator).
        context_features: size of the summary network's output (given by the estimator).
        channels: feature channels per level, from the full resolution down.
        attention_levels: indices of the levels with self-attention.
        num_res_blocks: residual blocks per level on the way down.
        time_embedding_dim: size of the sinusoidal noise-level embedding (and of its MLP).
        time_scale: factor on the noise level before the sinusoidal embedding.
        groups: GroupNorm groups (fewer where a layer has fewer channels).
        dropout: dropout inside the residual blocks.
        channels_last: run the convolutions in channels-last memory format (faster on CPUs and tensor cores).

    Example:
        >>> net = ConditionalUNet((1, 28, 28), 8, channels=(8, 16), attention_levels=(1,), num_res_blocks=1)
        >>> net(torch.randn(3, 1, 28, 28), torch.rand(3), torch.randn(3, 8)).abs().max()  # zero output layer
        tensor(0., grad_fn=<MaxBackward1>)
    """

    def __init__(
        self,
        theta_shape: Sequence[int],
        context_features: int,
        channels: Sequence[int] = (16, 32, 64),
        attention_levels: Sequence[int] = (2,),
        num_res_blocks: int = 2,
        time_embedding_dim: int = 64,
        time_scale: float = 1000.0,
        groups: int = 8,
        dropout: float = 0.0,
        channels_last: bool = True,
    ):
        super().__init__()
        if len(theta_shape) != 3:
            raise InputError(f"ConditionalUNet needs image-shaped parameters (channels, height, width),"
                             f" got {tuple(theta_shape)}.")
        if not channels or num_res_blocks < 1:
            raise InputError(f"Expected at least one level and one block, got channels={channels},"
                             f" num_res_blocks={num_res_blocks}.")
        bad = [i for i in attention_levels if not 0 <= i < len(channels)]
        if bad:
            raise InputError(f"attention_levels {bad} do not exist; the U-Net has levels 0..{len(channels) - 1}.")
        image_channels = theta_shape[0]
        embedding_dim = time_embedding_dim + context_features
        self.time_embedding = nn.Sequential(
            SinusoidalEmbedding(time_embedding_dim, time_scale),
            nn.Linear(time_embedding_dim, time_embedding_dim), nn.SiLU(),
            nn.Linear(time_embedding_dim, time_embedding_dim),
        )
        self.input = nn.Conv2d(image_channels, channels[0], 3, padding=1)
        self.down, skips, current = nn.ModuleList(), [channels[0]], channels[0]
        for level, width in enumerate(channels):
            pairs = []
            for _ in range(num_res_blocks):
                pairs.append((current, width))
                current = width
                skips.append(width)
            self.down.append(Level(pairs, embedding_dim, groups, dropout, level in attention_levels))
            if level < len(channels) - 1:
                skips.append(current)
        self.middle = Level([(current, current), (current, current)], embedding_dim, groups, dropout, True)
        self.up = nn.ModuleList()
        for level in reversed(range(len(channels))):
            pairs = []
            for _ in range(num_res_blocks + 1):
                pairs.append((current + skips.pop(), channels[level]))
                current = channels[level]
            self.up.append(Level(pairs, embedding_dim, groups, dropout, level in attention_levels))
        self.output = nn.Sequential(nn.GroupNorm(min(groups, current), current), nn.SiLU(),
                                    nn.Conv2d(current, image_channels, 3, padding=1))
        nn.init.zeros_(self.output[-1].weight)
        nn.init.zeros_(self.output[-1].bias)
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, theta_in: Tensor, noise_level: Tensor, context: Tensor) -> Tensor:
        embedding = torch.cat([self.time_embedding(noise_level), context.to(noise_level.dtype)], dim=-1)
        if self.channels_last:
            theta_in = theta_in.contiguous(memory_format=torch.channels_last)
        h = self.input(theta_in)
        skips = [h]
        for i, level in enumerate(self.down):
            for block, attention in zip(level.blocks, level.attention):
                h = attention(block(h, embedding))
                skips.append(h)
            if i < len(self.down) - 1:
                h = F.avg_pool2d(h, 2, ceil_mode=True, count_include_pad=False)
                skips.append(h)
        for block, attention in zip(self.middle.blocks, self.middle.attention):
            h = attention(block(h, embedding))
        for i, level in enumerate(self.up):
            if i > 0:  # back to the size of the skip connection (7 -> 14 -> 28)
                h = F.interpolate(h, size=skips[-1].shape[-2:], mode="nearest")
            for block, attention in zip(level.blocks, level.attention):
                h = attention(block(torch.cat([h, skips.pop()], dim=1), embedding))
        return self.output(h).contiguous()
