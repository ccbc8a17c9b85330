"""The denoising task's forward model, in torch so that it runs on the batch's device: Poisson noise, then blur.

.. math:: \\theta = 2 u - 1, \\qquad x = G_\\sigma * \\big(s \\cdot \\mathrm{Poisson}(u V) / V\\big)

for a clean image :math:`u \\in [0, 1]`, with :math:`V = 2^{\\lceil \\log_2 n \\rceil}` for :math:`n` distinct
values in the image (scikit-image's ``random_noise(mode='poisson')``), :math:`s = 0.5` and a Gaussian blur
of :math:`\\sigma = 2.5` pixels (Schmitt et al., 2024, "Bayesian denoising").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ...utils.errors import InputError


def distinct_values(images: Tensor) -> Tensor:
    """The number of distinct values in each image ``(batch, ...)``: ``(batch,)``."""
    flat = images.flatten(1).sort(dim=1).values
    return 1 + (flat[:, 1:] != flat[:, :-1]).sum(dim=1)


def poisson_noise(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Poisson noise as scikit-image's ``random_noise(image, mode='poisson')`` adds it, per image of ``(batch, ...)``.

    Each image in [0, 1] is scaled by ``V = 2 ** ceil(log2(distinct values))``, replaced by a Poisson draw
    with that mean, scaled back and clipped to [0, 1].

    Example:
        >>> noisy = poisson_noise(torch.rand(4, 1, 28, 28), torch.Generator().manual_seed(0))
        >>> bool(noisy.min() >= 0 and noisy.max() <= 1)
        True
    """
    levels = 2.0 ** torch.ceil(torch.log2(distinct_values(images).to(images.dtype)))
    levels = levels.view(-1, *(1,) * (images.ndim - 1))
    # torch.poisson takes its generator on the tensor's device
    return (torch.poisson(images * levels, generator=generator) / levels).clamp(0.0, 1.0)


def gaussian_kernel(sigma: float, truncate: float = 4.0, device=None, dtype=torch.float32) -> Tensor:
    """The normalized 1-D Gaussian of radius ``int(truncate * sigma + 0.5)`` (scipy's ``gaussian_filter`` kernel)."""
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (kernel / kernel.sum()).to(dtype)


def gaussian_blur(images: Tensor, sigma: float, truncate: float = 4.0, padding: str = "replicate") -> Tensor:
    """Separable Gaussian blur of ``(batch, channels, height, width)`` images.

    ``padding`` ``replicate`` repeats the edge pixels (scipy's and scikit-image's ``mode='nearest'``);
    ``reflect`` mirrors without repeating the edge (scipy's ``mirror``).

    Example:
        >>> blurred = gaussian_blur(torch.ones(2, 1, 28, 28), sigma=2.5)
        >>> torch.allclose(blurred, torch.ones(2, 1, 28, 28))
        True
    """
    if images.ndim != 4:
        raise InputError(f"gaussian_blur expects (batch, channels, height, width), got {tuple(images.shape)}.")
    if sigma <= 0:
        return images
    kernel = gaussian_kernel(sigma, truncate, images.device, images.dtype)
    radius = len(kernel) // 2
    channels = images.shape[1]
    out = F.pad(images, (radius, radius, radius, radius), mode=padding)
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


class BlurredPoissonObservation:
    """The forward model ``u -> (theta, x)`` of Bayesian denoising, for clean images ``u`` in [0, 1].

    Args:
        blur_sigma: standard deviation of the Gaussian blur in pixels (paper: 2.5).
        noise_scale: factor on the noisy image before the blur (paper: 0.5), so ``x`` lies in ``[0, noise_scale]``.

    Example:
        >>> model = BlurredPoissonObservation()
        >>> theta, x = model(torch.rand(3, 1, 28, 28), torch.Generator().manual_seed(0))
        >>> float(theta.min()) >= -1 and float(x.max()) <= 0.5
        True
    """

    def __init__(self, blur_sigma: float = 2.5, noise_scale: float = 0.5):
        if blur_sigma < 0 or not math.isfinite(blur_sigma):
            raise InputError(f"blur_sigma must be a non-negative number of pixels, got {blur_sigma}.")
        if not noise_scale > 0:
            raise InputError(f"noise_scale must be positive, got {noise_scale}.")
        self.blur_sigma, self.noise_scale = blur_sigma, noise_scale

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        images = images.float()
        theta = 2 * images - 1
        x = gaussian_blur(self.noise_scale * poisson_noise(images, generator), self.blur_sigma)
        return theta, x
