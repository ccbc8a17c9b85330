"""An attention-based summary network for sets of iid observations (a Set Transformer)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..utils.errors import InputError
from .summary import dense_stack


class SetTransformerSummary(nn.Module):
    """Permutation-invariant summary of a set ``(batch, set_size, in_features)`` by self-attention and attention
    pooling.

    The elements are embedded, pass ``layers`` self-attention blocks (no positional encoding, so order does
    not matter) and are pooled by ``seeds`` learned queries attending to them; a dense stack maps the pooled
    vectors to ``out_features``. Unlike :class:`DeepSet`'s moment pooling, attention lets elements interact,
    which helps where the posterior depends on how observations relate (mixtures, outliers).

    References:
        | Set Transformer (Lee et al., 2019)
        | https://arxiv.org/abs/1810.00825

    Args:
        in_features: size of one set element.
        out_features: size of the summary vector.
        width: model width (divisible by ``heads``).
        heads: attention heads.
        layers: self-attention blocks.
        seeds: learned pooling queries.

    Example:
        >>> net = SetTransformerSummary(2, 8).eval()
        >>> x = torch.randn(4, 10, 2)
        >>> torch.allclose(net(x), net(x[:, torch.randperm(10)]), atol=1e-5)
        True
    """

    def __init__(self, in_features: int, out_features: int = 16, width: int = 64, heads: int = 4, layers: int = 2,
                 seeds: int = 1):
        super().__init__()
        if width % heads:
            raise InputError(f"width ({width}) must be divisible by heads ({heads}).")
        self.embed = nn.Linear(in_features, width)
        block = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.seeds = nn.Parameter(torch.randn(1, seeds, width) / width**0.5)
        self.pool = nn.MultiheadAttention(width, heads, batch_first=True)
        self.head = dense_stack(seeds * width, width, out_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3:
            raise InputError(f"SetTransformerSummary expects x of shape (batch, set_size, features),"
                             f" got {tuple(x.shape)}.")
        h = self.encoder(self.embed(x))
        pooled, _ = self.pool(self.seeds.expand(len(x), -1, -1), h, h, need_weights=False)
        return self.head(pooled.flatten(1))
