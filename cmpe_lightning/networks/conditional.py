"""The backbone contract of CMPE and FMPE, and its adapter for multilayer perceptrons.

A backbone is built by the estimator as ``backbone(theta_shape, context_features)`` and called with its
inputs apart, ``network(theta_in, noise_level, context)``: ``theta_in`` ``(batch, *theta_shape)`` (already
scaled by the preconditioning), ``noise_level`` ``(batch,)`` (the time or noise feature) and ``context``
``(batch, context_features)`` (the summary network's output); it returns ``(batch, *theta_shape)``. A U-Net
takes ``theta_in`` as an image and embeds the noise level itself; an MLP takes everything concatenated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..utils.errors import InputError, InputTypeError
from .mlp import ResidualMLP


class ConditionalMLP(nn.Module):
    """A :class:`ResidualMLP` behind the backbone contract: it sees ``[theta_in (flattened), context, noise_level]``.

    YAML sets the MLP's options; the estimator supplies the shapes::

        backbone:
          class_path: cmpe_lightning.networks.ConditionalMLP
          init_args: {width: 256, num_blocks: 2, dropout: 0.05}

    Args:
        theta_shape: shape of one parameter (given by the estimator).
        context_features: size of the summary network's output (given by the estimator).
        width: hidden width (paper: 256; tumor 512).
        num_blocks: residual blocks (paper: 2 for two moons and IK, 3 for the GMM, 4 for the tumor).
        dropout: dropout rate inside each block (paper: 0.05 to 0.2).

    Example:
        >>> net = ConditionalMLP((2,), 3, width=32)
        >>> net(torch.zeros(7, 2), torch.ones(7), torch.zeros(7, 3)).shape
        torch.Size([7, 2])
    """

    def __init__(
        self,
        theta_shape: Sequence[int],
        context_features: int,
        width: int = 256,
        num_blocks: int = 2,
        dropout: float = 0.05,
    ):
        super().__init__()
        self.theta_shape = tuple(int(s) for s in theta_shape)
        theta_features = math.prod(self.theta_shape)
        self.mlp = ResidualMLP(theta_features + context_features + 1, theta_features, width, num_blocks, dropout)

    def forward(self, theta_in: Tensor, noise_level: Tensor, context: Tensor) -> Tensor:
        h = torch.cat([theta_in.flatten(1), context, noise_level[:, None]], dim=-1)
        return self.mlp(h).view(len(theta_in), *self.theta_shape)


def build_backbone(backbone: Callable[[tuple[int, ...], int], nn.Module], theta_shape: tuple[int, ...],
                   context_features: int) -> nn.Module:
    """Builds ``backbone(theta_shape, context_features)`` and checks the contract with a dry run on zeros.

    The errors say what the contract is, e.g. for a plain MLP class given where :class:`ConditionalMLP` belongs.
    """
    contract = (
        f"a backbone is built as backbone(theta_shape={theta_shape}, context_features={context_features}) and called"
        f" as network(theta_in (batch, *theta_shape), noise_level (batch,), context (batch, {context_features}))"
        " -> (batch, *theta_shape); for an MLP use cmpe_lightning.networks.ConditionalMLP"
    )
    try:
        network = backbone(theta_shape, context_features)
        was_training = network.training
        network.eval()
        with torch.no_grad():
            out = network(torch.zeros(2, *theta_shape), torch.ones(2), torch.zeros(2, context_features))
        network.train(was_training)
    except (TypeError, RuntimeError) as error:
        raise InputTypeError(f"The backbone {backbone!r} does not fit the contract ({error}): {contract}.") from error
    if tuple(out.shape) != (2, *theta_shape):
        raise InputError(f"The backbone returned shape {tuple(out.shape)} for 2 inputs, expected {(2, *theta_shape)}:"
                         f" {contract}.")
    return network
