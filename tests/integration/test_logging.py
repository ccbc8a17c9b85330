"""Training logs: the loggers get the loss and learning rate of every log_every_n_steps-th step, as Lightning writes
them, and the last step's values are the fit's callback metrics."""

import csv
from pathlib import Path

import torch

from cmpe_lightning.cli import run_cli

CONFIG = str(Path(__file__).parents[2] / "configs" / "two_moons" / "cmpe.yaml")


def test_loggers_receive_every_nth_step_and_the_fit_ends_with_its_last_loss(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fit = run_cli(["fit", "--config", CONFIG, "--trainer.max_steps", "7", "--trainer.log_every_n_steps", "2",
                   "--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.logger.save_dir", "logs",
                   "--trainer.enable_progress_bar", "false", "--data.init_args.num_simulations", "256",
                   "--trainer.limit_val_batches", "0", "--model.init_args.num_steps", "2"])
    (metrics,) = Path("logs").glob("**/metrics.csv")
    rows = [row for row in csv.DictReader(metrics.open()) if row.get("train/loss")]
    assert [int(row["step"]) for row in rows] == [1, 3, 5]  # Lightning writes steps 2, 4, 6 (0-based 1, 3, 5)
    assert all(float(row["train/lr"]) > 0 for row in rows)
    assert torch.isfinite(fit.trainer.callback_metrics["train/loss"])  # the 7th, last step is logged too
