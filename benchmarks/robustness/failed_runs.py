"""Does a simulator whose runs sometimes fail train as well as a clean one? C2ST with and without failed runs.

Fits the config twice, once on its simulator and once on the same simulator wrapped in a
:class:`~cmpe_lightning.FailingSimulator` (``--failure-rate`` of the runs return NaN; the others are the very
same runs), then tests both checkpoints on the clean simulator's test set (reference posterior, C2ST) and
reports the C2ST of each and the failed pairs the training left out (``train/dropped``).

Usage:
    python -m benchmarks.robustness.failed_runs --config configs/two_moons/cmpe.yaml --failure-rate 0.01 \\
        --trainer.max_steps 20000 --out docs/failed_runs

Any further ``--key value`` pairs are passed to both fits (for example ``--trainer.max_steps 20000``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from cmpe_lightning.cli import run_cli


def fit_and_test(config: str, simulator_args: list[str], overrides: list[str], folder: Path) -> dict:
    quiet = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
    logger = ["--trainer.logger.init_args.save_dir", str(folder)]
    start = time.perf_counter()
    fit = run_cli(["fit", "--config", config, *simulator_args, *quiet, *logger, *overrides])
    seconds = time.perf_counter() - start
    dropped = float(fit.trainer.callback_metrics.get("train/dropped", 0.0))
    checkpoint = fit.trainer.checkpoint_callback.last_model_path
    test = run_cli(["test", "--config", config, "--ckpt_path", checkpoint, *quiet, *logger])  # the clean test set
    metrics = {k.removeprefix("test/"): float(v) for k, v in test.trainer.callback_metrics.items()}
    return {"c2st": metrics["c2st"], "calibration_error": metrics.get("calibration_error"), "dropped": dropped,
            "fit_seconds": seconds, "steps": fit.trainer.global_step}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a config of a task with a reference posterior")
    parser.add_argument("--failure-rate", type=float, default=0.01, help="the share of runs that fail (default 0.01)")
    parser.add_argument("--out", default=None, help="a folder for results.json and results.md (default: print only)")
    args, overrides = parser.parse_known_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        simulator = yaml.safe_load(Path(args.config).read_text())["data"]["init_args"]["simulator"]
        failing = ["--data.init_args.simulator", json.dumps({
            "class_path": "cmpe_lightning.FailingSimulator",
            "init_args": {"simulator": simulator, "failure_rate": args.failure_rate}})]
        for label, simulator_args in (("clean", []), (f"{args.failure_rate:.0%} of runs NaN", failing)):
            row = {"simulator": label,
                   **fit_and_test(args.config, simulator_args, overrides, Path(folder) / label.split()[0])}
            rows.append(row)
            print(json.dumps(row), flush=True)
    lines = ["| simulator | steps | failed pairs left out | C2ST | calibration error | fit seconds |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['simulator']} | {r['steps']} | {r['dropped']:.0f} | {r['c2st']:.3f} |"
              f" {r['calibration_error']:.3f} | {r['fit_seconds']:.0f} |" for r in rows]
    lines.append(f"\nC2ST difference (failing - clean): {rows[1]['c2st'] - rows[0]['c2st']:+.3f}")
    print("\n".join(lines))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(rows, indent=1))
        (out / "results.md").write_text("\n".join(lines) + "\n")
    return rows


if __name__ == "__main__":
    main()
