"""Image quality of the posterior mean against the true image: PSNR and SSIM (torchmetrics)."""

from __future__ import annotations

from torch import Tensor
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from ..utils.errors import InputError
from .base import PosteriorMetric


class PosteriorMeanImageQuality(PosteriorMetric):
    """A torchmetrics image metric of the posterior mean (the average of the draws) against the true image.

    Parameters must be images ``(channels, height, width)``; ``data_range`` is the span of their values
    (2 for images in [-1, 1]).

    Args:
        kind: ``psnr`` (peak signal-to-noise ratio, dB) or ``ssim`` (structural similarity, 1 is identical).
        data_range: the span of the parameters' values.

    Example:
        >>> import torch
        >>> metric = PosteriorMeanImageQuality("ssim")
        >>> truth = torch.rand(4, 1, 28, 28) * 2 - 1
        >>> metric.update(truth[:, None].expand(4, 3, 1, 28, 28), truth)
        >>> round(float(metric.compute()), 4)
        1.0
    """

    higher_is_better = True

    def __init__(self, kind: str = "psnr", data_range: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        metrics = {"psnr": PeakSignalNoiseRatio, "ssim": StructuralSimilarityIndexMeasure}
        if kind not in metrics:
            raise InputError(f"kind must be 'psnr' or 'ssim', got {kind!r}.")
        self.name = kind
        self.metric = metrics[kind](data_range=data_range)

    def update(self, samples: Tensor, theta: Tensor, reference: Tensor | None = None) -> None:
        self.check(samples, theta)
        if theta.ndim != 4:
            raise InputError(f"{self.name} needs image parameters (batch, channels, height, width),"
                             f" got {tuple(theta.shape)}.")
        self.metric.update(samples.detach().float().mean(1), theta.detach().float())

    def compute(self) -> Tensor:
        return self.metric.compute()

    def reset(self) -> None:
        super().reset()
        self.metric.reset()
