"""A fit killed with SIGKILL and resumed with ``--ckpt_path last`` ends with the uninterrupted fit's weights, bit for
bit."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from cmpe_lightning.cli import run_cli

CONFIGS = Path(__file__).parents[2] / "configs" / "two_moons"
MAX_STEPS, EVERY = 400, 20
# the recipe's callbacks with state (EMA, BestWeights, TrainingSpeed) stay; K and the diagnostics only cost time here
CALLBACKS = [
    {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
     "init_args": {"save_last": True, "save_top_k": 0, "every_n_train_steps": EVERY}},
    {"class_path": "cmpe_lightning.callbacks.SamplingStepSelection", "init_args": {"enabled": False}},
    {"class_path": "cmpe_lightning.callbacks.PosteriorMetrics", "init_args": {"validation_interval": 0}},
]


def short_config(name: str, folder: Path) -> Path:
    """The two-moons config ``name``, cut to MAX_STEPS with a checkpoint every EVERY steps and validations between."""
    config = yaml.safe_load((CONFIGS / name).read_text())
    trainer = config["trainer"]
    trainer["callbacks"] = CALLBACKS
    trainer.update(max_steps=MAX_STEPS, enable_progress_bar=False, enable_model_summary=False)
    data = config["data"]["init_args"]
    data.update(num_validation=64, num_calibration_observations=0)
    if data.get("mode") == "online":
        trainer.update(val_check_interval=50, check_val_every_n_epoch=None, limit_train_batches=120)
    else:
        data["num_simulations"] = 512
        trainer["check_val_every_n_epoch"] = 3
    path = folder / name
    path.write_text(yaml.safe_dump(config))
    return path


def last_checkpoint(folder: Path) -> dict:
    (path,) = folder.glob("runs/*/version_0/checkpoints/last.ckpt")
    return torch.load(path, map_location="cpu", weights_only=True)


def fit_killed_at_first_checkpoint(config: Path, folder: Path) -> int:
    """Runs ``cmpe fit`` in a process that is SIGKILLed as soon as a checkpoint exists; returns the checkpoint's
    step."""
    process = subprocess.Popen([sys.executable, "-m", "cmpe_lightning", "fit", "--config", str(config)], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(folder.glob("runs/*/version_0/checkpoints/last.ckpt")):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return last_checkpoint(folder)["global_step"]


@pytest.mark.parametrize("name", ["cmpe.yaml", "nsf.yaml", "cmpe_online.yaml"])
def test_killed_and_resumed_fit_equals_the_uninterrupted_one(name, tmp_path, monkeypatch):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir(), killed.mkdir()
    config = short_config(name, tmp_path)
    monkeypatch.chdir(whole)
    run_cli(["fit", "--config", str(config)])

    step = fit_killed_at_first_checkpoint(config, killed)
    assert 0 < step < MAX_STEPS, f"the kill came at step {step}, not during training"
    monkeypatch.chdir(killed)
    resumed = run_cli(["fit", "--config", str(config), "--ckpt_path", "last"])
    assert resumed.trainer.global_step == MAX_STEPS
    assert not list(killed.glob("runs/*/version_1")), "the resumed fit went on in a new run folder"

    expected, got = last_checkpoint(whole), last_checkpoint(killed)
    for key in ("state_dict", "current_model_state"):  # the EMA weights and the trained ones
        assert expected[key].keys() == got[key].keys()
        for name_, tensor in expected[key].items():
            assert torch.equal(tensor, got[key][name_]), f"{key}.{name_} differs after resuming at step {step}"


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from cmpe_lightning.cli import main

    monkeypatch.chdir(tmp_path)
    config = short_config("cmpe.yaml", tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config), "--ckpt_path", "last"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "no last.ckpt in runs/two_moons_cmpe/version_*/checkpoints" in err
