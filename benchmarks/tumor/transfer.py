"""Posteriors trained on our tumor simulator, applied to runs of the reference implementation (``tumor2d``).

For each checkpoint: draws for the reference's runs at known parameters (``tumor2d_prior_draws.npz``, 60 prior
draws simulated by ``tumor2d``), the coverage of their true parameters at the 20 central credible levels of
the paper's calibration error, and the same for as many of our own held-out test runs; the gap between the
two is what a scientist risks by trusting a posterior trained on our simulator with data from theirs.

Usage:
    python -m benchmarks.tumor.transfer --config configs/tumor/cmpe.yaml \\
        --ckpt CMPE=runs/tumor_cmpe/version_0/checkpoints/last.ckpt \\
        --ckpt NSF=runs/tumor_nsf/version_0/checkpoints/last.ckpt \\
        --sampler 'CMPE={num_steps: 30}' --out docs/tumor
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from benchmarks.tumor.runs import evaluate, own_test_runs, reference_runs  # noqa: E402
from cmpe_lightning.estimators.base import PosteriorEstimator  # noqa: E402
from cmpe_lightning.metrics import CalibrationError  # noqa: E402
from cmpe_lightning.tasks.tumor.simulator import PARAMETER_NAMES  # noqa: E402


def coverage_figure(curves: dict[str, dict[str, np.ndarray]], levels: np.ndarray) -> plt.Figure:
    """Empirical against nominal coverage, worst parameter and mean over parameters, per estimator and data source."""
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 4), squeeze=False)
    for ax, (label, sources) in zip(axes[0], curves.items()):
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
        for (source, coverage), color in zip(sources.items(), ("tab:blue", "tab:red")):
            ax.plot(levels, coverage.mean(1), color=color, label=f"{source} (mean over parameters)")
            ax.fill_between(levels, coverage.min(1), coverage.max(1), color=color, alpha=0.15)
        ax.set(title=label, xlabel="credible level", ylabel="coverage of the true θ", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("Coverage on our test runs and on tumor2d's runs (band: range over the 7 parameters)", fontsize=9)
    fig.tight_layout()
    return fig


def labelled(pairs: list[str] | None, what: str) -> dict[str, str]:
    result = {}
    for pair in pairs or []:
        label, sep, value = pair.partition("=")
        if not sep or not label:
            raise ValueError(f"{what} must look like LABEL=VALUE, got {pair!r}.")
        result[label] = value
    return result


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a tumor config (its bank gives our own test runs)")
    parser.add_argument("--ckpt", action="append", required=True, help="LABEL=CHECKPOINT, repeatable")
    parser.add_argument("--sampler", action="append", help="LABEL=YAML sampler options, e.g. 'CMPE={num_steps: 30}'")
    parser.add_argument("--data", default="../shared/data/tumor2d/tumor2d_prior_draws.npz", help="tumor2d's runs")
    parser.add_argument("--own", type=int, default=60, help="our own test runs to compare with (default: 60)")
    parser.add_argument("--draws", type=int, default=2000, help="posterior draws per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="tumor_transfer", help="folder for the table and the figure")
    args = parser.parse_args(argv)
    checkpoints, samplers = labelled(args.ckpt, "--ckpt"), labelled(args.sampler, "--sampler")
    unknown = sorted(set(samplers) - set(checkpoints))
    if unknown:
        raise ValueError(f"--sampler names {unknown}, which no --ckpt label has ({sorted(checkpoints)}).")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sources = {"tumor2d runs": reference_runs(args.data), "our test runs": own_test_runs(args.config, args.own)}
    print(f"{len(sources['tumor2d runs'][0])} tumor2d runs, {args.own} of our test runs, {args.draws} draws each")

    rows, curves, levels = [], {}, None
    for label, path in checkpoints.items():
        estimator = PosteriorEstimator.load_from_checkpoint(path, map_location="cpu").eval()
        options = yaml.safe_load(samplers.get(label, "{}")) or {}
        curves[label] = {}
        for source, (theta, x) in sources.items():
            metric = CalibrationError()
            _, seconds = evaluate(estimator, theta, x, args.draws, [metric], args.seed, **options)
            levels = metric.levels.numpy()
            curves[label][source] = metric.coverage().numpy()
            per_parameter = metric.per_parameter().numpy()
            rows.append({"estimator": label, "sampler": options, "data": source, "runs": len(theta),
                         "max_calibration_error": float(per_parameter.max()),
                         "worst_parameter": PARAMETER_NAMES[int(per_parameter.argmax())],
                         **{f"calibration_error_{name}": float(v) for name, v in zip(PARAMETER_NAMES, per_parameter)},
                         "seconds": seconds})
            print(f"{label} {options or ''} on {source}: max calibration error {per_parameter.max():.3f}"
                  f" ({rows[-1]['worst_parameter']}), {seconds:.1f} s", flush=True)
    lines = ["| estimator | sampler | data | runs | max calibration error | worst parameter | " +
             " | ".join(PARAMETER_NAMES) + " |", "|---" * (6 + len(PARAMETER_NAMES)) + "|"]
    for row in rows:
        lines.append(f"| {row['estimator']} | {row['sampler'] or ''} | {row['data']} | {row['runs']} |"
                     f" {row['max_calibration_error']:.3f} | {row['worst_parameter']} | " +
                     " | ".join(f"{row[f'calibration_error_{name}']:.3f}" for name in PARAMETER_NAMES) + " |")
    (out / "transfer.md").write_text("\n".join(lines) + "\n")
    figure = coverage_figure(curves, levels)
    figure.savefig(out / "transfer_coverage.png", dpi=110)
    print("\n".join(lines))
    print(f"Wrote {out / 'transfer.md'} and {out / 'transfer_coverage.png'}")
    return rows


if __name__ == "__main__":
    main()
