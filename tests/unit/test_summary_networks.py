"""The generic summary networks: invariants, shapes, errors and injection through YAML."""

from pathlib import Path

import pytest
import torch

from cmpe_lightning.cli import run_cli
from cmpe_lightning.networks import SetTransformerSummary, TimeSeriesSummary


@pytest.mark.parametrize("kind", ["convolution", "gru"])
def test_time_series_summary_is_per_series_and_takes_any_length(kind):
    torch.manual_seed(0)
    net = TimeSeriesSummary(in_channels=3, out_features=5, kind=kind).eval()
    x = torch.randn(6, 40, 3)
    out = net(x)
    assert out.shape == (6, 5)
    torch.testing.assert_close(net(x[2:3]), out[2:3])  # one series' summary does not depend on the others
    assert net(torch.randn(2, 17, 3)).shape == (2, 5)
    with pytest.raises(ValueError, match=r"\(batch, length, 3\), got \(6, 40, 2\)"):
        net(x[..., :2])


def test_gru_summary_depends_on_the_order_in_time():
    torch.manual_seed(0)
    net = TimeSeriesSummary(1, 4, kind="gru").eval()
    x = torch.randn(3, 20)
    assert not torch.allclose(net(x), net(x.flip(1)))


def test_set_transformer_is_permutation_invariant_and_uses_interactions():
    torch.manual_seed(0)
    net = SetTransformerSummary(2, 6, width=32, heads=4, seeds=2).eval()
    x = torch.randn(5, 12, 2)
    torch.testing.assert_close(net(x), net(x[:, torch.randperm(12)]), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(net(x[:, :6]), net(x))  # the set's other elements matter
    with pytest.raises(ValueError, match="divisible"):
        SetTransformerSummary(2, width=30, heads=4)


def test_set_transformer_replaces_the_deep_set_from_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = str(Path(__file__).parents[2] / "configs" / "gmm" / "nsf.yaml")
    cli = run_cli([
        "fit", "--config", config, "--trainer.max_steps", "3", "--trainer.enable_progress_bar", "false",
        "--trainer.limit_val_batches", "1", "--data.init_args.num_validation", "64",
        "--data.init_args.num_simulations", "128", "--trainer.check_val_every_n_epoch", "1",
        "--model.init_args.summary_network", "cmpe_lightning.networks.SetTransformerSummary",
        "--model.init_args.summary_network.init_args.in_features", "2",
        "--model.init_args.summary_network.init_args.width", "32",
    ])
    assert isinstance(cli.model.summary_network, SetTransformerSummary) and cli.trainer.global_step == 3


@pytest.mark.parametrize("x_shape", [(50, 1), (50,)])
def test_time_series_of_any_channel_layout_fits_the_default_standardization(x_shape):
    """A series ``(length, 1)`` or ``(length,)`` goes through the default standardization, the loss and sampling."""
    from cmpe_lightning import ConsistencyPosteriorEstimator

    torch.manual_seed(0)
    theta = torch.randn(64, 2)
    x = (theta[:, :1] + theta[:, 1:] * torch.linspace(0, 1, 50)).reshape(64, *x_shape) + 0.1 * torch.randn(64, *x_shape)
    est = ConsistencyPosteriorEstimator(2, x_shape, summary_network=TimeSeriesSummary(in_channels=1, out_features=8))
    est.theta_standardizer.fit(theta)
    est.preprocessing.fit(x)  # raised "doesn't match the broadcast shape [50, 50]" for (50, 1)
    est._fit_training_range(x)
    assert est.preprocessing.mean.shape == x_shape
    torch.testing.assert_close(est.preprocessing(x).mean(0), torch.zeros(x_shape), atol=1e-4, rtol=0)
    loss = est.loss(theta, x)
    assert loss.shape == (64,) and torch.isfinite(loss).all()
    assert est.sample(x[:3], 5).shape == (3, 5, 2)
