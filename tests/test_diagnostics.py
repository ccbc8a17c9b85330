"""Calibration diagnostics on a conjugate Gaussian model, whose exact posterior is known."""

import pytest
import torch

from cmpe_lightning.metrics import CalibrationError, IntervalCoverage

SIGMA = 0.5  # x ~ N(theta, SIGMA^2), theta ~ N(0, I): posterior N(x / (1 + SIGMA^2), SIGMA^2 / (1 + SIGMA^2))


def posterior_draws(shift: float = 0.0, scale: float = 1.0, num: int = 2000, draws: int = 300, d: int = 3):
    g = torch.Generator().manual_seed(0)
    theta = torch.randn(num, d, generator=g)
    x = theta + SIGMA * torch.randn(num, d, generator=g)
    mean, std = x / (1 + SIGMA**2), SIGMA / (1 + SIGMA**2) ** 0.5
    samples = mean[:, None] + shift * std + scale * std * torch.randn(num, draws, d, generator=g)
    return samples, theta


def calibration(samples, theta):
    metric = CalibrationError()
    for chunk in range(0, len(theta), 500):  # several updates, as in a test loop
        metric.update(samples[chunk: chunk + 500], theta[chunk: chunk + 500])
    return metric


def test_exact_posterior_is_calibrated():
    metric = calibration(*posterior_draws())
    assert float(metric.compute()) < 0.02
    assert metric.per_parameter().shape == (3,) and metric.coverage().shape == (20, 3)


@pytest.mark.parametrize("shift, scale", [(1.0, 1.0), (0.0, 0.5), (0.0, 2.0)], ids=["shifted", "overconfident", "underconfident"])
def test_miscalibration_is_detected(shift, scale):
    assert float(calibration(*posterior_draws(shift, scale)).compute()) > 0.1


def test_coverage_says_which_way():
    over, under = IntervalCoverage(0.9), IntervalCoverage(0.9)
    over.update(*posterior_draws(scale=0.5))
    under.update(*posterior_draws(scale=2.0))
    assert float(over.compute()) < 0.8 and float(under.compute()) > 0.97
