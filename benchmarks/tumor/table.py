"""The CMPE paper's tumor table: error, calibration and sampling time of each estimator on the held-out test runs.

Each row draws ``--draws`` posterior samples for the first ``--runs`` test runs of the bank (the split
``cmpe test`` uses) with one checkpoint and sampler setting, and reports the paper's error (mean absolute
error of standardized draws, which the paper calls RMSE), a true RMSE of standardized draws, the maximum
calibration error over the 7 parameters, and the seconds the draws took; where a row draws fewer samples
than 400 x 2000 the seconds for 400 x 2000 are extrapolated linearly (and marked so).

Usage:
    python -m benchmarks.tumor.table --config configs/tumor/cmpe.yaml \\
        --row 'ACF=runs/tumor_acf/version_0/checkpoints/last.ckpt' \\
        --row 'CMPE 2 steps=runs/tumor_cmpe/version_0/checkpoints/last.ckpt={num_steps: 2}' \\
        --row 'FMPE 1000 steps=runs/tumor_fmpe/version_0/checkpoints/last.ckpt={num_steps: 1000}=400x100' \\
        --out docs/tumor
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from benchmarks.tumor.runs import evaluate, own_test_runs
from cmpe_lightning.estimators.base import PosteriorEstimator
from cmpe_lightning.metrics import CalibrationError, StandardizedDrawError

PAPER_TABLE = {  # method.md: 400 test data sets x 2000 draws, seconds on an RTX A2000
    "ACF": (0.589, 0.021, 1.07), "NSF": (0.590, 0.023, 4.15), "FMPE 30 steps": (0.582, 0.219, 16.99),
    "FMPE 1000 steps": (0.583, 0.057, 500.9), "CMPE 2 steps": (0.616, 0.064, 2.16),
    "CMPE 30 steps": (0.577, 0.021, 18.33),
}
FULL_DRAWS = 400 * 2000


def parse_row(text: str) -> dict:
    """``LABEL=CHECKPOINT[=SAMPLER OPTIONS[=RUNSxDRAWS]]``."""
    parts = text.split("=")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"--row must look like LABEL=CHECKPOINT[=SAMPLER[=RUNSxDRAWS]], got {text!r}.")
    options = yaml.safe_load(parts[2]) if len(parts) > 2 and parts[2] else {}
    size = parts[3] if len(parts) > 3 else None
    runs, draws = (int(v) for v in size.lower().split("x")) if size else (None, None)
    return {"label": parts[0], "ckpt": parts[1], "options": options or {}, "runs": runs, "draws": draws}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a tumor config (its bank's test split is used)")
    parser.add_argument("--row", action="append", required=True, help="LABEL=CHECKPOINT[=SAMPLER[=RUNSxDRAWS]]")
    parser.add_argument("--runs", type=int, default=400, help="test runs per row (default: 400, the paper's)")
    parser.add_argument("--draws", type=int, default=2000, help="draws per run (default: 2000, the paper's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="tumor_table")
    args = parser.parse_args(argv)
    rows = [parse_row(text) for text in args.row]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    theta, x = own_test_runs(args.config, max(row["runs"] or args.runs for row in rows))

    results = []
    for row in rows:
        runs, draws = row["runs"] or args.runs, row["draws"] or args.draws
        estimator = PosteriorEstimator.load_from_checkpoint(row["ckpt"], map_location="cpu").eval()
        metrics = [StandardizedDrawError("mae"), StandardizedDrawError("rmse"), CalibrationError()]
        _, seconds = evaluate(estimator, theta[:runs], {k: v[:runs] for k, v in x.items()}, draws, metrics,
                              args.seed, **row["options"])
        mae, rmse, calibration = (float(m.compute()) for m in metrics)
        coverage = metrics[2].coverage() - metrics[2].levels[:, None]  # (levels, parameters); < 0: overconfident
        result = {"label": row["label"], "options": row["options"], "runs": runs, "draws": draws,
                  "calibration_per_parameter": [round(float(v), 4) for v in metrics[2].per_parameter()],
                  "median_coverage_minus_level": [round(float(v), 4) for v in coverage.median(0).values],
                  "num_steps": (getattr(estimator, "num_steps", None) if "num_steps" not in row["options"]
                                else row["options"]["num_steps"]),
                  "error_mae": mae, "rmse": rmse, "max_calibration_error": calibration, "seconds": seconds,
                  "seconds_400x2000": seconds * FULL_DRAWS / (runs * draws),
                  "extrapolated": runs * draws != FULL_DRAWS}
        results.append(result)
        print(json.dumps(result), flush=True)
    lines = _per_parameter_lines(results) + [
        "", "| method | runs × draws | error (paper's: MAE of standardized draws) | RMSE of standardized draws |"
        " max calibration error | seconds for 400 × 2000 | paper: error / calibration / seconds (RTX A2000) |",
        "|---|---|---|---|---|---|---|"]
    for r in results:
        paper = PAPER_TABLE.get(r["label"])
        paper_text = " / ".join(f"{v:g}" for v in paper) if paper else ""
        seconds = f"{r['seconds_400x2000']:.1f}" + (" (extrapolated)" if r["extrapolated"] else "")
        lines.append(f"| {r['label']} | {r['runs']} × {r['draws']} | {r['error_mae']:.3f} | {r['rmse']:.3f} |"
                     f" {r['max_calibration_error']:.3f} | {seconds} | {paper_text} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "table.json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))
    return results


def _per_parameter_lines(results: list[dict]) -> list[str]:
    """Per parameter: calibration error, and the median of coverage - level (negative: intervals too narrow)."""
    from cmpe_lightning.tasks.tumor.simulator import PARAMETER_NAMES

    lines = ["| method | " + " | ".join(PARAMETER_NAMES) + " |", "|---|" + "---|" * len(PARAMETER_NAMES)]
    for r in results:
        cells = [f"{c:.3f} ({d:+.3f})"
                 for c, d in zip(r["calibration_per_parameter"], r["median_coverage_minus_level"])]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return ["Calibration error per parameter (median coverage - level; negative: overconfident):", "", *lines]


if __name__ == "__main__":
    main()
