"""Summary (embedding) networks: map an observation ``x`` to a fixed-size context vector."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..utils.errors import InputError


def dense_stack(in_features: int, width: int, out_features: int, depth: int) -> nn.Sequential:
    """``depth`` hidden ReLU layers of ``width`` units, then a linear output layer."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_features if i == 0 else width, width), nn.ReLU()]
    layers.append(nn.Linear(width if depth else in_features, out_features))
    return nn.Sequential(*layers)


class DeepSet(nn.Module):
    """Permutation-invariant summary of a set of iid observations ``(batch, set_size, in_features)``.

    Each element is embedded by ``phi``; mean and standard deviation over the set are pooled and mapped
    by ``rho`` to ``out_features``. Pooling by moments keeps the summary invariant to the order of the set.

    References:
        | Deep Sets (Zaheer et al., 2017)
        | https://arxiv.org/abs/1703.06114

    Args:
        in_features: size of one set element (2 for the GMM).
        out_features: size of the summary vector.
        width: hidden width of ``phi`` and ``rho``.
        depth: hidden layers of ``phi`` and of ``rho``.

    Example:
        >>> net = DeepSet(2, 8)
        >>> x = torch.randn(4, 10, 2)
        >>> torch.allclose(net(x), net(x[:, torch.randperm(10)]), atol=1e-6)
        True
    """

    def __init__(self, in_features: int, out_features: int = 16, width: int = 64, depth: int = 2):
        super().__init__()
        self.phi = dense_stack(in_features, width, width, depth)
        self.rho = dense_stack(2 * width, width, out_features, depth)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3:
            raise InputError(f"DeepSet expects x of shape (batch, set_size, features), got {tuple(x.shape)}.")
        h = self.phi(x)
        pooled = torch.cat([h.mean(dim=1), h.std(dim=1, unbiased=False)], dim=-1)
        return self.rho(pooled)
