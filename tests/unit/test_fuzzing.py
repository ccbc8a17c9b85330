"""Property-based tests: whatever file or argument a user gives, it works or gets the project's clear error."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cmpe_lightning import SimulationBankDataModule, SimulationDataModule, TwoMoons
from cmpe_lightning.bank.format import MANIFEST, read_manifest, read_shard, shard_path
from cmpe_lightning.data import load_observations
from cmpe_lightning.estimators.checkpoints import read_checkpoint

CLEAR = (ValueError, FileNotFoundError)  # the errors the project raises for bad input, each naming what was wrong
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.complex64, np.dtype("U3")]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)


def write(path: Path, content) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif path.suffix == ".pt":
        torch.save(content, path)
    elif path.suffix == ".npz":
        np.savez(path, **content) if isinstance(content, dict) else np.savez(path, observations=content)
    elif path.suffix == ".csv":
        np.savetxt(path, np.atleast_2d(content.real if content.dtype.kind == "c" else content), delimiter=",", fmt="%s")
    else:
        with open(path, "wb") as file:  # np.save(path) would add .npy to any other suffix
            np.save(file, content)


@FUZZ
@given(suffix=st.sampled_from([".npy", ".npz", ".pt", ".csv", ".txt"]),
       content=st.one_of(ARRAYS, st.binary(max_size=64)))
def test_any_observation_file_loads_or_is_refused_clearly(tmp_path, suffix, content):
    path = tmp_path / f"obs{suffix}"
    if suffix == ".pt" and isinstance(content, np.ndarray) and content.dtype.kind not in "U":
        content = {"observations": torch.as_tensor(content)} if content.dtype.kind != "c" else torch.as_tensor(content)
    try:
        write(path, content)
    except Exception:  # noqa: BLE001 -- content the writer itself cannot store: nothing to read
        return
    before = path.read_bytes()
    try:
        x = load_observations(path, (2,))
    except CLEAR as error:
        assert str(path) in str(error) and "Traceback" not in str(error)
    else:
        assert x.dtype == torch.float32 and x.ndim == 2 and x.shape[1] == 2 and len(x) > 0 and torch.isfinite(x).all()
    assert path.read_bytes() == before  # reading never changes the file


@FUZZ
@given(content=st.one_of(st.binary(max_size=200), st.dictionaries(st.sampled_from(["format", "num", "shard_size",
       "theta_dim", "outputs", "seed"]), st.one_of(st.integers(-3, 5), st.text(max_size=4), st.none(), st.just({})))))
def test_any_manifest_reads_or_is_refused_clearly(tmp_path, content):
    (tmp_path / MANIFEST).write_bytes(content if isinstance(content, bytes) else json.dumps(
        {"format": "cmpe-simulation-bank-1", **content}).encode())
    try:
        manifest = read_manifest(tmp_path)
    except CLEAR as error:
        assert MANIFEST in str(error)
    else:
        assert manifest["num"] >= 1 and manifest["shard_size"] >= 1 and isinstance(manifest["outputs"], dict)


@FUZZ
@given(cut=st.integers(0, 10_000), junk=st.binary(max_size=16))
def test_truncated_shards_and_checkpoints_are_named(tmp_path, cut, junk):
    buffer = io.BytesIO()
    np.savez(buffer, index=np.arange(4), theta=np.zeros((4, 2)), x=np.ones((4, 2)))
    whole = buffer.getvalue()
    damaged = whole[: cut % len(whole)] + junk
    shard_path(tmp_path, 0).write_bytes(damaged)
    try:
        read_shard(tmp_path, 0)
    except ValueError as error:
        assert "shard_000000.npz" in str(error)
    checkpoint = tmp_path / "model.ckpt"
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(3)}, "hyper_parameters": {}}, buffer)
    checkpoint.write_bytes(buffer.getvalue()[: cut % len(buffer.getvalue())] + junk)
    with pytest.raises(ValueError, match="model.ckpt"):
        read_checkpoint(checkpoint)


@FUZZ
@given(kwargs=st.fixed_dictionaries({}, optional={
    "mode": st.sampled_from(["fixed", "online", "offline", ""]),
    "num_simulations": st.integers(-2, 3), "batch_size": st.integers(-2, 3), "num_validation": st.integers(-2, 3),
    "num_test_observations": st.integers(-2, 3), "num_reference_samples": st.integers(-2, 3),
    "num_calibration_observations": st.integers(-2, 3), "predict_batch_size": st.integers(-2, 3)}))
def test_simulation_data_module_arguments_work_or_are_refused_clearly(kwargs):
    try:
        SimulationDataModule(TwoMoons(), reference_cache=False, **kwargs)
    except ValueError as error:
        assert any(name in str(error) for name in kwargs), error


@FUZZ
@given(kwargs=st.fixed_dictionaries({}, optional={
    "num_validation": st.integers(-2, 50), "num_test": st.integers(-2, 50), "batch_size": st.integers(-2, 8),
    "num_simulations": st.one_of(st.none(), st.integers(-2, 50)), "outputs": st.lists(st.sampled_from(["x", "y"]))}))
def test_bank_data_module_arguments_work_or_are_refused_clearly(bank, kwargs):
    try:
        data = SimulationBankDataModule(str(bank), **kwargs)
        data.setup("fit")
        batch = next(iter(data.train_dataloader()))
    except CLEAR as error:
        assert str(error)
    else:
        assert torch.isfinite(batch[0]).all()


@FUZZ
@given(num_steps=st.one_of(st.integers(-3, 4), st.floats(allow_nan=True), st.text(max_size=3)),
       num_samples=st.integers(-2, 3))
def test_sampler_arguments_work_or_are_refused_clearly(estimator, num_steps, num_samples):
    x = torch.zeros(2, 2)
    try:
        samples = estimator.sample(x, num_samples, num_steps=num_steps)
    except (ValueError, TypeError) as error:
        assert "num_steps" in str(error) or "num_samples" in str(error), error
    else:
        assert samples.shape == (2, num_samples, 2) and torch.isfinite(samples).all()


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    from cmpe_lightning.bank.writer import build_bank

    folder = tmp_path_factory.mktemp("bank")
    build_bank(TwoMoons(), folder, 60, 30, seed=0, progress=False)
    return folder


@pytest.fixture(scope="module")
def estimator():
    from cmpe_lightning import ConsistencyPosteriorEstimator

    return ConsistencyPosteriorEstimator((2,), (2,)).eval()
