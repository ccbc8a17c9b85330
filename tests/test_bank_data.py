"""Training on a simulation bank: reading, splitting, raw observations, the tumor's preprocessing and summary
network (owned by the estimator), and a CLI fit."""

from pathlib import Path

import numpy as np
import pytest
import torch

from cmpe_lightning.bank import format as bank_format
from cmpe_lightning.cli import run_cli
from cmpe_lightning import ConsistencyPosteriorEstimator, PosteriorEstimator, TumorPreprocessing, TumorSummary
from cmpe_lightning.data import SimulationBankDataModule
from cmpe_lightning.networks import ConditionalMLP

TUMOR_OUTPUTS = {"growth_curve": (20,), "extra_cellular_matrix_profile": (1000,), "proliferation_profile": (1000,)}


def write_bank(folder: Path, num=100, shard_size=32, outputs=None, theta_dim=2, failed=(), skip_shards=()) -> Path:
    """A fake bank of random numbers of the right shapes; ``failed`` runs have ok=False and NaN outputs."""
    outputs = outputs or {"x": (3,)}
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format": bank_format.FORMAT, "simulator": {"class_path": "fake", "init_args": {}}, "seed": 0,
                "num": num, "shard_size": shard_size, "theta_dim": theta_dim,
                "outputs": {name: list(shape) for name, shape in outputs.items()}}
    bank_format.write_manifest(folder, manifest)
    for shard in range(bank_format.num_shards(manifest)):
        runs = np.array(bank_format.shard_runs(manifest, shard))
        ok = ~np.isin(runs, failed)
        arrays = {"index": runs, "theta": rng.normal(size=(len(runs), theta_dim)), "seed": runs + 1000, "ok": ok,
                  "runtime_s": rng.random(len(runs))}
        for name, shape in outputs.items():
            arrays[name] = rng.normal(3.0, 2.0, size=(len(runs), *shape))
            arrays[name][~ok] = np.nan
        if shard not in skip_shards:
            bank_format.write_shard(folder, shard, arrays)
    return folder


def bank_data(path, **kwargs) -> SimulationBankDataModule:
    data = SimulationBankDataModule(path, **{"num_validation": 10, "num_test": 5, "batch_size": 8, **kwargs})
    data.setup("fit")
    return data


# ----------------------------------------------------------------------------------------------- splits
def test_splits_have_their_sizes_are_disjoint_and_reproducible(tmp_path):
    bank = write_bank(tmp_path / "bank")
    data = bank_data(bank)
    splits = data.run_indices
    assert {name: len(runs) for name, runs in splits.items()} == {"val": 10, "test": 5, "train": 85}
    assert sorted(np.concatenate(list(splits.values()))) == list(range(100))
    assert all(np.array_equal(splits[name], bank_data(bank).run_indices[name]) for name in splits)
    assert not np.array_equal(bank_data(bank, seed=1).run_indices["val"], splits["val"])
    theta, x = data.training_data()
    assert theta.shape == (85, 2) and x.shape == (85, 3) and x.dtype == torch.float32
    assert [b[1].shape for b in data.val_dataloader()] == [(8, 3), (2, 3)]
    # budgets are nested and leave validation and test unchanged
    budget = bank_data(bank, num_simulations=20).run_indices
    assert set(budget["train"]) < set(splits["train"]) and np.array_equal(budget["test"], splits["test"])


def test_missing_shards_warn_and_never_move_training_runs_into_validation_or_test(tmp_path):
    full = bank_data(write_bank(tmp_path / "full")).run_indices
    with pytest.warns(UserWarning, match=r"holds 68 of its 100 runs: 1 of 4 shards are missing \(first \[1\]\)"):
        partial = bank_data(write_bank(tmp_path / "partial", skip_shards=(1,))).run_indices
    assert set(partial["train"]) <= set(full["train"]) and len(partial["train"]) == 53


