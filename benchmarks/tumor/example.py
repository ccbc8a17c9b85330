"""The worked tumor example: a posterior for runs of the reference implementation at its reference parameters.

Takes ``tumor2d``'s runs at the reference parameters (``default_samples_100reps_refparams.npz``), draws the
posterior of one run (pair plot with the true parameters marked), checks how often the 90 % central
intervals of all runs hold the true parameters (and of as many runs of our own simulator at the same
parameters, which separates an estimator's error from a difference between the simulators), and simulates
our model at posterior draws of that run to compare the posterior predictive growth curves with the observed one.

Usage:
    python -m benchmarks.tumor.example --ckpt runs/tumor_cmpe/version_0/checkpoints/last.ckpt --out docs/tumor
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from tqdm import tqdm  # noqa: E402

from cmpe_lightning.estimators.base import PosteriorEstimator  # noqa: E402
from cmpe_lightning.plotting import pair_plot  # noqa: E402
from cmpe_lightning.tasks.tumor.simulator import (  # noqa: E402
    OUTPUT_SHAPES,
    PARAMETER_NAMES,
    PRIOR_HIGH,
    PRIOR_LOW,
    REFERENCE_LOG10_THETA,
    simulate_tumor,
)

SHORT_NAMES = ["log10 r", "log10 L", "log10 R0", "log10 q0", "log10 p_ecm", "log10 k_ecm", "log10 θ_ecm"]


def predictive_figure(observed: np.ndarray, predicted: np.ndarray, reference: np.ndarray) -> plt.Figure:
    days = np.arange(1, observed.shape[-1] + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    low, median, high = np.percentile(predicted, [5, 50, 95], axis=0)
    ax.fill_between(days, low, high, color="tab:blue", alpha=0.25, label="posterior predictive 5-95 %")
    ax.plot(days, median, color="tab:blue", label="posterior predictive median")
    ax.plot(days, reference.mean(0), color="grey", ls="--", label="tumor2d, mean of its 100 runs")
    ax.plot(days, observed, "o", color="tab:red", ms=4, label="observed run (tumor2d)")
    ax.set(xlabel="day", ylabel="spheroid radius (µm)", title="Posterior predictive growth curves")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="a trained tumor checkpoint")
    parser.add_argument("--sampler", type=yaml.safe_load, default={}, help="sampler options, e.g. '{num_steps: 30}'")
    parser.add_argument("--data", default="../shared/data/tumor2d/default_samples_100reps_refparams.npz")
    parser.add_argument("--run", type=int, default=0, help="the run whose posterior is plotted")
    parser.add_argument("--draws", type=int, default=2000, help="posterior draws per run")
    parser.add_argument("--predictive", type=int, default=100,
                        help="posterior draws simulated for the predictive check")
    parser.add_argument("--own-runs", type=int, default=100, help="runs of our simulator at the reference parameters")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="tumor_example")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = np.load(args.data, allow_pickle=False)
    x = {name: torch.as_tensor(data[name], dtype=torch.float32) for name in OUTPUT_SHAPES}
    if not 0 <= args.run < len(x["growth_curve"]):
        raise ValueError(f"--run must index one of the {len(x['growth_curve'])} runs in {args.data}, got {args.run}.")
    estimator = PosteriorEstimator.load_from_checkpoint(args.ckpt, map_location="cpu").eval()
    samples = estimator.sample(x, args.draws, torch.Generator().manual_seed(args.seed), **args.sampler)
    truth = torch.as_tensor(REFERENCE_LOG10_THETA, dtype=torch.float32)

    limits = torch.as_tensor(np.stack([PRIOR_LOW, PRIOR_HIGH], axis=1), dtype=torch.float32)
    figure = pair_plot(samples[args.run], truth=truth, limits=limits, names=SHORT_NAMES,
                       title=f"tumor2d run {args.run} at the reference parameters (red)")
    figure.savefig(out / "example_pairs.png", dpi=100)

    inside = holds_truth(samples, truth)
    seeds = np.random.default_rng(args.seed + 1).integers(2**31, size=args.own_runs)
    ours = [simulate_tumor(REFERENCE_LOG10_THETA, seed=int(s))
            for s in tqdm(seeds, desc="our runs at the reference parameters")]
    x_ours = {name: torch.as_tensor(np.stack([run[name] for run in ours]), dtype=torch.float32)
              for name in OUTPUT_SHAPES}
    inside_ours = holds_truth(estimator.sample(x_ours, args.draws, torch.Generator().manual_seed(args.seed),
                                               **args.sampler), truth)
    own = samples[args.run]
    lines = ["| parameter | true log10 value | posterior median (run %d) | 90 %% interval (run %d)"
             " | tumor2d runs whose 90 %% interval holds it | our runs whose 90 %% interval holds it |"
             % (args.run, args.run), "|---|---|---|---|---|---|"]
    for j, name in enumerate(PARAMETER_NAMES):
        q05, q50, q95 = own[:, j].quantile(torch.tensor([0.05, 0.5, 0.95])).tolist()
        lines.append(f"| {name} | {truth[j]:.3f} | {q50:.3f} | [{q05:.3f}, {q95:.3f}] | {inside[j]:.2f}"
                     f" | {inside_ours[j]:.2f} |")

    rng = np.random.default_rng(args.seed)
    picks = rng.choice(args.draws, size=args.predictive, replace=False)
    theta = own[picks].double().numpy().clip(PRIOR_LOW, PRIOR_HIGH)
    predicted = np.stack([simulate_tumor(t, seed=int(s))["growth_curve"] for t, s in
                          tqdm(zip(theta, rng.integers(2**31, size=len(theta))), total=len(theta),
                               desc="predictive runs")])
    observed = data["growth_curve"][args.run]
    figure = predictive_figure(observed, predicted, data["growth_curve"])
    figure.savefig(out / "example_predictive.png", dpi=110)
    low_p, high_p = np.percentile(predicted, [5, 95], axis=0)
    held = float(((observed >= low_p) & (observed <= high_p)).mean())
    lines.append(f"\nObserved days inside the posterior predictive 5-95 % band: {held:.2f}"
                 f" ({args.predictive} simulations).")
    (out / "example.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"Wrote {out / 'example_pairs.png'}, {out / 'example_predictive.png'} and {out / 'example.md'}")
    return {"coverage_90": inside.tolist(), "coverage_90_ours": inside_ours.tolist(), "predictive_days_inside": held}


def holds_truth(samples: torch.Tensor, truth: torch.Tensor, level: float = 0.9) -> torch.Tensor:
    """Per parameter, the share of observations whose central ``level`` interval holds ``truth``."""
    low, high = samples.quantile((1 - level) / 2, dim=1), samples.quantile((1 + level) / 2, dim=1)
    return ((low <= truth) & (truth <= high)).float().mean(0)


if __name__ == "__main__":
    main()
