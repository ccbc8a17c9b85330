"""The harness's sbibm suite without training: the grid it accepts, what stands for a config, and its report."""

import argparse
import csv
import json

import pytest

from cmpe_lightning.benchmark.harness import PRESETS, check_grid, config_hash, samplers_of, source_of
from cmpe_lightning.benchmark.report import write_report
from cmpe_lightning.benchmark.sbibm_suite import DEFAULT_ESTIMATORS, DEFAULT_TASKS, task_arguments


def grid(**options) -> argparse.Namespace:
    return argparse.Namespace(**{"suite": "sbibm", "tasks": None, "estimators": None, **options})


def test_the_suite_defaults_to_the_issues_tasks_and_methods():
    assert check_grid(grid()) == (list(DEFAULT_TASKS), list(DEFAULT_ESTIMATORS))
    assert check_grid(grid(tasks=["slcp_distractors"], estimators=["acf"])) == (["slcp_distractors"], ["acf"])


@pytest.mark.parametrize("options, message", [
    ({"tasks": ["sir"]}, "need Julia"),
    ({"tasks": ["gmm"]}, "no task gmm in the sbibm suite"),
    ({"estimators": ["npe"]}, "no estimator npe"),
    ({"suite": "paper", "estimators": ["sbi_npe"]}, "no estimator sbi_npe in the paper suite"),
])
def test_a_grid_outside_the_suite_is_refused_by_name(options, message):
    with pytest.raises(SystemExit, match=message):
        check_grid(grid(**options))


def test_the_suite_trains_with_the_default_recipe_not_a_config(tmp_path):
    source = source_of("slcp", "nsf", PRESETS["sbibm"], tmp_path)
    assert "--config" not in source and source == task_arguments("slcp", "nsf")
    assert source[source.index("--data.init_args.simulator.init_args.name") + 1] == "slcp"
    assert source[source.index("--model.init_args.transform") + 1] == "spline"
    assert config_hash(source, []) != config_hash(task_arguments("slcp", "cmpe"), [])
    (tmp_path / "slcp").mkdir()
    (tmp_path / "slcp" / "nsf.yaml").write_text("model: {}\n")
    assert source_of("slcp", "nsf", PRESETS["quick"], tmp_path) == ["--config", str(tmp_path / "slcp" / "nsf.yaml")]


def test_the_suite_report_compares_cmpe_with_sbis_npe(tmp_path):
    rows = [("two_moons", "cmpe", 1000, 0.70), ("two_moons", "sbi_npe", 1000, 0.75),
            ("slcp", "cmpe", 1000, 0.95), ("slcp", "sbi_npe", 1000, 0.93), ("slcp", "nsf", 1000, 0.96)]
    path = tmp_path / "results.csv"
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, ["task", "estimator", "budget", "seed", "sampler", "solver", "c2st", "peer"])
        writer.writeheader()
        writer.writerows({"task": t, "estimator": e, "budget": b, "seed": 0, "sampler": "{}", "solver": "", "c2st": c,
                          "peer": "sbi 0.27.0" if e.startswith("sbi_") else ""} for t, e, b, c in rows)
    (tmp_path / "metadata.json").write_text(json.dumps({"runs": [{"grid": {"suite": "sbibm"}}]}))
    paths = write_report(path, tmp_path / "report")
    assert [p.name for p in paths] == ["c2st_vs_budget.png", "results.md"] and paths[0].stat().st_size > 0
    table = paths[1].read_text()
    assert "| two_moons | 1000 | 0.700 | 0.750 | -0.050 |" in table
    assert "| slcp | 1000 | 0.950 | 0.930 | +0.020 |" in table
    assert "in 1 of 2 cells; mean difference -0.015" in table
    assert "| slcp | 0.950 | 0.960 | 0.930 | 0.975 |" in table  # CMPE, NSF, sbi NPE, then sbibm's published NPE
    assert "sbi 0.27.0" in table


def test_cmpe_is_tested_at_the_k_its_fit_chose():
    assert samplers_of("cmpe", PRESETS["sbibm"], auto_num_steps=3) == [{"num_steps": 3}]
    assert samplers_of("cmpe", PRESETS["quick"], auto_num_steps=3)[0] == {"num_steps": 1}  # the grid's Ks
    assert samplers_of("fmpe", PRESETS["sbibm"]) == [{}] and samplers_of("nsf", PRESETS["sbibm"]) == [{}]
