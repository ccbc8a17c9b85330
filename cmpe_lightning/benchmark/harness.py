"""``cmpe-benchmark``: the paper's grid of tasks x estimators x simulation budgets x seeds, in one resumable command.

Every cell trains one YAML config (``configs/<task>/<estimator>.yaml``) through the same CLI as ``cmpe fit``,
with the budget, seed, steps and test-set size as overrides, then tests the checkpoint under each sampler
setting (CMPE: K steps; FMPE: Euler steps and dopri5). Results go to ``<output>/results.csv``, one tidy row
per cell x sampler setting, with ``<output>/metadata.json`` (versions, hardware, git commit, config hashes).
Cells already in the CSV are skipped, so an interrupted run continues where it stopped.

Usage::

    cmpe-benchmark run --preset quick --output benchmark/quick       # about an hour on 2 CPU cores
    cmpe-benchmark run --preset paper --output benchmark/paper --accelerator gpu --devices 1
    cmpe-benchmark report benchmark/quick/results.csv --output docs/results

``--suite sbibm`` runs sbibm's tasks instead (``pip install -e ".[sbibm]"``), every estimator with the default recipe
and no per-task config, with sbi's NPE and FMPE as peers (:mod:`.sbibm_suite`; docs/sbibm.md)::

    cmpe-benchmark run --suite sbibm --tasks two_moons slcp --budgets 1000 10000 --peer-python .venv-sbi/bin/python
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import platform
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..tasks.sbibm_tasks import JULIA_TASKS
from .sbibm_suite import DEFAULT_ESTIMATORS as SBIBM_DEFAULT_ESTIMATORS
from .sbibm_suite import DEFAULT_TASKS as SBIBM_DEFAULT_TASKS
from .sbibm_suite import ESTIMATORS as SBIBM_ESTIMATORS
from .sbibm_suite import PEERS, budget_arguments, make_peer_environment, run_peer_cell, task_arguments
from .sbibm_suite import TASKS as SBIBM_TASKS

TASKS = ("gmm", "two_moons", "inverse_kinematics")
ESTIMATORS = ("acf", "nsf", "fmpe", "cmpe")
CELL_KEYS = ("task", "estimator", "budget", "seed")


@dataclasses.dataclass(frozen=True)
class Preset:
    """The grid and the cost knobs of one benchmark run.

    Args:
        budgets: simulation budgets (the fixed training sets' sizes).
        seeds: seeds of the data and the training.
        num_test_observations: test observations per cell, each with its reference posterior.
        num_reference_samples: reference (and approximate) draws per test observation for C2ST.
        max_steps: optimizer steps of every fit; ``None`` keeps each config's own.
        cmpe_steps: CMPE's K values tested (also the candidates of the automatic choice).
        fmpe_samplers: FMPE's sampler settings tested.
        suite: ``paper`` (the configs of ``configs/``) or ``sbibm`` (sbibm's tasks with the default recipe).
    """

    budgets: tuple[int, ...]
    seeds: tuple[int, ...]
    num_test_observations: int
    num_reference_samples: int
    max_steps: int | None
    cmpe_steps: tuple[int, ...] = (1, 2, 3, 5, 8, 10, 15, 20, 30)
    fmpe_samplers: tuple[dict, ...] = ({"num_steps": 10}, {"num_steps": 30}, {"num_steps": 1000})
    suite: str = "paper"


PRESETS = {
    # 2 CPU cores, about 70 minutes: three budgets, one seed, 5 observations, 6 000 steps per fit
    "quick": Preset(budgets=(512, 2048, 8192), seeds=(0,), num_test_observations=5, num_reference_samples=2000,
                    max_steps=6000),
    # the paper's grid (sbibm's 10 000 too), each config's own steps; a GPU job
    "paper": Preset(budgets=(512, 1024, 2048, 4096, 8192, 10_000), seeds=(0, 1, 2), num_test_observations=100,
                    num_reference_samples=10_000, max_steps=None, cmpe_steps=(1, 2, 3, 5, 10, 15, 20, 30, 50),
                    fmpe_samplers=({"num_steps": 10}, {"num_steps": 30}, {"num_steps": 100}, {"num_steps": 1000},
                                   {"solver": "dopri5"})),
    # sbibm's protocol: its 10 observations, 10 000 reference draws; the default recipe's length, CMPE's automatic
    # K (no K given: the candidates of SamplingStepSelection) and FMPE's default sampler
    "sbibm": Preset(budgets=(1000, 10_000), seeds=(0,), num_test_observations=10, num_reference_samples=10_000,
                    max_steps=None, cmpe_steps=(), fmpe_samplers=({},), suite="sbibm"),
    # the same on 2 CPU cores: C2ST of 10 000 against 10 000 draws of a 10-parameter task takes 77 s per observation
    # there, so 5 observations and 2 000 draws (a smaller C2ST than sbibm's for the same posterior: compare methods
    # with each other, not with sbibm's published figures)
    "sbibm_quick": Preset(budgets=(1000, 10_000), seeds=(0,), num_test_observations=5, num_reference_samples=2000,
                          max_steps=None, cmpe_steps=(), fmpe_samplers=({},), suite="sbibm"),
}


def samplers_of(estimator: str, preset: Preset, auto_num_steps: int | None = None) -> list[dict]:
    """The sampler settings tested for one estimator (flows sample in one pass: one setting); CMPE without K values
    in the preset: the K its fit chose, ``auto_num_steps`` (named, since the test's fresh model has the default)."""
    if estimator == "cmpe":
        chosen = [{"num_steps": auto_num_steps}] if auto_num_steps is not None else [{}]
        return [{"num_steps": k} for k in preset.cmpe_steps] or chosen
    if estimator == "fmpe":
        return [dict(s) for s in preset.fmpe_samplers]
    return [{}]


def config_hash(source: Sequence[str], overrides: Sequence[str]) -> str:
    """A short hash of what stands for a cell's config (``--config FILE``: the file's text; else the arguments) and
    the overrides the cell adds to it."""
    digest = hashlib.sha256(Path(source[1]).read_bytes() if source[0] == "--config" else json.dumps(source).encode())
    digest.update(json.dumps(list(overrides)).encode())
    return digest.hexdigest()[:12]


def metadata(preset_name: str, preset: Preset, configs: Path) -> dict[str, Any]:
    """Package versions, hardware and git commit of this run (written to ``metadata.json``)."""
    packages = {}
    for name in ("cmpe_lightning", "torch", "lightning", "torchmetrics", "zuko", "scikit-learn", "numpy", "sbibm"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=configs,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True,
                                    cwd=configs).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {
        "preset": preset_name, "grid": json.loads(json.dumps(dataclasses.asdict(preset))), "packages": packages,
        "python": sys.version.split()[0], "platform": platform.platform(), "processor": platform.processor(),
        "cpu_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_commit": commit, "git_dirty": dirty, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


class ResultsFile:
    """The tidy CSV of finished rows; a cell's rows are appended together once the cell is done."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict[str, str]] = []
        if path.exists():
            with path.open(newline="") as f:
                self.rows = list(csv.DictReader(f))

    def done(self, cell: dict[str, Any]) -> bool:
        return any(all(row[k] == str(cell[k]) for k in CELL_KEYS) for row in self.rows)

    def append(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend({k: str(v) for k, v in row.items()} for row in rows)
        fields = list(dict.fromkeys(k for row in self.rows for k in row))  # every column any row has
        partial = self.path.with_name(self.path.name + ".partial")
        with partial.open("w", newline="") as f:  # rewrite whole, then rename: never a half-written file
            writer = csv.DictWriter(f, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(self.rows)
        partial.replace(self.path)


def cell_overrides(cell: dict[str, Any], preset: Preset, accelerator: str | None, devices: str | None) -> list[str]:
    """The CLI overrides that turn a task's config into this cell's experiment (its config hash covers them)."""
    budget = (budget_arguments(cell["budget"]) if preset.suite == "sbibm"
              else ["--data.init_args.num_simulations", str(cell["budget"])])
    args = ["--seed_everything", str(cell["seed"]), *budget,
            "--data.init_args.seed", str(cell["seed"]),
            "--data.init_args.num_test_observations", str(preset.num_test_observations),
            "--data.init_args.num_reference_samples", str(preset.num_reference_samples),
            "--data.init_args.num_calibration_observations", "0"]
    if preset.max_steps is not None:
        args += ["--trainer.max_steps", str(preset.max_steps)]
    if accelerator is not None:
        args += ["--trainer.accelerator", accelerator]
    if devices is not None:
        args += ["--trainer.devices", devices]
    return args


def run_cell(cell: dict[str, Any], source: list[str], preset: Preset, runs: Path, accelerator: str | None = None,
             devices: str | None = None, peer_python: str | None = None) -> list[dict[str, Any]]:
    """Trains one cell (or reuses its finished fit) and tests it under every sampler setting; ``source`` stands for
    its config (``["--config", FILE]``, or the arguments of :func:`.sbibm_suite.task_arguments`)."""
    from ..callbacks import DiagnosticPlots, PosteriorMetrics, PosteriorPlot, SamplingStepSelection
    from ..cli import run_cli
    from ..metrics import C2ST
    from .sampler_sweep import sweep

    overrides = cell_overrides(cell, preset, accelerator, devices)
    if cell["estimator"] in PEERS:
        row = run_peer_cell(cell, [*source, *overrides], runs, peer_python)
        return [{**cell, **row, "config_hash": config_hash([*source, cell["estimator"]], overrides)}]
    name = f"{cell['task']}_{cell['estimator']}_{cell['budget']}_seed{cell['seed']}"
    logging = ["--trainer.logger.init_args.save_dir", str(runs), "--trainer.logger.init_args.name", name,
               "--trainer.logger.init_args.version", "fit", "--trainer.enable_progress_bar", "false",
               "--trainer.enable_model_summary", "false"]
    folder = runs / name / "fit"
    record = folder / "fit.json"
    if not record.exists() and folder.exists():  # an unfinished fit: start this cell afresh
        tqdm.write(f"Removing the unfinished fit in {folder}.")
        shutil.rmtree(folder)
    if not record.exists():
        cli = run_cli([*source, *overrides, *logging], run=False)
        for callback in cli.trainer.callbacks:
            if isinstance(callback, SamplingStepSelection) and preset.cmpe_steps:  # choose K among the K values tested
                callback.candidates = sorted(preset.cmpe_steps)
            if isinstance(callback, PosteriorMetrics):  # fit times without validation diagnostics
                callback.validation_interval = 0
        start = time.perf_counter()
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        seconds = time.perf_counter() - start
        selection = next((c for c in cli.trainer.callbacks if isinstance(c, SamplingStepSelection) and c.enabled), None)
        info = {"checkpoint": cli.trainer.checkpoint_callback.last_model_path, "fit_seconds": seconds,
                "train_steps": cli.trainer.global_step,
                "auto_num_steps": cli.model.num_steps if selection is not None else None,
                "selection_seconds": selection.seconds if selection is not None else 0.0,
                "scores": {str(k): v for k, v in (selection.scores if selection is not None else {}).items()}}
        record.write_text(json.dumps(info, indent=1))
    info = json.loads(record.read_text())
    # a fresh trainer for the tests, as `cmpe test` has: the fit's weight averaging would load the raw weights
    cli = run_cli([*source, *overrides, *logging], run=False)
    for callback in cli.trainer.callbacks:  # the benchmark's metric: C2ST, its folds on all cores
        if isinstance(callback, PosteriorMetrics):
            callback.metrics = [C2ST(n_jobs=-1)]
    # no pictures per sampler setting: they cost time and say nothing the CSV does not
    cli.trainer.callbacks[:] = [c for c in cli.trainer.callbacks if not isinstance(c, (PosteriorPlot, DiagnosticPlots))]
    rows = []
    for result in sweep(cli, info["checkpoint"], samplers_of(cell["estimator"], preset, info["auto_num_steps"])):
        options = result.pop("sampler")
        steps = options.get("num_steps", getattr(cli.model, "num_steps", None))
        scores = info["scores"].get(str(steps), {}) if cell["estimator"] == "cmpe" else {}
        rows.append({**cell, "sampler": json.dumps(options, sort_keys=True), "solver": options.get("solver", ""),
                     "sampler_steps": "" if options.get("solver") == "dopri5" or steps is None else steps,
                     "auto_num_steps": "" if info["auto_num_steps"] is None else info["auto_num_steps"],
                     "fit_seconds": round(info["fit_seconds"], 2),
                     "selection_seconds": round(info["selection_seconds"], 2),
                     "train_steps": info["train_steps"],
                     **{k: round(v, 6) for k, v in result.items()},
                     **{f"val_{k}": round(v, 6) for k, v in scores.items()},
                     "config_hash": config_hash(source, overrides)})
    return rows


def source_of(task: str, estimator: str, preset: Preset, configs: Path) -> list[str]:
    """What stands for the config of a cell: the task's YAML file, or for the sbibm suite the default recipe's
    arguments."""
    if preset.suite == "sbibm":
        return task_arguments(task, estimator)
    return ["--config", str(configs / task / f"{estimator}.yaml")]


def check_grid(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The tasks and estimators asked for, checked against the suite's."""
    known_tasks, known_estimators = (SBIBM_TASKS, SBIBM_ESTIMATORS) if args.suite == "sbibm" else (TASKS, ESTIMATORS)
    tasks = args.tasks or list(SBIBM_DEFAULT_TASKS if args.suite == "sbibm" else TASKS)
    estimators = args.estimators or list(SBIBM_DEFAULT_ESTIMATORS if args.suite == "sbibm" else ESTIMATORS)
    for kind, asked, known in (("task", tasks, known_tasks), ("estimator", estimators, known_estimators)):
        unknown = [a for a in asked if a not in known]
        if unknown:
            hint = " (lotka_volterra and sir need Julia)" if set(unknown) & set(JULIA_TASKS) else ""
            raise SystemExit(f"cmpe-benchmark: no {kind} {', '.join(unknown)} in the {args.suite} suite{hint};"
                             f" expected some of {', '.join(known)}.")
    return tasks, estimators


def run(args: argparse.Namespace) -> Path:
    warnings.filterwarnings("ignore", "LightningCLI's args parameter is intended")  # args is the point here
    preset_name = args.preset or ("sbibm" if args.suite == "sbibm" else "quick")
    preset = PRESETS[preset_name]
    if preset.suite != args.suite:
        raise SystemExit(f"cmpe-benchmark: the preset {preset_name!r} is for --suite {preset.suite}, not {args.suite}.")
    tasks, estimators = check_grid(args)
    for field in ("budgets", "seeds", "cmpe_steps"):
        if getattr(args, field):
            preset = dataclasses.replace(preset, **{field: tuple(getattr(args, field))})
    for field in ("max_steps", "num_test_observations", "num_reference_samples"):
        if getattr(args, field) is not None:
            preset = dataclasses.replace(preset, **{field: getattr(args, field)})
    configs, output = Path(args.configs), Path(args.output or f"benchmark/{args.suite}")
    missing = [str(configs / t / f"{e}.yaml") for t in tasks for e in estimators
               if args.suite == "paper" and not (configs / t / f"{e}.yaml").is_file()]
    if missing:
        raise SystemExit(f"cmpe-benchmark: no config {', '.join(missing)};"
                         " --configs must be the repository's configs/ folder.")
    output.mkdir(parents=True, exist_ok=True)
    meta_path = output / "metadata.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {"runs": []}
    if meta["runs"]:  # resuming must not mix two protocols in one CSV (more budgets or seeds are fine)
        protocol = {k: v for k, v in json.loads(json.dumps(dataclasses.asdict(preset))).items()
                    if k not in ("budgets", "seeds")}
        before = {k: v for k, v in meta["runs"][0]["grid"].items() if k not in ("budgets", "seeds")}
        if protocol != before:
            raise SystemExit(f"cmpe-benchmark: {output} holds results of a different grid ({before});"
                             " choose another --output.")
    meta["runs"].append(metadata(preset_name, preset, configs))
    meta["config_hashes"] = {f"{t}/{e}": config_hash(source_of(t, e, preset, configs), [])
                             for t in tasks for e in estimators}
    meta_path.write_text(json.dumps(meta, indent=1))
    results = ResultsFile(output / "results.csv")
    cells = [dict(task=t, estimator=e, budget=b, seed=s) for s in preset.seeds for b in preset.budgets
             for t in tasks for e in estimators]
    todo = [c for c in cells if not results.done(c)]
    print(f"cmpe-benchmark: {len(cells)} cells, {len(cells) - len(todo)} already in {results.path}; writing there.")
    with tqdm(total=len(cells), initial=len(cells) - len(todo), unit="cell", dynamic_ncols=True) as bar:
        for cell in todo:
            bar.set_postfix_str(f"{cell['task']} {cell['estimator']} {cell['budget']} seed {cell['seed']}")
            source = source_of(cell["task"], cell["estimator"], preset, configs)
            results.append(run_cell(cell, source, preset, output / "runs", args.accelerator, args.devices,
                                    args.peer_python))
            bar.update()
    print(f"cmpe-benchmark: results in {results.path}; figures: cmpe-benchmark report {results.path}")
    return results.path


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``cmpe-benchmark``."""
    parser = argparse.ArgumentParser(prog="cmpe-benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    grid = commands.add_parser("run", help="train and test the grid (resumable)")
    grid.add_argument("--suite", choices=["paper", "sbibm"], default="paper",
                      help="paper: the paper's tasks with the configs of configs/; sbibm: sbibm's tasks with the"
                           " default recipe and sbi as a peer (needs the [sbibm] extra)")
    grid.add_argument("--preset", choices=sorted(PRESETS), help="the grid (default: quick, or sbibm for that suite)")
    grid.add_argument("--output", help="folder of results.csv, metadata.json and runs/ (default: benchmark/SUITE)")
    grid.add_argument("--configs", default="configs", help="the repository's configs/ folder")
    grid.add_argument("--tasks", nargs="+", help=f"paper suite: some of {', '.join(TASKS)} (default: all); sbibm"
                      f" suite: some of {', '.join(SBIBM_TASKS)} (default: {', '.join(SBIBM_DEFAULT_TASKS)})")
    grid.add_argument("--estimators", nargs="+", help=f"some of {', '.join(ESTIMATORS)} (default: all); the sbibm"
                      f" suite also has {', '.join(PEERS)} (default: {', '.join(SBIBM_DEFAULT_ESTIMATORS)})")
    grid.add_argument("--peer-python", dest="peer_python",
                      help="the Python of the environment with sbi, for the sbi_* estimators (docs/sbibm.md)")
    grid.add_argument("--budgets", nargs="+", type=int, help="override the preset's budgets")
    grid.add_argument("--seeds", nargs="+", type=int, help="override the preset's seeds")
    grid.add_argument("--cmpe_steps", nargs="+", type=int, help="override the preset's CMPE K values")
    grid.add_argument("--max_steps", type=int, help="override the preset's optimizer steps per fit")
    grid.add_argument("--num_test_observations", type=int, help="override the preset's test observations")
    grid.add_argument("--num_reference_samples", type=int, help="override the preset's reference draws")
    grid.add_argument("--accelerator", help="passed to the trainer (cpu, gpu, auto)")
    grid.add_argument("--devices", help="passed to the trainer (1, 2, auto)")
    peer = commands.add_parser("peer-env", help="make the environment of the sbi peers of --suite sbibm")
    peer.add_argument("--path", default=".venv-sbi", help="the venv's folder (it sees this environment's packages)")
    peer.add_argument("--sbi", default="sbi", help="the pip requirement of sbi (default: the newest)")
    report = commands.add_parser("report", help="figures and a Markdown table from results.csv")
    report.add_argument("results", help="the results.csv of a run")
    report.add_argument("--output", default=None, help="folder for the PNGs and results.md (default: next to the CSV)")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args)
    elif args.command == "peer-env":
        make_peer_environment(Path(args.path), args.sbi)
    else:
        from .report import write_report

        write_report(Path(args.results), Path(args.output) if args.output else None)


if __name__ == "__main__":
    main()
