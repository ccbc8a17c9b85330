"""cmpe-benchmark on a tiny grid: tidy rows, resume without recomputing, a report with figures and tables."""

import csv
import importlib.util
import json
import math
import os
from pathlib import Path

import pytest

from cmpe_lightning.benchmark.harness import ResultsFile, main
from cmpe_lightning.benchmark.report import read_results, spearman, step_choices

CONFIGS = Path(__file__).parents[2] / "configs"
TINY = ["run", "--preset", "quick", "--configs", str(CONFIGS), "--tasks", "two_moons", "--estimators", "acf", "cmpe",
        "--budgets", "256", "--max_steps", "30", "--num_test_observations", "2", "--num_reference_samples", "200",
        "--cmpe_steps", "1", "2"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    output = tmp_path_factory.mktemp("bench")
    main([*TINY, "--output", str(output)])
    return output


def read(output: Path) -> list[dict]:
    with (output / "results.csv").open() as f:
        return list(csv.DictReader(f))


def test_one_row_per_cell_and_sampler_setting(results):
    rows = read(results)
    assert [(r["estimator"], r["sampler_steps"]) for r in rows] == [("acf", ""), ("cmpe", "1"), ("cmpe", "2")]
    for row in rows:
        assert 0.5 <= float(row["c2st"]) <= 1 and float(row["ms_per_1000_draws"]) > 0 and row["train_steps"] == "30"
    cmpe = rows[1:]
    # chosen among the K tested and the estimator's default (10), which the choice always scores
    assert cmpe[0]["auto_num_steps"] in ("1", "2", "10") and cmpe[0]["auto_num_steps"] == cmpe[1]["auto_num_steps"]
    assert all(float(r["val_calibration_error"]) >= 0 for r in cmpe)
    meta = json.loads((results / "metadata.json").read_text())
    assert meta["runs"][0]["packages"]["torch"] and meta["runs"][0]["grid"]["max_steps"] == 30


def test_a_rerun_skips_finished_cells(results, capsys):
    before = (results / "results.csv").read_text()
    main([*TINY, "--output", str(results)])
    assert "2 cells, 2 already in" in capsys.readouterr().out
    assert (results / "results.csv").read_text() == before


def test_a_different_grid_in_the_same_folder_is_refused(results):
    with pytest.raises(SystemExit, match="different grid"):
        main([*TINY, "--output", str(results), "--max_steps", "31"])


def test_report_writes_figures_and_tables(results, tmp_path):
    main(["report", str(results / "results.csv"), "--output", str(tmp_path)])
    for name in ("c2st_vs_budget.png", "c2st_vs_time.png", "c2st_vs_steps.png", "results.md"):
        assert (tmp_path / name).stat().st_size > 0
    table = (tmp_path / "results.md").read_text()
    assert "| two_moons | ACF |" in table and "calibration_error" in table
    (choice,) = step_choices(read_results(results / "results.csv"))  # one CMPE run: its K per criterion
    assert (choice["best_k"] in (1, 2) and choice["calibration_error_k"] in (1, 2)
            and choice["calibration_error_gap"] >= 0)
    if choice["auto_k"] in (1, 2):  # the grid's Ks; the default K = 10 has no C2ST here
        assert choice["auto_gap"] >= 0 and f"| {choice['auto_k']}, {choice['auto_gap']:+.3f}, " in table
    else:
        assert math.isnan(choice["auto_gap"]) and f"| {choice['auto_k']}, –, – |" in table


def test_spearman_ranks_with_ties():
    import numpy as np

    assert spearman(np.array([1.0, 2, 3]), np.array([10.0, 20, 30])) == pytest.approx(1)
    assert spearman(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1)
    assert np.isnan(spearman(np.array([1.0, 1, 1]), np.array([1.0, 2, 3])))


def test_results_file_keeps_every_column_whatever_the_order(tmp_path):
    results = ResultsFile(tmp_path / "results.csv")
    results.append([{"task": "gmm", "estimator": "fmpe", "budget": 1, "seed": 0, "num_steps": 10}])
    results.append([{"task": "gmm", "estimator": "acf", "budget": 1, "seed": 0}])  # fewer columns than before
    rows = read(tmp_path)
    assert [r["num_steps"] for r in rows] == ["10", ""]
    assert ResultsFile(tmp_path / "results.csv").done({"task": "gmm", "estimator": "acf", "budget": 1, "seed": 0})


@pytest.mark.skipif(importlib.util.find_spec("sbibm") is None, reason="needs sbibm: pip install -e '.[sbibm]'")
def test_the_sbibm_suite_runs_on_the_default_recipe(tmp_path):
    """A tiny sbibm suite: CMPE tested at the K its fit chose; sbi's NPE too where CMPE_LIGHTNING_PEER_PYTHON names
    the Python of an environment with sbi (cmpe-benchmark peer-env)."""
    peer = os.environ.get("CMPE_LIGHTNING_PEER_PYTHON")
    estimators = ["cmpe", *(["sbi_npe"] if peer else [])]
    main(["run", "--suite", "sbibm", "--tasks", "two_moons", "--estimators", *estimators, "--budgets", "200",
          "--max_steps", "30", "--num_test_observations", "2", "--num_reference_samples", "200",
          "--output", str(tmp_path), *(["--peer-python", peer] if peer else [])])
    rows = read(tmp_path)
    assert [r["estimator"] for r in rows] == estimators
    assert rows[0]["sampler_steps"] == rows[0]["auto_num_steps"] and 0.5 <= float(rows[0]["c2st"]) <= 1
    assert all(0.5 <= float(r["c2st"]) <= 1 for r in rows)
    assert json.loads((tmp_path / "metadata.json").read_text())["runs"][0]["grid"]["suite"] == "sbibm"
