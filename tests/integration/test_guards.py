"""Failed simulations (NaN, inf) never reach the optimizer; a diverged loss stops the fit and keeps the good
checkpoint."""

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from cmpe_lightning import FailingSimulator, TwoMoons
from cmpe_lightning.cli import run_cli
from cmpe_lightning.cli_messages import user_message
from cmpe_lightning.estimators.guards import LossGuard, NonFiniteLossError

CONFIG = str(Path(__file__).parents[2] / "configs" / "two_moons" / "cmpe.yaml")
FAILING = ["--data.init_args.simulator", "cmpe_lightning.FailingSimulator", "--data.init_args.simulator.simulator",
           "cmpe_lightning.TwoMoons", "--data.init_args.simulator.failure_rate", "0.1"]
SMALL = ["--trainer.max_steps", "12", "--trainer.enable_progress_bar", "false",
         "--trainer.enable_model_summary", "false", "--data.init_args.num_validation", "64",
         "--trainer.limit_val_batches", "1"]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_failing_simulator_spoils_whole_runs_reproducibly(value):
    failing = FailingSimulator(TwoMoons(), failure_rate=0.2, value=value)
    theta, x = failing.sample_joint(500, torch.Generator().manual_seed(1))
    bad = ~torch.isfinite(x)
    assert torch.equal(bad.any(1), bad.all(1)) and 50 < int(bad.any(1).sum()) < 150
    assert torch.isfinite(theta).all()
    again = failing.sample_joint(500, torch.Generator().manual_seed(1))[1]
    assert torch.equal(x.nan_to_num(0, 1, -1), again.nan_to_num(0, 1, -1))
    with pytest.raises(ValueError, match="failure_rate must lie in"):
        FailingSimulator(TwoMoons(), failure_rate=1.5)


@pytest.mark.parametrize("mode", ["fixed", "online"])
def test_failed_simulations_are_dropped_and_counted(mode, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = (["--data.init_args.num_simulations", "256", "--trainer.check_val_every_n_epoch", "1"] if mode == "fixed"
            else ["--data.init_args.mode", "online", "--trainer.val_check_interval", "6",
                  "--trainer.check_val_every_n_epoch", "null"])
    with pytest.warns(UserWarning, match="training pairs hold NaN or inf"):
        cli = run_cli(["fit", "--config", CONFIG, *FAILING, *SMALL, *data])
    metrics = cli.trainer.callback_metrics
    assert cli.trainer.global_step == 12 and torch.isfinite(metrics["train/loss"])
    assert metrics["train/dropped"] > 0 and metrics["val/dropped"] > 0
    assert all(torch.isfinite(p).all() for p in cli.model.parameters())
    assert (torch.isfinite(cli.model.theta_standardizer.mean).all()
            and torch.isfinite(cli.model.theta_standardizer.std).all())


class PoisonWeights(pl.Callback):
    """Sets the network's weights to NaN after step ``step``, as a diverged training would."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            with torch.no_grad():
                for parameter in pl_module.consistency_function.parameters():
                    parameter.fill_(float("nan"))


@pytest.mark.parametrize("defer", [False, True], ids=["checked-each-step", "deferred-as-on-a-gpu"])
def test_a_non_finite_loss_stops_the_fit_and_keeps_the_last_good_checkpoint(defer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli = run_cli(["--config", CONFIG, *SMALL, "--data.init_args.num_simulations", "256",
                   "--trainer.max_steps", "40"], run=False)
    cli.model.loss_guard = LossGuard(defer=defer)  # deferred: read at the next checkpoint (step 15), not at once
    (checkpointing,) = [c for c in cli.trainer.callbacks if isinstance(c, pl.callbacks.ModelCheckpoint)]
    checkpointing._every_n_train_steps = 5
    cli.trainer.callbacks.append(PoisonWeights(step=12))
    with pytest.raises(NonFiniteLossError, match="at step 12") as error:
        cli.trainer.fit(cli.model, cli.datamodule)
    assert "at step 12" in user_message(error.value)  # the CLI prints it as one paragraph
    (path,) = tmp_path.glob("runs/*/version_0/checkpoints/last.ckpt")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 10
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values() if t.is_floating_point())