def test_failed_runs_are_dropped(tmp_path):
    with pytest.warns(UserWarning, match=r"dropped 3 failed runs \(ok=False\) of 100"):
        data = bank_data(write_bank(tmp_path / "bank", failed=(3, 50, 77)))
    assert len(data.run_indices["train"]) == 82
    assert not set(np.concatenate(list(data.run_indices.values()))) & {3, 50, 77}
    assert torch.isfinite(data.training_data()[1]).all()


def test_clear_errors_for_bad_banks(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SimulationBankDataModule(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no bank.json"):
        SimulationBankDataModule(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"has no shards yet \(expected 4 shard_\*.npz files for 100 runs\)"):
        bank_data(write_bank(tmp_path / "unbuilt", skip_shards=range(4)))
    with pytest.raises(ValueError, match=r"has the outputs \['x'\]; outputs \['growth_curve'\] names others"):
        SimulationBankDataModule(write_bank(tmp_path / "cheap"), outputs=["growth_curve"])
    with pytest.raises(ValueError, match=r"usable runs, too few for num_validation 10 \+ num_test 5 \+ 90 training"):
        bank_data(tmp_path / "cheap", num_simulations=90)
    bad = write_bank(tmp_path / "bad")
    arrays = bank_format.read_shard(bad, 2)
    bank_format.write_shard(bad, 2, {**arrays, "theta": np.zeros((32, 3))})
    with pytest.raises(ValueError, match=r"shard_000002.npz' disagrees .*'theta' has shape \(32, 3\), expected \(32, 2\)"):
        bank_data(bad)
    arrays.pop("x")
    bank_format.write_shard(bad, 2, arrays)
    with pytest.raises(ValueError, match="disagrees with the manifest: it has no array 'x'"):
        bank_data(bad)


# -------------------------------------------------------------------------------------------- preprocessing
def tumor_bank(folder: Path, num=120) -> Path:
    return write_bank(folder, num=num, shard_size=50, outputs=TUMOR_OUTPUTS, theta_dim=7)


def test_a_bank_with_named_outputs_yields_them_raw(tmp_path):
    data = bank_data(tumor_bank(tmp_path / "tumor"))
    assert data.x_shape == TUMOR_OUTPUTS and data.theta_shape == (7,)
    theta, x = data.training_data()
    shards = [bank_format.read_shard(tmp_path / "tumor", s) for s in range(3)]
    growth = np.concatenate([s["growth_curve"] for s in shards])[data.run_indices["train"]]
    assert theta.shape == (105, 7) and torch.equal(x["growth_curve"], torch.from_numpy(growth).float())
    test = next(iter(data.test_dataloader()))
    assert set(test) == {"theta", "x"} and test["x"]["proliferation_profile"].shape == (5, 1000)
    only_growth = bank_data(tmp_path / "tumor", outputs="growth_curve")
    assert only_growth.x_shape == (20,) and only_growth.training_data()[1].shape == (105, 20)


def estimator_for(data: SimulationBankDataModule, profile_bins: int = 50) -> ConsistencyPosteriorEstimator:
    """A small tumor estimator fitted on the bank's training runs, as at the start of ``fit``."""
    est = ConsistencyPosteriorEstimator(
        data.theta_shape, data.x_shape, backbone=lambda s, c: ConditionalMLP(s, c, width=16, num_blocks=1),
        summary_network=TumorSummary(out_features=8, recurrent_width=8, conv_channels=8),
        preprocessing=TumorPreprocessing(profile_bins=profile_bins),
    )
    theta, x = data.training_data()
    est.theta_standardizer.fit(theta)
    est.preprocessing.fit(x)
    return est


def test_tumor_statistics_come_from_the_training_runs_only(tmp_path):
    data = bank_data(tumor_bank(tmp_path / "tumor"))
    preprocessing = estimator_for(data).preprocessing
    train, test = preprocessing(data.training_data()[1]), preprocessing(data.dataset("test").tensors["x"])

    def channel_moments(inputs):  # growth curve, matrix, proliferation, position
        channels = [inputs["growth_curve"].flatten(), *inputs["profiles"].double().transpose(0, 1).flatten(1)]
        return torch.stack([c.double().mean() for c in channels]), torch.stack([c.double().std(unbiased=False) for c in channels])

    assert train["growth_curve"].shape == (105, 20, 1) and train["profiles"].shape == (105, 3, 50)
    means, stds = channel_moments(train)
    assert torch.allclose(means, torch.zeros(4).double(), atol=1e-5) and torch.allclose(stds, torch.ones(4).double(), atol=1e-5)
    means, stds = channel_moments(test)
    assert ((means[:3].abs() > 1e-3) & ((stds[:3] - 1).abs() > 1e-3)).any()  # the test runs are not exactly standardized
    # the position channel holds the bin index, standardized
    assert torch.equal(test["profiles"][0, 2], train["profiles"][0, 2]) and (test["profiles"][0, 2].diff() > 0).all()


def test_preprocessing_shape_errors():
    raw = {name: torch.zeros(2, *shape) for name, shape in TUMOR_OUTPUTS.items()}
    with pytest.raises(ValueError, match=r"'proliferation_profile' of shape \(batch, bins\) with bins >= 300, got \(2, 200\)"):
        TumorPreprocessing()({**raw, "proliferation_profile": torch.zeros(2, 200)})
    with pytest.raises(ValueError, match=r"needs the output 'growth_curve', got only \['x'\]"):
        TumorPreprocessing()({"x": torch.zeros(2, 3)})
    # without a preprocessing of their own, named parts are flattened and joined
    assert ConsistencyPosteriorEstimator(7, TUMOR_OUTPUTS).embed(raw).shape == (2, 2020)


def test_predict_reads_raw_observations(tmp_path):
    data = SimulationBankDataModule(write_bank(tmp_path / "bank"), observations=str(tmp_path / "obs.npy"))
    np.save(tmp_path / "obs.npy", np.ones((3, 3), dtype=np.float32))
    data.setup("predict")
    (batch,) = list(data.predict_dataloader())
    assert batch["index"].tolist() == [0, 1, 2] and batch["x"].shape == (3, 3)
    tumor = SimulationBankDataModule(tumor_bank(tmp_path / "tumor"), observations=str(tmp_path / "obs.npz"))
    np.savez(tmp_path / "obs.npz", **{name: np.ones((2, *shape)) for name, shape in TUMOR_OUTPUTS.items()})
    tumor.setup("predict")
    (batch,) = list(tumor.predict_dataloader())
    assert {name: tuple(part.shape) for name, part in batch["x"].items()} == {k: (2, *v) for k, v in TUMOR_OUTPUTS.items()}


# ------------------------------------------------------------------------------------------------ network
@pytest.mark.parametrize("profile_network", ["convolution", "transformer"])
def test_tumor_summary_shape_gradients_and_errors(profile_network):
    net = TumorSummary(out_features=32, recurrent_width=16, conv_channels=8, profile_network=profile_network)
    out = net({"growth_curve": torch.randn(4, 20, 1), "profiles": torch.randn(4, 3, 53)})  # 53: a partial patch
    assert out.shape == (4, 32)
    out.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    with pytest.raises(ValueError, match=r"expects \{growth_curve: \(batch, days, 1\), profiles: \(batch, 3, bins\)\}"):
        net({"growth_curve": torch.randn(4, 20)})
    with pytest.raises(ValueError, match="profile_network must be 'convolution' or 'transformer', got 'lstm'"):
        TumorSummary(profile_network="lstm")


# ------------------------------------------------------------------------------------------------ the CLI
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
    from benchmarks.tumor import example as tumor_example, table as tumor_table, transfer as tumor_transfer
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
    rows = tumor_transfer.main(["--config", "tumor.yaml", "--ckpt", "CMPE=last.ckpt", "--sampler", "CMPE={num_steps: 2}",
                                "--data", "prior_draws.npz", "--own", "8", "--draws", "30", "--out", "transfer"])
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
    assert {p.name for p in (tmp_path / "example").iterdir()} == {"example_pairs.png", "example_predictive.png", "example.md"}
    assert f"{REFERENCE_LOG10_THETA[0]:.3f}" in (tmp_path / "example" / "example.md").read_text()
