"""Bayesian denoising of Fashion-MNIST (Schmitt et al., 2024): posteriors over 784-pixel images.

- :mod:`.forward_model`: Poisson noise and Gaussian blur in torch (:class:`BlurredPoissonObservation`);
- :mod:`.images`: finding and reading the IDX image files;
- :mod:`.data`: :class:`ImageDenoisingDataModule`;
- :mod:`.summary`: :class:`ImageSummary`, the CNN over observations.
"""

from .data import ImageDenoisingDataModule
from .forward_model import BlurredPoissonObservation, gaussian_blur, poisson_noise
from .images import load_image_set
from .summary import ImageSummary

__all__ = ["ImageDenoisingDataModule", "BlurredPoissonObservation", "gaussian_blur", "poisson_noise", "load_image_set",
           "ImageSummary"]
