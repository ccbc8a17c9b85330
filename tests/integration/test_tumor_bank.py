"""The tumor model on a (fake) simulation bank through the CLI, and the tumor benchmark scripts on its checkpoint."""

import numpy as np
import pytest
import torch
from support import TUMOR_OUTPUTS, tumor_bank

from cmpe_lightning import PosteriorEstimator
from cmpe_lightning.bank import format as bank_format
from cmpe_lightning.cli import run_cli

TUMOR_CONFIG = """
seed_everything: 0
trainer:
  accelerator: cpu
  max_steps: 3
  max_epochs: -1
  limit_val_batches: 1
  logger: false
  enable_checkpointing: false
  enable_progress_bar: false
  enable_model_summary: false
model:
  class_path: cmpe_lightning.ConsistencyPosteriorEstimator
  init_args:
    backbone:
      class_path: cmpe_lightning.networks.ConditionalMLP
      init_args: {width: 32, num_blocks: 1}
    preprocessing:
      class_path: cmpe_lightning.TumorPreprocessing
      init_args: {profile_bins: 300}
    summary_network:
      class_path: cmpe_lightning.TumorSummary
      init_args: {out_features: 32}
data:
  class_path: cmpe_lightning.data.SimulationBankDataModule
  init_args:
    path: BANK
    num_validation: 32
    num_test: 16
    batch_size: 32
"""


def test_cli_fits_consistency_model_on_a_tumor_bank(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bank = tumor_bank(tmp_path / "tumor", num=150)
    (tmp_path / "tumor.yaml").write_text(TUMOR_CONFIG.replace("BANK", str(bank)))
    fit = run_cli(["fit", "--config", "tumor.yaml"])
    assert fit.trainer.global_step == 3 and fit.model.x_shape == TUMOR_OUTPUTS
    assert torch.isfinite(fit.trainer.callback_metrics["val/loss"])
    fit.trainer.save_checkpoint(tmp_path / "last.ckpt")
    # the preprocessing's statistics travel in the estimator's checkpoint, fitted on the training runs
    state = torch.load(tmp_path / "last.ckpt", weights_only=True)["state_dict"]
    growth = fit.datamodule.training_data()[1]["growth_curve"].double()
    assert torch.isclose(state["preprocessing.growth_mean"].double(), growth.mean())
    # a raw observation, read straight from the shard, gives the same draws from the loaded checkpoint
    loaded = PosteriorEstimator.load_from_checkpoint(tmp_path / "last.ckpt")
    run = int(fit.datamodule.run_indices["test"][0])
    shard = bank_format.read_shard(bank, run // 50)
    raw = {name: torch.from_numpy(shard[name][run % 50][None]).float() for name in TUMOR_OUTPUTS}
    bank_x = {name: part[:1] for name, part in fit.datamodule.dataset("test").tensors["x"].items()}
    expected = fit.model.sample(bank_x, 20, generator=torch.Generator().manual_seed(0), num_steps=2)
    assert torch.equal(loaded.sample(raw, 20, generator=torch.Generator().manual_seed(0), num_steps=2), expected)


def test_tumor_transfer_and_example_run_on_reference_files(tmp_path, monkeypatch):
    """The tumor benchmarks: coverage on tumor2d-format runs next to our own test runs, and the worked example."""
    from benchmarks.tumor import example as tumor_example
    from benchmarks.tumor import table as tumor_table
    from benchmarks.tumor import transfer as tumor_transfer
    from cmpe_lightning.tasks.tumor import REFERENCE_LOG10_THETA, TumorSpheroid

    monkeypatch.chdir(tmp_path)
    bank = tumor_bank(tmp_path / "tumor", num=150)
    (tmp_path / "tumor.yaml").write_text(TUMOR_CONFIG.replace("BANK", str(bank)))
    fit = run_cli(["fit", "--config", "tumor.yaml"])
    fit.trainer.save_checkpoint(tmp_path / "last.ckpt")
    g = torch.Generator().manual_seed(0)
    theta = TumorSpheroid().sample_prior(6, g)
    runs = {name: torch.rand(6, *shape, generator=g).numpy() for name, shape in TUMOR_OUTPUTS.items()}
    np.savez(tmp_path / "prior_draws.npz", log10_theta=theta.numpy(), **runs)
    rows = tumor_transfer.main(["--config", "tumor.yaml", "--ckpt", "CMPE=last.ckpt",
                                "--sampler", "CMPE={num_steps: 2}", "--data", "prior_draws.npz", "--own", "8",
                                "--draws", "30", "--out", "transfer"])
    assert [(r["data"], r["runs"]) for r in rows] == [("tumor2d runs", 6), ("our test runs", 8)]
    assert all(0 <= r["max_calibration_error"] <= 0.5 for r in rows)
    assert (tmp_path / "transfer" / "transfer_coverage.png").stat().st_size > 0
    assert "| CMPE | {'num_steps': 2} | tumor2d runs | 6 |" in (tmp_path / "transfer" / "transfer.md").read_text()
    with pytest.raises(ValueError, match="test split has 16 runs; 20 were asked for"):
        tumor_transfer.main(["--config", "tumor.yaml", "--ckpt", "CMPE=last.ckpt", "--data", "prior_draws.npz",
                             "--own", "20"])
    np.savez(tmp_path / "bad.npz", log10_theta=theta.numpy())
    with pytest.raises(ValueError, match="bad.npz lacks"):
        tumor_transfer.reference_runs(tmp_path / "bad.npz")

    # the paper's table: rows of checkpoint and sampler, a smaller one extrapolated to 400 x 2000 draws
    table = tumor_table.main(["--config", "tumor.yaml", "--row", "CMPE 2 steps=last.ckpt={num_steps: 2}",
                              "--row", "CMPE 30 steps=last.ckpt={num_steps: 30}=8x20", "--runs", "16", "--draws", "30",
                              "--out", "table"])
    assert [(r["runs"], r["draws"], r["num_steps"]) for r in table] == [(16, 30, 2), (8, 20, 30)]
    assert all(r["extrapolated"] and r["seconds_400x2000"] > r["seconds"] > 0 for r in table)
    assert "| CMPE 30 steps | 8 × 20 |" in (tmp_path / "table" / "table.md").read_text()
    with pytest.raises(ValueError, match="--row must look like LABEL=CHECKPOINT"):
        tumor_table.parse_row("CMPE")

    # the worked example on runs "at the reference parameters" (small, quick ones are enough here)
    np.savez(tmp_path / "refparams.npz", **{name: part[:3] for name, part in runs.items()})
    result = tumor_example.main(["--ckpt", "last.ckpt", "--sampler", "{num_steps: 2}", "--data", "refparams.npz",
                                 "--draws", "40", "--predictive", "2", "--out", "example"])
    assert len(result["coverage_90"]) == 7 and 0 <= result["predictive_days_inside"] <= 1
    assert ({p.name for p in (tmp_path / "example").iterdir()}
            == {"example_pairs.png", "example_predictive.png", "example.md"})
    assert f"{REFERENCE_LOG10_THETA[0]:.3f}" in (tmp_path / "example" / "example.md").read_text()
