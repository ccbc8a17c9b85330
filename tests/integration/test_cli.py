"""Every config runs fit, test and predict for a few steps through the CLI, on small data."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cmpe_lightning import PosteriorEstimator
from cmpe_lightning.cli import main, run_cli
from cmpe_lightning.metrics import CalibrationError, PosteriorRMSE

ALL_CONFIGS = sorted(str(p) for p in (Path(__file__).parents[2] / "configs").glob("*/*.yaml"))
# simulator tasks; the tumor trains from a bank, the image configs are tested in test_denoising.py
CONFIGS = [c for c in ALL_CONFIGS if "/tumor/" not in c and "/fashion_mnist/" not in c]
TUMOR_CONFIG = next(c for c in ALL_CONFIGS if c.endswith("tumor/cmpe.yaml"))
SMALL = [
    "--trainer.max_steps", "3", "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false",
]
SMALL_DATA = [
    "--data.init_args.num_validation", "64", "--data.init_args.num_test_observations", "1",
    "--data.init_args.num_reference_samples", "200", "--data.init_args.num_calibration_observations", "16",
]


def small_fit_args(config: str) -> list[str]:
    args = ["fit", "--config", config, *SMALL, *SMALL_DATA]
    if "online" in config:
        return [*args, "--trainer.val_check_interval", "2"]
    return [*args, "--data.init_args.num_simulations", "128", "--trainer.check_val_every_n_epoch", "1"]


def checkpoint_of(tmp_path: Path) -> Path:
    (checkpoint,) = tmp_path.glob("runs/*/version_0/checkpoints/last.ckpt")
    return checkpoint


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "/".join(Path(c).parts[-2:]))
def test_config_fit_test_predict(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fit = run_cli(small_fit_args(config))
    assert fit.trainer.global_step == 3
    assert torch.isfinite(fit.trainer.callback_metrics["val/loss"])
    checkpoint = checkpoint_of(tmp_path)

    tested = run_cli(["test", "--config", config, "--ckpt_path", str(checkpoint), *SMALL, *SMALL_DATA])
    metrics = tested.trainer.callback_metrics
    assert 0.5 <= float(metrics["test/c2st"]) <= 1.0 and metrics["test/ms_per_1000_draws"] > 0
    assert 0 < float(metrics["test/normalized_rmse"]) < 10 and metrics["test/network_evaluations"] >= 1
    assert 0 <= float(metrics["test/calibration_error"]) <= 0.5 and 0 <= float(metrics["test/sbc_pvalue"]) <= 1
    assert {"test/mmd", "test/tarp", "test/rmse", "test/joint_c2st"} <= set(metrics)
    log_dir = Path(tested.trainer.log_dir)
    assert (log_dir / "posterior_test.png").is_file() and (log_dir / "diagnostics_sbc.png").is_file()

    x = fit.datamodule.simulator.sample_joint(3, torch.Generator().manual_seed(0))[1]
    np.save(tmp_path / "obs.npy", x.numpy())
    sampler = ["--sampler", "{num_steps: 2}"] if "num_steps" in fit.model.hparams else []
    main(["predict", "--config", config, "--ckpt_path", str(checkpoint), *SMALL,
          "--data.init_args.observations", "obs.npy", "--predictions.path", "samples.npz",
          "--predictions.num_samples", "20", *sampler])
    result = np.load(tmp_path / "samples.npz")
    assert result["samples"].shape == (3, 20, *fit.model.theta_shape)
    assert sorted(p.name for p in tmp_path.glob("samples_pairs_*.png")) == [f"samples_pairs_{i}.png" for i in range(3)]
    np.testing.assert_allclose(result["observations"], x.numpy())


def test_tumor_config_fit_test_predict_on_a_small_bank(tmp_path, monkeypatch):
    from cmpe_lightning import TumorSpheroid
    from cmpe_lightning.bank.writer import build_bank

    monkeypatch.chdir(tmp_path)
    build_bank(TumorSpheroid(max_wall_time_s=60), "banks/tumor", num=120, shard_size=60, progress=False)
    small_bank = ["--data.init_args.num_validation", "16", "--data.init_args.num_test", "8",
                  "--trainer.check_val_every_n_epoch", "1"]
    fit = run_cli(["fit", "--config", TUMOR_CONFIG, *SMALL, *small_bank])
    assert fit.trainer.global_step == 3 and torch.isfinite(fit.trainer.callback_metrics["val/loss"])
    checkpoint = checkpoint_of(tmp_path)

    tested = run_cli(["test", "--config", TUMOR_CONFIG, "--ckpt_path", str(checkpoint), *SMALL, *small_bank,
                      "--sampler", "{num_steps: 2}"])
    assert 0 < float(tested.trainer.callback_metrics["test/normalized_rmse"]) < 10

    # raw observations, as the simulator gives them: one array per named output
    x = {name: part[:3].numpy() for name, part in fit.datamodule.dataset("test").tensors["x"].items()}
    np.savez(tmp_path / "obs.npz", **x)
    main(["predict", "--config", TUMOR_CONFIG, "--ckpt_path", str(checkpoint), *SMALL,
          "--data.init_args.observations", "obs.npz", "--predictions.path", "samples.npz",
          "--predictions.num_samples", "20"])
    result = np.load(tmp_path / "samples.npz")
    assert result["samples"].shape == (3, 20, 7)
    np.testing.assert_array_equal(result["observations.growth_curve"], x["growth_curve"])


def test_sampler_sweep_reuses_one_test_set(tmp_path, monkeypatch):
    from cmpe_lightning.benchmark.sampler_sweep import main as sweep

    monkeypatch.chdir(tmp_path)
    config = next(c for c in CONFIGS if c.endswith("two_moons/cmpe.yaml"))
    run_cli(small_fit_args(config))
    rows = sweep(["--config", config, "--ckpt_path", str(checkpoint_of(tmp_path)), "--sampler", "{num_steps: 1}",
                  "--sampler", "{num_steps: 3}", *SMALL, *SMALL_DATA])
    assert [row["network_evaluations"] for row in rows] == [1.0, 3.0]
    assert all(0.5 <= row["c2st"] <= 1.0 for row in rows)
    with pytest.raises(ValueError, match="Unknown sampler option"):
        sweep(["--config", config, "--ckpt_path", str(checkpoint_of(tmp_path)), "--sampler", "{steps: 3}", *SMALL])


@pytest.mark.parametrize("config", ["two_moons/cmpe.yaml", "gmm/nsf.yaml", "inverse_kinematics/fmpe.yaml"])
def test_checkpoint_round_trip_in_a_fresh_process(config, tmp_path, monkeypatch):
    """A checkpoint loaded by the base class in a new process draws the same samples from raw observations.

    (The flow configs keep a best checkpoint by val/loss, so the in-memory model after fit may be a later one:
    the reference is the same checkpoint loaded in this process.)
    """
    monkeypatch.chdir(tmp_path)
    config = next(c for c in CONFIGS if c.endswith(config))
    fit = run_cli(small_fit_args(config))
    x = fit.datamodule.simulator.sample_joint(2, torch.Generator().manual_seed(3))[1]
    torch.save(x, tmp_path / "x.pt")
    options = {"num_steps": 3} if "num_steps" in fit.model.hparams else {}
    loaded = PosteriorEstimator.load_from_checkpoint(checkpoint_of(tmp_path))
    expected = loaded.sample(x, 50, generator=torch.Generator().manual_seed(7), **options)
    script = (
        "import sys, torch\n"
        "from cmpe_lightning import PosteriorEstimator\n"
        "est = PosteriorEstimator.load_from_checkpoint(sys.argv[1])\n"
        "samples = est.sample(torch.load(sys.argv[2]), 50, generator=torch.Generator().manual_seed(7), "
        f"**{options!r})\n"
        "torch.save(samples, sys.argv[3])\n"
    )
    subprocess.run([sys.executable, "-c", script, str(checkpoint_of(tmp_path)), "x.pt", "out.pt"], check=True)
    assert torch.equal(torch.load(tmp_path / "out.pt"), expected)


@pytest.mark.parametrize("estimator", ["cmpe", "acf", "nsf", "fmpe"])
def test_bf16_mixed_training_is_finite(estimator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = next(c for c in CONFIGS if c.endswith(f"gmm/{estimator}.yaml"))
    fit = run_cli([*small_fit_args(config), "--trainer.precision", "bf16-mixed"])
    assert torch.isfinite(fit.trainer.callback_metrics["train/loss"])
    assert torch.isfinite(fit.trainer.callback_metrics["val/loss"])


def refused(capsys, args: list[str], message: str) -> None:
    """``cmpe args`` ends with exit code 2 and a one-paragraph error matching ``message``, without a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and re.search(message, err) and "Traceback" not in err, err


