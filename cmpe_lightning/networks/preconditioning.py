"""Preconditioning: the float32 wrapper between an estimator's ODE or consistency function and its backbone.

References:
    | Elucidating the Design Space of Diffusion-Based Generative Models (Karras et al., 2022), Table 1
    | https://arxiv.org/abs/2206.00364
    | Consistency Models (Song et al., 2023), the boundary condition https://arxiv.org/abs/2303.01469
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ..utils.errors import InputError


def per_sample(value: Tensor | float, like: Tensor) -> Tensor | float:
    """``(batch,)`` coefficients reshaped to broadcast against ``like`` ``(batch, *event)``; floats as they are."""
    if isinstance(value, Tensor):
        return value.view(-1, *(1,) * (like.ndim - 1))
    return value


class Preconditioner(nn.Module):
    r""":math:`D(\theta_t, t; c) = c_{skip}(t)\, \theta_t + c_{out}(t)\, F(c_{in}(t)\, \theta_t,\; c_{noise}(t),\; c)`.

    The coefficients, the input scaling and the combination run in float32 (autocast leaves elementwise
    operations alone); only the backbone ``F`` may run in bf16/fp16 under mixed precision, and its output
    is cast back to float32 before it is combined. This class is the identity preconditioning
    (``c_skip = 0``, ``c_out = c_in = 1``, ``c_noise = t``), as flow matching uses it; subclasses override
    :meth:`coefficients`.

    Args:
        network: the backbone, called as ``network(theta_in, noise_level, context)``.

    Example:
        >>> from cmpe_lightning.networks import ConditionalMLP
        >>> velocity = Preconditioner(ConditionalMLP((2,), 3, width=16))
        >>> velocity(torch.zeros(5, 2), torch.full((5,), 0.5), torch.zeros(5, 3)).dtype
        torch.float32
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def coefficients(self, t: Tensor) -> tuple[Tensor | float, Tensor | float, Tensor | float, Tensor]:
        """``(c_skip, c_out, c_in, c_noise)`` at noise levels ``t`` ``(batch,)``."""
        return 0.0, 1.0, 1.0, t

    def forward(self, theta_t: Tensor, t: Tensor | float, context: Tensor) -> Tensor:
        theta_t = theta_t.float()
        t = torch.as_tensor(t, dtype=torch.float32, device=theta_t.device).expand(len(theta_t))
        c_skip, c_out, c_in, c_noise = self.coefficients(t)
        c_skip, c_out, c_in = (per_sample(c, theta_t) for c in (c_skip, c_out, c_in))
        out = self.network(c_in * theta_t, c_noise, context).float()
        return c_skip * theta_t + c_out * out


class ConsistencyPreconditioner(Preconditioner):
    r"""The consistency function's parametrization, exact at the boundary :math:`f(\theta, \epsilon) = \theta`.

    .. math:: c_{skip}(t) = \frac{\sigma^2}{(t - \epsilon)^2 + \sigma^2}, \quad
              c_{out}(t) = \frac{\sigma (t - \epsilon)}{\sqrt{\sigma^2 + t^2}}

    ``mode: paper`` feeds the backbone raw ``theta_t`` and ``t`` (as the CMPE paper's code); ``edm`` feeds
    :math:`\theta_t / \sqrt{\sigma^2 + t^2}` and :math:`\log(t) / 4` (Karras et al., 2022), which keeps the
    inputs of order one for noise levels up to ``t_max = 200`` (images).

    Args:
        network: the backbone.
        epsilon: the smallest noise level.
        sigma_data: standard deviation of the (standardized) parameters.
        mode: ``paper`` or ``edm``.

    Example:
        >>> from cmpe_lightning.networks import ConditionalMLP
        >>> f = ConsistencyPreconditioner(ConditionalMLP((2,), 3, width=16), epsilon=1e-3)
        >>> theta = torch.randn(4, 2)
        >>> torch.allclose(f(theta, 1e-3, torch.zeros(4, 3)), theta)
        True
    """

    def __init__(self, network: nn.Module, epsilon: float, sigma_data: float = 1.0,
                 mode: Literal["paper", "edm"] = "paper"):
        super().__init__(network)
        if mode not in ("paper", "edm"):
            raise InputError(f"preconditioning must be 'paper' or 'edm', got {mode!r}.")
        self.epsilon, self.sigma_data, self.mode = epsilon, sigma_data, mode

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor | float, Tensor]:
        sigma = self.sigma_data
        c_skip = sigma**2 / ((t - self.epsilon) ** 2 + sigma**2)
        c_out = sigma * (t - self.epsilon) / torch.sqrt(sigma**2 + t**2)
        if self.mode == "edm":
            return c_skip, c_out, 1 / torch.sqrt(sigma**2 + t**2), t.log() / 4
        return c_skip, c_out, 1.0, t

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}, sigma_data={self.sigma_data}, mode={self.mode!r}"
