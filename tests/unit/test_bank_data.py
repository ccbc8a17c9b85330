"""Training data from a simulation bank: reading, splitting, raw observations, the tumor's preprocessing and summary
network (owned by the estimator); CLI fits on a bank are in integration/test_tumor_bank.py."""


import numpy as np
import pytest
import torch
from support import TUMOR_OUTPUTS, tumor_bank, write_bank

from cmpe_lightning import ConsistencyPosteriorEstimator, TumorPreprocessing, TumorSummary
from cmpe_lightning.bank import format as bank_format
from cmpe_lightning.data import SimulationBankDataModule
from cmpe_lightning.networks import ConditionalMLP


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
    with pytest.raises(ValueError,
                       match=r"shard_000002.npz' disagrees .*'theta' has shape \(32, 3\), expected \(32, 2\)"):
        bank_data(bad)
    arrays.pop("x")
    bank_format.write_shard(bad, 2, arrays)
    with pytest.raises(ValueError, match="disagrees with the manifest: it has no array 'x'"):
        bank_data(bad)


# -------------------------------------------------------------------------------------------- preprocessing
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
        return (torch.stack([c.double().mean() for c in channels]),
                torch.stack([c.double().std(unbiased=False) for c in channels]))

    assert train["growth_curve"].shape == (105, 20, 1) and train["profiles"].shape == (105, 3, 50)
    means, stds = channel_moments(train)
    assert (torch.allclose(means, torch.zeros(4).double(), atol=1e-5)
            and torch.allclose(stds, torch.ones(4).double(), atol=1e-5))
    means, stds = channel_moments(test)
    # the test runs are not exactly standardized
    assert ((means[:3].abs() > 1e-3) & ((stds[:3] - 1).abs() > 1e-3)).any()
    # the position channel holds the bin index, standardized
    assert torch.equal(test["profiles"][0, 2], train["profiles"][0, 2]) and (test["profiles"][0, 2].diff() > 0).all()


def test_preprocessing_shape_errors():
    raw = {name: torch.zeros(2, *shape) for name, shape in TUMOR_OUTPUTS.items()}
    with pytest.raises(ValueError,
                       match=r"'proliferation_profile' of shape \(batch, bins\) with bins >= 300, got \(2, 200\)"):
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
    assert ({name: tuple(part.shape) for name, part in batch["x"].items()}
            == {k: (2, *v) for k, v in TUMOR_OUTPUTS.items()})


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
