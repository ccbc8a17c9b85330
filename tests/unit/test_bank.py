"""The simulation bank: cmpe-simulate builds reproducible, resumable, sharded banks."""

import shutil

import numpy as np
import pytest

from cmpe_lightning import TwoMoons
from cmpe_lightning.bank.cli import main
from cmpe_lightning.bank.format import FORMAT, RUN_FIELDS, read_manifest, read_shard, shard_path
from cmpe_lightning.bank.writer import BankMismatchError, build_bank, simulation_seed

NUM, SHARD_SIZE, SEED = 50, 20, 3  # three shards, the last one short
SHARD_LENGTHS = [20, 20, 10]


class SimulationTimeout(RuntimeError):
    pass


class TimingOutMoons(TwoMoons):
    """Two moons whose runs with ``theta[0] > 0.5`` time out."""

    def simulate_run(self, theta, seed):
        if theta[0] > 0.5:
            raise SimulationTimeout(f"theta[0]={theta[0]:.2f} took too long")
        return super().simulate_run(theta, seed)


def build(folder, simulator=None, **kwargs):
    return build_bank(simulator or TwoMoons(), folder, kwargs.pop("num", NUM), SHARD_SIZE,
                      seed=kwargs.pop("seed", SEED), progress=False, **kwargs)


def shards_of(folder) -> list[dict[str, np.ndarray]]:
    return [read_shard(folder, i) for i in range(len(SHARD_LENGTHS)) if shard_path(folder, i).exists()]


