"""Validates the tumor simulator against the reference implementation's runs (``shared/data/tumor2d``).

1. At the reference parameters: the mean growth curve against the reference mean +- 3 standard errors per
   day, the spread (sd) of the growth curve, and both profiles (mean +- sd), with plots.
2. At the reference's prior draws: the same theta with other seeds; final radius, profile extents (last
   non-zero bin) and runtime compared by two-sample Kolmogorov-Smirnov tests over the set of draws and by
   per-draw scatter plots.

Usage:
    python -m benchmarks.tumor.validation --data ../shared/data/tumor2d --reps 100 --workers 2 --out tumor_validation
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cmpe_lightning.tasks.tumor import REFERENCE_LOG10_THETA, simulate_tumor

PROFILES = ("extra_cellular_matrix_profile", "proliferation_profile")
SEED_OFFSET = 10_000  # our seeds differ from any seed a reference file could share by chance


def timed_run(job: tuple[np.ndarray, int]) -> dict[str, np.ndarray]:
    theta, seed = job
    start = time.process_time()
    out = simulate_tumor(theta, seed)
    out["runtime_s"] = np.array(time.process_time() - start)
    return out


def simulate_many(thetas: np.ndarray, seeds: list[int], workers: int, label: str) -> dict[str, np.ndarray]:
    """Runs in ``workers`` processes (one core each) and stacks the outputs; CPU seconds per run as ``runtime_s``."""
    if workers == 1:
        _warm_up()  # compile (or load the compiled kernels) outside the timing
    jobs = list(zip(thetas, seeds))
    with ProcessPoolExecutor(workers, initializer=_warm_up) if workers > 1 else _Serial() as pool:
        runs = list(tqdm(pool.map(timed_run, jobs), total=len(jobs), desc=label))
    return {key: np.stack([run[key] for run in runs]) for key in runs[0]}


def _warm_up() -> None:
    simulate_tumor(REFERENCE_LOG10_THETA, 0, max_wall_time_s=None)


class _Serial:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def map(function, jobs):
        return map(function, jobs)


def extent(profiles: np.ndarray) -> np.ndarray:
    """Number of bins up to the last non-zero one, per run."""
    nonzero = profiles > 0
    return np.where(nonzero.any(1), profiles.shape[1] - np.argmax(nonzero[:, ::-1], axis=1), 0)


def growth_table(ours: np.ndarray, reference: np.ndarray) -> tuple[str, int]:
    mean_ref, sd_ref = reference.mean(0), reference.std(0, ddof=1)
    se_ref = sd_ref / np.sqrt(len(reference))
    mean, sd = ours.mean(0), ours.std(0, ddof=1)
    se = sd / np.sqrt(len(ours))
    rows = ["| day | reference mean | ref. sd | ref. 3 SE | ours mean | ours sd | (ours - ref) / ref SE"
            " | (ours - ref) / joint SE |",
            "|---|---|---|---|---|---|---|---|"]
    outside = 0
    for day in range(len(mean)):
        z_ref = (mean[day] - mean_ref[day]) / max(se_ref[day], 1e-12)
        z_joint = (mean[day] - mean_ref[day]) / max(np.hypot(se_ref[day], se[day]), 1e-12)
        outside += abs(z_ref) > 3
        rows.append(f"| {day + 1} | {mean_ref[day]:.1f} | {sd_ref[day]:.1f} | {3 * se_ref[day]:.1f} | {mean[day]:.1f} |"
                    f" {sd[day]:.1f} | {z_ref:+.1f} | {z_joint:+.1f} |")
    return "\n".join(rows), outside


def plot_reference_parameters(ours: dict, reference: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    panels = [("growth_curve", np.arange(1, 21), "day", "radius (um)")] + [
        (name, np.arange(300), "distance to rim (um)", name.replace("_", " ")) for name in PROFILES
    ]
    for ax, (key, grid, xlabel, ylabel) in zip(axes, panels):
        for label, data, color in [("reference (tumor2d)", reference[key], "k"), ("cmpe_lightning", ours[key], "C1")]:
            values = data[:, : len(grid)]
            mean, sd = values.mean(0), values.std(0)
            ax.plot(grid, mean, color=color, label=label)
            ax.fill_between(grid, mean - sd, mean + sd, color=color, alpha=0.2)
        ax.set(xlabel=xlabel, ylabel=ylabel)
    axes[0].legend()
    fig.suptitle("Reference parameters: mean +- sd over runs")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_prior_draws(stats: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(stats), figsize=(4 * len(stats), 4))
    for ax, (name, (ref, ours)) in zip(axes, stats.items()):
        ax.scatter(ref, ours, s=12)
        low, high = min(ref.min(), ours.min()), max(ref.max(), ours.max())
        ax.plot([low, high], [low, high], "k--", lw=1)
        ax.set(xlabel=f"reference {name}", ylabel=f"ours {name}", title=name)
        if name == "runtime_s":
            ax.set(xscale="log", yscale="log")
    fig.suptitle("Prior draws: same theta, other seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    from scipy.stats import ks_2samp

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/tumor2d", help="folder of the reference .npz files")
    parser.add_argument("--reps", type=int, default=100, help="runs at the reference parameters")
    parser.add_argument("--prior-draws", type=int, default=60, help="reference prior draws to re-simulate (0: skip)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="tumor_validation")
    args = parser.parse_args(argv)
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = [f"# Tumor simulator validation ({args.reps} runs at the reference parameters)\n"]

    reference = dict(np.load(data / "default_samples_100reps_refparams.npz"))
    ours = simulate_many(np.tile(REFERENCE_LOG10_THETA, (args.reps, 1)), [SEED_OFFSET + i for i in range(args.reps)],
                         args.workers, "reference parameters")
    np.savez(out / "reference_parameters_ours.npz", **ours)
    table, outside = growth_table(ours["growth_curve"], reference["growth_curve"])
    report += ["## Growth curve at the reference parameters\n", table,
               f"\nDays outside the reference mean +- 3 SE: {outside} of 20.\n",
               "## Profiles at the reference parameters\n",
               "| statistic | reference | ours |", "|---|---|---|"]
    for name in PROFILES:
        for label, f in [("extent (bins), mean", lambda p: extent(p).mean()),
                         ("extent (bins), sd", lambda p: extent(p).std(ddof=1)),
                         ("value in bins 0-49, mean", lambda p: p[:, :50].mean()),
                         ("value in bins 100-149, mean", lambda p: p[:, 100:150].mean()),
                         ("value in bins 250-299, mean", lambda p: p[:, 250:300].mean()),
                         ("run-to-run sd, bins 0-299 (mean over bins)", lambda p: p[:, :300].std(0, ddof=1).mean())]:
            report.append(f"| {name}: {label} | {f(reference[name]):.4f} | {f(ours[name]):.4f} |")
    report.append(f"\nCPU seconds per run at the reference parameters: median {np.median(ours['runtime_s']):.3f},"
                  f" mean {ours['runtime_s'].mean():.3f}.\n")
    plot_reference_parameters(ours, reference, out / "reference_parameters.png")

    if args.prior_draws > 0:
        draws = np.load(data / "tumor2d_prior_draws.npz")
        thetas = draws["log10_theta"][: args.prior_draws]
        ours_prior = simulate_many(thetas, [SEED_OFFSET + i for i in range(len(thetas))], args.workers, "prior draws")
        np.savez(out / "prior_draws_ours.npz", log10_theta=thetas, **ours_prior)
        stats = {
            "final_radius": (draws["growth_curve"][: len(thetas), -1], ours_prior["growth_curve"][:, -1]),
            "ecm_extent": (extent(draws["extra_cellular_matrix_profile"][: len(thetas)]),
                           extent(ours_prior["extra_cellular_matrix_profile"])),
            "proliferation_extent": (extent(draws["proliferation_profile"][: len(thetas)]),
                                     extent(ours_prior["proliferation_profile"])),
            "runtime_s": (draws["runtime_s"][: len(thetas)], ours_prior["runtime_s"]),
        }
        report += [f"## {len(thetas)} reference prior draws, same theta, other seeds\n",
                   "| statistic | reference median | ours median | reference mean | ours mean | KS statistic"
                   " | KS p-value | Spearman r (per draw) |",
                   "|---|---|---|---|---|---|---|---|"]
        from scipy.stats import spearmanr

        for name, (ref, mine) in stats.items():
            test = ks_2samp(ref, mine)
            rho = spearmanr(ref, mine).statistic
            report.append(f"| {name} | {np.median(ref):.3g} | {np.median(mine):.3g} | {ref.mean():.3g}"
                          f" | {mine.mean():.3g} | {test.statistic:.3f} | {test.pvalue:.3f} | {rho:.3f} |")
        plot_prior_draws(stats, out / "prior_draws.png")
    (out / "validation.md").write_text("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    main()
