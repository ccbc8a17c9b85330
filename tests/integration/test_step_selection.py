"""The automatic choice of CMPE's K: chosen on validation simulations, stored in the checkpoint, overridable."""

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cmpe_lightning import PosteriorEstimator
from cmpe_lightning.callbacks import SamplingStepSelection
from cmpe_lightning.callbacks.step_selection import choose_num_steps, parameter_scale
from cmpe_lightning.cli import run_cli
from cmpe_lightning.cli_entry import main as entry

CONFIG = Path(__file__).parents[2] / "configs" / "two_moons" / "cmpe.yaml"


SMALL = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
         "--data.init_args.num_simulations", "256", "--data.init_args.num_validation", "64",
         "--data.init_args.num_test_observations", "1", "--data.init_args.num_reference_samples", "100",
         "--data.init_args.num_calibration_observations", "30"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The two-moons CMPE config, 40 steps, validating every epoch (4 steps): diagnostics every 5th time."""
    folder = tmp_path_factory.mktemp("selection")
    cli = run_cli(["fit", "--config", str(CONFIG), *SMALL, "--trainer.max_steps", "40",
                   "--trainer.check_val_every_n_epoch", "1", "--trainer.logger.init_args.save_dir", str(folder)])
    selection = next(c for c in cli.trainer.callbacks if isinstance(c, SamplingStepSelection))
    return cli.trainer, cli.model, selection, folder


def test_the_choice_is_kept_in_the_checkpoint_and_an_explicit_k_wins(fitted):
    trainer, model, selection, _ = fitted
    # every candidate is scored or named as left out for time (on a loaded machine)
    assert sorted([*selection.scores, *selection.choice.skipped]) == [1, 2, 3, 5, 8, 10, 15, 20, 30]
    chosen = selection.choice.num_steps
    assert model.num_steps == chosen
    checkpoint = trainer.checkpoint_callback.last_model_path
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["hyper_parameters"]["num_steps"] == chosen
    assert saved["num_steps_selection"]["scores"][chosen] == selection.scores[chosen]
    assert saved["num_steps_selection"]["default"] == 10
    assert PosteriorEstimator.load_from_checkpoint(checkpoint).num_steps == chosen
    # an explicit choice still wins
    assert PosteriorEstimator.load_from_checkpoint(checkpoint, num_steps=7).num_steps == 7


def test_scores_are_paired_differences_to_the_default(fitted):
    _, _, selection, _ = fitted
    for scores in selection.scores.values():
        assert 0 <= scores["calibration_error"] <= 0.5 and scores["standard_error"] >= 0
        assert scores["difference"] == pytest.approx(scores["energy_score"] - selection.scores[10]["energy_score"],
                                                     abs=1e-5)
    assert selection.scores[10]["difference"] == 0.0


def test_k_moves_away_from_the_default_only_on_resolved_differences():
    g = torch.Generator().manual_seed(0)
    common = torch.randn(500, generator=g)  # what the pairs share; each K adds its own small noise
    noisy = {k: common + 0.01 * torch.randn(500, generator=g) for k in (1, 2, 5, 10, 20)}
    assert choose_num_steps(noisy, default=10) == 10
    better = noisy | {5: noisy[5] - 0.05, 20: noisy[20] - 0.05}
    assert choose_num_steps(better, default=10) == 5  # the fewest steps among the equally good better ones
    with pytest.raises(ValueError, match="default K 3"):
        choose_num_steps(noisy, default=3)


def test_entries_without_spread_do_not_dominate_the_energy_score():
    """Images: background pixels are constant across validation images; they must not be divided by ~0."""
    theta = torch.randn(64, 3)
    theta[:, 1] = -1.0  # a constant entry
    scale = parameter_scale(object(), theta)
    assert scale[1] == 1 and torch.allclose(scale[[0, 2]], theta[:, [0, 2]].std(0))

    class Fitted:  # an estimator's fitted standardization decides (none for images: every pixel counts alike)
        from cmpe_lightning.networks.standardization import Standardizer
        theta_standardizer = Standardizer((3,), "none")

    assert torch.equal(parameter_scale(Fitted(), theta), torch.ones(3))


def test_choose_steps_command_rechooses_on_a_checkpoint(fitted, tmp_path, capsys):
    trainer, *_ = fitted
    checkpoint = tmp_path / "copy.ckpt"
    shutil.copy(trainer.checkpoint_callback.last_model_path, checkpoint)
    config = Path(trainer.checkpoint_callback.last_model_path).parents[1] / "config.yaml"
    entry(["choose-steps", "--ckpt_path", str(checkpoint), "--config", str(config), "--candidates", "2", "10",
          "--num_observations", "32", "--num_samples", "8"])
    assert "Chose K = " in capsys.readouterr().out
    saved = torch.load(checkpoint, weights_only=False)
    assert sorted(saved["num_steps_selection"]["scores"]) == [2, 10]
    with pytest.raises(SystemExit) as exit_info:  # a missing checkpoint is named
        entry(["choose-steps", "--ckpt_path", str(tmp_path / "missing.ckpt")])
    assert exit_info.value.code == 2 and "missing.ckpt" in capsys.readouterr().err


def test_choose_steps_takes_the_configs_choice_settings_unless_given():
    from cmpe_lightning.choose_steps import fill_from_config, parser

    settings = {"trainer": {"callbacks": [
        {"class_path": "cmpe_lightning.callbacks.EMA"},
        {"class_path": "cmpe_lightning.callbacks.SamplingStepSelection",
         "init_args": {"candidates": [1, 2, 3, 5], "num_observations": 100, "num_samples": 20}}]}}
    options = parser().parse_args(["--ckpt_path", "c.ckpt", "--num_samples", "7"])
    fill_from_config(options, settings)
    assert (options.candidates, options.num_observations, options.num_samples) == ([1, 2, 3, 5], 100, 7)
    assert (options.significance, options.seed) == (2.0, 0)  # the callback's defaults
    bare = parser().parse_args(["--ckpt_path", "c.ckpt"])
    fill_from_config(bare, {"trainer": {"callbacks": None}})
    assert bare.candidates == [1, 2, 3, 5, 8, 10, 15, 20, 30] and bare.num_observations == 1024


def test_ctrl_c_during_the_choice_ends_the_fit_at_once_with_the_trained_checkpoint(tmp_path):
    """SIGINT while K is being chosen: the command ends within seconds, exit code 0, the checkpoint keeps K = 10."""
    config = tmp_path / "slow_choice.yaml"
    config.write_text(
        f"trainer:\n  max_steps: 20\n  logger:\n    class_path: lightning.pytorch.loggers.TensorBoardLogger\n"
        f"    init_args: {{save_dir: {tmp_path / 'runs'}, name: sigint}}\n  callbacks:\n"
        "    - class_path: cmpe_lightning.callbacks.SamplingStepSelection\n"
        "      init_args: {candidates: [1, 50, 100, 200, 400, 800], num_samples: 400, min_seconds: 3600}\n"
        "    - class_path: cmpe_lightning.callbacks.PosteriorMetrics\n      init_args: {validation_interval: 0}\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "cmpe_lightning", "fit", "--config", str(CONFIG), "--config", str(config), *SMALL,
         "--data.init_args.num_validation", "1024"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # as a terminal's foreground job: an ignored SIGINT (a background shell, a test run that handled one before)
        # would pass to the child through exec and make Python leave Ctrl-C ignored there
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    output = []
    for line in process.stdout:
        output.append(line)
        if "Choosing the number of sampling steps" in line:
            time.sleep(2)  # well inside the choice (800 steps x 409 600 draws would take many minutes)
            sent = time.monotonic()
            process.send_signal(signal.SIGINT)
            break
    else:
        pytest.fail("the choice of K never started:\n" + "".join(output))
    rest, _ = process.communicate(timeout=120)
    assert time.monotonic() - sent < 30 and process.returncode == 0, rest
    assert "The choice of K was interrupted" in rest and "cmpe choose-steps --ckpt_path" in rest
    (checkpoint,) = (tmp_path / "runs").rglob("last.ckpt")
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["global_step"] == 20 and "num_steps_selection" not in saved
    assert PosteriorEstimator.load_from_checkpoint(checkpoint).num_steps == 10


def test_validation_logs_reference_free_diagnostics(fitted):
    trainer, *_ = fitted
    assert {"val/calibration_error", "val/sbc_pvalue", "val/tarp"} <= set(trainer.callback_metrics)
    assert "val/joint_c2st" not in trainer.callback_metrics  # a classifier per validation costs too much


def test_cmpe_test_logs_the_chosen_k_and_an_explicit_k_wins(fitted, tmp_path):
    trainer, model, _, _ = fitted
    common = ["test", "--config", str(CONFIG), "--ckpt_path", trainer.checkpoint_callback.last_model_path, *SMALL,
              "--trainer.logger.init_args.save_dir", str(tmp_path)]
    logged = run_cli(common).trainer.callback_metrics
    assert float(logged["test/num_steps"]) == model.num_steps
    assert float(logged["test/network_evaluations"]) == model.num_steps
    # the config's diagnostics, on the reference observation and the calibration pairs
    assert {"test/c2st", "test/mmd", "test/calibration_error", "test/sbc_pvalue", "test/tarp", "test/rmse",
            "test/joint_c2st"} <= set(logged)
    logged = run_cli([*common, "--sampler", "{num_steps: 4}"]).trainer.callback_metrics
    assert float(logged["test/num_steps"]) == 4 and float(logged["test/network_evaluations"]) == 4


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="candidates"):
        SamplingStepSelection(candidates=(0, 2))
    with pytest.raises(ValueError, match="max_share"):
        SamplingStepSelection(max_share=-1)
