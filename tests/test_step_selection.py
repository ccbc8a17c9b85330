"""The automatic choice of CMPE's K: chosen on validation simulations, stored in the checkpoint, overridable."""

from pathlib import Path

import pytest
import torch

from cmpe_lightning import PosteriorEstimator
from cmpe_lightning.callbacks import SamplingStepSelection
from cmpe_lightning.cli import run_cli

CONFIG = Path(__file__).parents[1] / "configs" / "two_moons" / "cmpe.yaml"


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


def test_the_best_scoring_candidate_is_chosen_and_kept_in_the_checkpoint(fitted):
    trainer, model, selection, _ = fitted
    assert sorted(selection.scores) == [1, 2, 3, 5, 8, 10, 15, 20, 30]
    best = min(selection.scores, key=lambda k: (selection.scores[k]["combined"], k))
    assert model.num_steps == best
    checkpoint = trainer.checkpoint_callback.last_model_path
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["hyper_parameters"]["num_steps"] == best
    assert saved["num_steps_selection"]["scores"][best] == selection.scores[best]
    assert PosteriorEstimator.load_from_checkpoint(checkpoint).num_steps == best
    # an explicit choice still wins
    assert PosteriorEstimator.load_from_checkpoint(checkpoint, num_steps=7).num_steps == 7


def test_scores_are_the_metrics_of_the_validation_draws(fitted):
    _, _, selection, _ = fitted
    for scores in selection.scores.values():
        assert 0 <= scores["calibration_error"] <= 0.5 and 0 <= scores["joint_c2st"] <= 1
        assert scores["combined"] == pytest.approx(scores["calibration_error"] + max(scores["joint_c2st"] - 0.5, 0))


def test_validation_logs_reference_free_diagnostics(fitted):
    trainer, *_ = fitted
    assert {"val/calibration_error", "val/joint_c2st"} <= set(trainer.callback_metrics)


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
    with pytest.raises(ValueError, match="criterion"):
        SamplingStepSelection(criterion="c2st")