def assert_same_runs(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a.keys() - {"runtime_s"}:  # the only field that depends on the machine
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert a[key].dtype == b[key].dtype, key


def assert_same_bank(folder, reference) -> None:
    shards, expected = shards_of(folder), shards_of(reference)
    assert len(shards) == len(expected)
    for a, b in zip(shards, expected):
        assert_same_runs(a, b)


def assert_only_bank_files(folder, shards=range(len(SHARD_LENGTHS))) -> None:
    """The manifest and the shards, and no temporary files."""
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["bank.json", *(shard_path(folder, i).name for i in shards)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    build(folder)
    return folder


def test_bank_has_the_manifest_and_shapes(reference):
    manifest = read_manifest(reference)
    assert manifest["format"] == FORMAT
    assert manifest["simulator"] == {"class_path": "cmpe_lightning.tasks.two_moons.TwoMoons",
                                     "init_args": {"proposals_per_round": 100_000}}
    settings = [manifest[key] for key in ("seed", "num", "shard_size", "theta_dim")]
    assert settings == [SEED, NUM, SHARD_SIZE, 2]
    assert manifest["outputs"] == {"x": [2]} and "version" in manifest and "created" in manifest
    assert_only_bank_files(reference)
    shards = shards_of(reference)
    for i, (shard, length) in enumerate(zip(shards, SHARD_LENGTHS)):
        assert set(shard) == {*RUN_FIELDS, "x"}
        assert shard["theta"].shape == (length, 2) and shard["theta"].dtype == np.float32
        assert shard["x"].shape == (length, 2) and np.isfinite(shard["x"]).all()
        assert shard["ok"].all() and shard["ok"].dtype == bool
        assert shard["runtime_s"].dtype == np.float64 and (shard["runtime_s"] >= 0).all()
        assert shard["seed"].dtype == np.int64
        assert shard["seed"].tolist() == [simulation_seed(SEED, i, j) for j in range(length)]
    np.testing.assert_array_equal(np.concatenate([s["index"] for s in shards]), np.arange(NUM))
    theta = np.concatenate([s["theta"] for s in shards])
    assert (np.abs(theta) <= 1).all() and len(np.unique(theta, axis=0)) == NUM


def test_bank_does_not_depend_on_the_number_of_workers(reference, tmp_path):
    summary = build(tmp_path, workers=2)
    assert (summary.runs, summary.failed, summary.shards_written) == (NUM, 0, 3)
    assert_same_bank(tmp_path, reference)
    assert_only_bank_files(tmp_path)


def test_resume_builds_only_the_missing_shard(reference, tmp_path):
    folder = tmp_path / "bank"
    shutil.copytree(reference, folder)
    shard_path(folder, 1).unlink()
    summary = build(folder)
    assert (summary.runs, summary.shards_written, summary.shards_skipped) == (SHARD_LENGTHS[1], 1, 2)
    assert_same_bank(folder, reference)
    assert build(folder).runs == 0  # complete: nothing to do


def test_shard_ranges_build_the_same_shards(reference, tmp_path):
    build(tmp_path, shards="1:3")
    assert_only_bank_files(tmp_path, shards=[1, 2])
    for i in (1, 2):
        assert_same_runs(read_shard(tmp_path, i), read_shard(reference, i))
    build(tmp_path, shards=range(0, 1))
    assert_same_bank(tmp_path, reference)


@pytest.mark.parametrize("field, change", [
    ("seed", {"seed": SEED + 1}),
    ("num", {"num": NUM + 1}),
    ("simulator", {"simulator": TwoMoons(proposals_per_round=7)}),
])
def test_a_different_existing_bank_is_never_overwritten(reference, tmp_path, field, change):
    folder = tmp_path / "bank"
    shutil.copytree(reference, folder)
    manifest = (folder / "bank.json").read_text()
    with pytest.raises(BankMismatchError, match=f"its {field} is"):
        build(folder, **change)
    assert (folder / "bank.json").read_text() == manifest
    assert_same_bank(folder, reference)


def test_failed_runs_are_recorded_and_the_bank_goes_on(reference, tmp_path):
    with pytest.warns(RuntimeWarning, match="SimulationTimeout: theta"):
        summary = build(tmp_path, simulator=TimingOutMoons())
    shards = shards_of(tmp_path)
    assert len(shards) == 3
    theta, ok, x = (np.concatenate([s[key] for s in shards]) for key in ("theta", "ok", "x"))
    np.testing.assert_array_equal(ok, theta[:, 0] <= 0.5)
    assert 0 < summary.failed == (~ok).sum() < NUM
    assert np.isnan(x[~ok]).all()
    np.testing.assert_array_equal(x[ok], np.concatenate([s["x"] for s in shards_of(reference)])[ok])


def test_cli_builds_the_same_bank(reference, tmp_path, capsys):
    args = ["--num", str(NUM), "--shard-size", str(SHARD_SIZE), "--seed", str(SEED), "--no-progress"]
    main(["--simulator", "cmpe_lightning.TwoMoons", *args, "--out", str(tmp_path / "flags")])
    assert f"{NUM} runs (0 failed)" in capsys.readouterr().out
    assert_same_bank(tmp_path / "flags", reference)
    assert read_manifest(tmp_path / "flags")["simulator"] == read_manifest(reference)["simulator"]
    config = tmp_path / "bank.yaml"
    config.write_text("simulator:\n  class_path: cmpe_lightning.TwoMoons\n  init_args:\n    proposals_per_round: 7\n")
    main(["--config", str(config), *args, "--out", str(tmp_path / "yaml")])
    assert read_manifest(tmp_path / "yaml")["simulator"]["init_args"] == {"proposals_per_round": 7}


@pytest.mark.parametrize("args, message", [
    (["--num", "0"], "--num must be a positive integer, got 0"),
    (["--num", "10", "--shard-size", "-2"], "--shard-size must be a positive integer, got -2"),
    (["--num", "10", "--workers", "0"], "--workers must be a positive integer, got 0"),
    (["--num", "10", "--shards", "1-2"], "'1-2' is not START:STOP"),
    (["--num", "10", "--shard-size", "5", "--shards", "1:3"], "goes past the last shard: this bank has 2 shards"),
])
def test_cli_rejects_bad_values(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--simulator", "cmpe_lightning.TwoMoons", "--out", str(tmp_path / "bank"), *args])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "bank").exists()


def test_cli_refuses_a_bank_of_another_simulator_with_a_usage_error(reference, tmp_path, capsys):
    folder = tmp_path / "bank"
    shutil.copytree(reference, folder)
    manifest = (folder / "bank.json").read_text()
    args = ["--num", str(NUM), "--shard-size", str(SHARD_SIZE), "--seed", str(SEED), "--no-progress"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--simulator", "cmpe_lightning.BimodalGMM", *args, "--out", str(folder)])
    assert exit_info.value.code == 2 and "holds a different simulation bank" in capsys.readouterr().err
    assert (folder / "bank.json").read_text() == manifest
    assert_same_bank(folder, reference)