def test_predict_refuses_to_overwrite_and_bad_inputs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = next(c for c in CONFIGS if c.endswith("two_moons/cmpe.yaml"))
    run_cli(small_fit_args(config))
    predict = ["predict", "--config", config, "--ckpt_path", str(checkpoint_of(tmp_path)), *SMALL]
    np.save(tmp_path / "obs.npy", np.zeros((2, 2), dtype=np.float32))
    (tmp_path / "taken.pt").write_bytes(b"precious")
    refused(capsys, [*predict, "--data.init_args.observations", "obs.npy", "--predictions.path", "taken.pt"],
            "taken.pt' exists")
    assert (tmp_path / "taken.pt").read_bytes() == b"precious"
    np.save(tmp_path / "wrong.npy", np.zeros((2, 5), dtype=np.float32))
    refused(capsys, [*predict, "--observations", "wrong.npy", "--predictions.path", "out.pt"],
            r"wrong.npy' have shape \(2, 5\); expected \(n, 2\)")
    refused(capsys, [*predict, "--observations", "obs.npy", "--sampler", "{steps: 3}"],
            r"Unknown sampler option\(s\) \['steps'\]")
    refused(capsys, [*predict, "--observations", "obs.npy", "--model.init_args.backbone.init_args.width", "3"],
            "cannot change a trained estimator")
    refused(capsys, ["predict", "--ckpt_path", "misspelt.ckpt", "--observations", "obs.npy"], "no such checkpoint file")
    gmm = next(c for c in CONFIGS if c.endswith("gmm/cmpe.yaml"))
    refused(capsys, ["test", "--config", gmm, "--ckpt_path", str(checkpoint_of(tmp_path))],
            r"trained on a task with theta_shape \(2,\) and x_shape \(2,\)")
    # without --config: the run's saved config; --model.init_args.num_steps becomes a sampler option
    predicted = run_cli(["predict", "--ckpt_path", str(checkpoint_of(tmp_path)), *SMALL, "--observations", "obs.npy",
                         "--model.init_args.num_steps", "3", "--predictions.path", "fine.pt"])
    assert predicted.model.sampling["predict"].options == {"num_steps": 3} and (tmp_path / "fine.pt").is_file()


