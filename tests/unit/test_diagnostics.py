"""Calibration diagnostics on a conjugate Gaussian model, whose exact posterior is known."""

import math

import numpy as np
import pytest
import torch

from cmpe_lightning.metrics import (
    SBC,
    TARP,
    CalibrationError,
    IntervalCoverage,
    JointC2ST,
    PosteriorContraction,
    PosteriorZScore,
)
from cmpe_lightning.metrics.sbc import ECDFUniformityTest

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


@pytest.mark.parametrize("shift, scale", [(1.0, 1.0), (0.0, 0.5), (0.0, 2.0)],
                         ids=["shifted", "overconfident", "underconfident"])
def test_miscalibration_is_detected(shift, scale):
    assert float(calibration(*posterior_draws(shift, scale)).compute()) > 0.1


def test_coverage_says_which_way():
    over, under = IntervalCoverage(0.9), IntervalCoverage(0.9)
    over.update(*posterior_draws(scale=0.5))
    under.update(*posterior_draws(scale=2.0))
    assert float(over.compute()) < 0.8 and float(under.compute()) > 0.97


def sbc(samples, theta):
    metric = SBC()
    for chunk in range(0, len(theta), 500):
        metric.update(samples[chunk: chunk + 500], theta[chunk: chunk + 500])
    return metric


# with 1 000 simulated null statistics the smallest p-value is 1/1001; a correct posterior falls below 0.002 for
# one of its 3 parameters with probability about 0.6 %
def test_sbc_accepts_the_exact_posterior():
    metric = sbc(*posterior_draws())
    assert float(metric.compute()) > 0.002 and metric.ranks().shape == (2000, 3)


@pytest.mark.parametrize("shift, scale", [(0.3, 1.0), (0.0, 0.8), (0.0, 1.25)],
                         ids=["shifted", "overconfident", "underconfident"])
def test_sbc_rejects_miscalibrated_posteriors(shift, scale):
    assert float(sbc(*posterior_draws(shift, scale)).compute()) < 0.002


def test_ecdf_band_holds_uniform_samples_at_its_level():
    test = ECDFUniformityTest(200, num_simulations=500)
    points, lower, upper = test.band(0.05)
    rng = np.random.default_rng(1)
    inside = [np.all(((x := rng.uniform(size=200))[:, None] <= points).mean(0) - points >= lower - 1e-12)
              and np.all((x[:, None] <= points).mean(0) - points <= upper + 1e-12) for _ in range(400)]
    assert 0.91 <= np.mean(inside) <= 0.99


def computed(metric_class, samples, theta):
    metric = metric_class()
    metric.update(samples, theta)
    return float(metric.compute())


def test_tarp_and_zscore_on_the_exact_posterior():
    samples, theta = posterior_draws()
    assert computed(TARP, samples, theta) < 0.04  # the KS distance's 95 % point for 2 000 observations is 0.03
    assert abs(computed(PosteriorZScore, samples, theta) - 1) < 0.05
    # prior variance 1, posterior variance SIGMA^2 / (1 + SIGMA^2) = 0.2
    assert abs(computed(PosteriorContraction, samples, theta) - 0.8) < 0.02


@pytest.mark.parametrize("shift, scale", [(1.0, 1.0), (0.0, 0.5), (0.0, 2.0)],
                         ids=["shifted", "overconfident", "underconfident"])
def test_tarp_detects_miscalibration(shift, scale):
    assert computed(TARP, *posterior_draws(shift, scale)) > 0.08


def test_zscores_say_which_way():
    assert computed(PosteriorZScore, *posterior_draws(scale=0.5)) > 1.5
    assert computed(PosteriorZScore, *posterior_draws(scale=2.0)) < 0.7


@pytest.mark.parametrize("shift, scale, detected", [(0.0, 1.0, False), (1.0, 1.0, True), (0.0, 0.4, True)],
                         ids=["exact", "shifted", "overconfident"])
def test_joint_c2st_needs_no_reference(shift, scale, detected):
    samples, theta = posterior_draws(shift, scale, num=800, draws=5, d=2)
    g = torch.Generator().manual_seed(0)  # posterior_draws' observations, recomputed from the same stream
    theta_again = torch.randn(800, 2, generator=g)
    x = theta_again + SIGMA * torch.randn(800, 2, generator=g)
    assert torch.equal(theta, theta_again)
    metric = JointC2ST()
    metric.update(samples, theta, x=x)
    accuracy = float(metric.compute())
    assert accuracy > 0.6 if detected else accuracy < 0.56


def test_diagnostic_plots_are_written(tmp_path):
    from types import SimpleNamespace

    from cmpe_lightning.callbacks import DiagnosticPlots

    trainer = SimpleNamespace(is_global_zero=True, log_dir=str(tmp_path), loggers=[], global_step=0)
    callback = DiagnosticPlots(names=["a", "b"])
    callback.on_test_start(trainer, None)
    samples, theta = posterior_draws(num=300, d=3)
    for batch_idx, start in enumerate(range(0, 300, 100)):
        outputs = {"samples": samples[start: start + 100], "theta": theta[start: start + 100]}
        callback.on_test_batch_end(trainer, None, outputs, None, batch_idx)
    callback.on_test_end(trainer, None)
    for kind in ("sbc", "coverage", "recovery", "zscore"):
        assert (tmp_path / f"diagnostics_{kind}.png").stat().st_size > 1000


def test_standardized_draw_errors_of_the_exact_posterior():
    """For theta ~ N(0, 1), x = theta + N(0, 1), the exact posterior N(x / 2, 1 / 2) draws differ from theta by
    N(0, 1) (posterior spread plus posterior mean error): MAE sqrt(2 / pi), RMSE 1, in units of sd(theta) = 1."""
    from cmpe_lightning.metrics import StandardizedDrawError

    g = torch.Generator().manual_seed(0)
    theta = torch.randn(4000, 3, generator=g)
    x = theta + torch.randn(4000, 3, generator=g)
    samples = x[:, None] / 2 + 0.5 ** 0.5 * torch.randn(4000, 50, 3, generator=g)
    mae, rmse = StandardizedDrawError("mae"), StandardizedDrawError("rmse")
    for metric in (mae, rmse):
        metric.update(samples[:2000], theta[:2000])
        metric.update(samples[2000:], theta[2000:])
    assert float(mae.compute()) == pytest.approx((2 / math.pi) ** 0.5, abs=0.02)
    assert float(rmse.compute()) == pytest.approx(1.0, abs=0.02)
    assert (mae.name, rmse.name) == ("standardized_mae", "standardized_rmse")
    with pytest.raises(ValueError, match="kind must be 'mae' or 'rmse', got 'l1'"):
        StandardizedDrawError("l1")
