"""Every Fashion-MNIST config through fit, test and predict on small generated image files."""

from pathlib import Path

import numpy as np
import pytest
import torch

from cmpe_lightning.cli import main, run_cli

CONFIGS = sorted(str(p) for p in (Path(__file__).parents[2] / "configs" / "fashion_mnist").glob("*.yaml"))
SMALL = ["--trainer.max_steps", "3", "--trainer.limit_val_batches", "1", "--trainer.check_val_every_n_epoch", "1",
         "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: Path(c).stem)
def test_image_config_fit_test_predict(config, image_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = ["--data.init_args.root", str(image_root), "--data.init_args.num_train_images", "12",
            "--data.init_args.num_validation", "8", "--data.init_args.num_test_images", "3",
            "--data.init_args.batch_size", "4",
            "--data.init_args.num_workers", "0"]  # GPU configs run bf16-mixed here too
    fast = ["--sampler", "{num_steps: 2}"]
    fit = run_cli(["fit", "--config", config, *SMALL, *data])
    assert fit.trainer.global_step == 3 and torch.isfinite(fit.trainer.callback_metrics["val/loss"])
    assert fit.model.theta_shape == (1, 28, 28)
    (checkpoint,) = tmp_path.glob("runs/*/version_0/checkpoints/last.ckpt")

    tested = run_cli(["test", "--config", config, "--ckpt_path", str(checkpoint), *SMALL, *data, *fast])
    metrics = tested.trainer.callback_metrics
    for name in ("rmse", "posterior_mean_rmse", "mmd", "psnr", "ssim", "coverage_90", "ms_per_1000_draws"):
        assert torch.isfinite(metrics[f"test/{name}"]), name
    assert 0 < float(metrics["test/posterior_mean_rmse"]) <= float(metrics["test/rmse"]) < 3
    assert list(tmp_path.glob("runs/*/version_0/test/posterior_images_test.png"))  # test logs into its run

    x = fit.datamodule.simulate(fit.datamodule.images()["val"][:2], 0)[1]
    np.save(tmp_path / "obs.npy", x.numpy())
    main(["predict", "--config", config, "--ckpt_path", str(checkpoint), *SMALL, *data, *fast,
          "--data.init_args.observations", "obs.npy", "--predictions.path", "samples.npz",
          "--predictions.num_samples", "5"])
    result = np.load(tmp_path / "samples.npz")
    assert result["samples"].shape == (2, 5, 1, 28, 28)
    assert (tmp_path / "samples_images.png").is_file()
    if "cmpe" in Path(config).stem:  # the config clips draws to [-1.01, 1.01]
        assert np.abs(result["samples"]).max() <= 1.01 + 1e-6