def test_help_shows_the_project_first_and_only_its_own_classes(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    fit_help = capsys.readouterr().out
    assert fit_help.index("--model") < fit_help.index("--trainer") and "--sampler" not in fit_help
    with pytest.raises(SystemExit):
        main(["fit", "--model.help", "cmpe_lightning.ConsistencyPosteriorEstimator"])
    model_help = " ".join(capsys.readouterr().out.split())  # help wraps lines anywhere
    assert "--model.t_max" in model_help and "known classes of cmpe_lightning: " in model_help
    assert "torch.nn.Linear" not in model_help and "known subclasses" not in model_help  # all of torch, once


PROBE = """
import json
import lightning.pytorch as pl, numpy as np, torch

class Probe(pl.Callback):
    \"\"\"Saves each rank's first training batch and validation draws, and the logged validation metrics.\"\"\"

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == 0:
            np.save(f"first_batch_rank{trainer.global_rank}.npy", batch[0].cpu().numpy())

    def on_validation_epoch_end(self, trainer, pl_module):
        from cmpe_lightning.callbacks import PosteriorMetrics

        (metrics,) = [c for c in trainer.callbacks if isinstance(c, PosteriorMetrics)]
        if metrics.validation_draws:  # this rank's validation draws, kept by the callback that made them
            theta = torch.cat([d["theta"].cpu() for d in metrics.validation_draws]).numpy()
            samples = torch.cat([d["samples"].cpu() for d in metrics.validation_draws]).numpy()
            np.savez(f"validation_rank{trainer.global_rank}.npz", theta=theta, samples=samples)

    def on_fit_end(self, trainer, pl_module):
        if trainer.global_rank == 0:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
            json.dump(metrics, open("val_metrics.json", "w"))
"""


def test_two_process_ddp_fit_and_predict(tmp_path):
    """Multi-device training and prediction, as on several GPUs, with two CPU processes (gloo)."""
    config = next(c for c in CONFIGS if c.endswith("two_moons/cmpe_online.yaml"))
    ddp = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp", *SMALL]
    cmpe = [sys.executable, "-m", "cmpe_lightning"]
    (tmp_path / "probe.py").write_text(PROBE)  # found from the working folder, as a user's own module
    subprocess.run([*cmpe, "fit", "--config", config, *ddp, "--trainer.val_check_interval", "2",
                    "--trainer.callbacks+=probe.Probe"], cwd=tmp_path, check=True)
    first = [np.load(tmp_path / f"first_batch_rank{rank}.npy") for rank in (0, 1)]
    assert first[0].shape == first[1].shape and not np.array_equal(*first)  # each rank simulates its own data
    # the metrics logged in DDP equal one process's computation on both ranks' draws together
    drawn = [np.load(tmp_path / f"validation_rank{rank}.npz") for rank in (0, 1)]
    theta, samples = (torch.as_tensor(np.concatenate([d[key] for d in drawn])) for key in ("theta", "samples"))
    logged = json.loads((tmp_path / "val_metrics.json").read_text())
    for metric in (CalibrationError(), PosteriorRMSE()):
        metric.update(samples, theta)
        assert float(metric.compute()) == pytest.approx(logged[f"val/{metric.name}"], abs=1e-5), metric.name
    observations = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    np.save(tmp_path / "obs.npy", observations)
    subprocess.run(
        [*cmpe, "predict", "--config", config, *ddp, "--ckpt_path", str(checkpoint_of(tmp_path)),
         "--data.init_args.observations", "obs.npy", "--predictions.path", "out.npz", "--predictions.num_samples", "7"],
        cwd=tmp_path, check=True,
    )
    result = np.load(tmp_path / "out.npz")
    # five observations split over two ranks (one padded copy dropped), back in file order
    assert result["samples"].shape == (5, 7, 2)
    np.testing.assert_array_equal(result["observations"], observations)
