"""The report of the sbibm suite: C2ST per task, budget and method beside sbibm's published NPE, and its figure.

``cmpe-benchmark report`` writes it for a ``results.csv`` of ``--suite sbibm``: ``c2st_vs_budget.png`` (one panel per
task, sbibm's published NPE dashed), ``results.md`` (the table, the difference of CMPE to sbi's NPE per task and
budget, and the run's package versions).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from .report import plt

# sbibm's NPE (neural spline flow, sbi 0.14), mean C2ST over the 10 observations: Lueckmann et al. (2021), the
# file benchmarking_sbi/results/main_paper.csv of github.com/sbi-benchmark/results
SBIBM_NPE = {
    "two_moons": {1000: 0.725, 10_000: 0.606},
    "slcp": {1000: 0.975, 10_000: 0.901},
    "gaussian_linear_uniform": {1000: 0.696, 10_000: 0.553},
    "bernoulli_glm": {1000: 0.863, 10_000: 0.678},
}
LABELS = {"cmpe": "CMPE", "nsf": "NSF", "fmpe": "FMPE", "acf": "ACF", "sbi_npe": "sbi NPE", "sbi_fmpe": "sbi FMPE"}
COLORS = {"cmpe": "tab:red", "nsf": "tab:orange", "fmpe": "tab:green", "acf": "tab:blue", "sbi_npe": "black",
          "sbi_fmpe": "tab:purple"}


def mean_c2st(rows: list[dict]) -> dict[tuple[str, str, int], float]:
    """``(task, estimator, budget) -> C2ST`` averaged over seeds (one sampler setting per estimator in the suite)."""
    groups = defaultdict(list)
    for row in rows:
        groups[(row["task"], row["estimator"], int(row["budget"]))].append(row["c2st"])
    return {key: float(np.mean(values)) for key, values in groups.items()}


def figure(rows: list[dict], path: Path) -> None:
    means = mean_c2st(rows)
    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for estimator in LABELS:
            points = sorted((b, v) for (t, e, b), v in means.items() if t == task and e == estimator)
            if points:
                ax.plot(*zip(*points), "o-", color=COLORS[estimator], label=LABELS[estimator])
        if task in SBIBM_NPE:
            published = SBIBM_NPE[task]
            ax.plot(list(published), list(published.values()), "--", color="grey", label="NPE (sbibm paper)")
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.set(xscale="log", xlabel="simulation budget", ylabel="C2ST", title=task)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(rows: list[dict]) -> str:
    means = mean_c2st(rows)
    tasks, budgets = sorted({r["task"] for r in rows}), sorted({int(r["budget"]) for r in rows})
    estimators = [e for e in LABELS if any(r["estimator"] == e for r in rows)]
    seeds = sorted({int(r["seed"]) for r in rows})
    header = [f"{LABELS[e]} {b}" for b in budgets for e in estimators] + [f"sbibm NPE {b}" for b in budgets]
    lines = [f"C2ST against sbibm's reference posteriors (mean over its observations and seeds {seeds}); lower is"
             " better, 0.5 is a perfect posterior.", "", "| task | " + " | ".join(header) + " |",
             "|---|" + "---|" * len(header)]
    for task in tasks:
        cells = [_number(means.get((task, e, b))) for b in budgets for e in estimators]
        cells += [_number(SBIBM_NPE.get(task, {}).get(b)) for b in budgets]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    differences = [(t, b, means[(t, "cmpe", b)] - means[(t, "sbi_npe", b)]) for t in tasks for b in budgets
                   if (t, "cmpe", b) in means and (t, "sbi_npe", b) in means]
    if differences:
        lines += ["", "CMPE minus sbi's NPE (negative: CMPE is closer to the reference posterior):", "",
                  "| task | budget | CMPE | sbi NPE | difference |", "|---|---|---|---|---|"]
        for task, budget, difference in differences:
            lines.append(f"| {task} | {budget} | {means[(task, 'cmpe', budget)]:.3f} |"
                         f" {means[(task, 'sbi_npe', budget)]:.3f} | {difference:+.3f} |")
        values = np.array([d for _, _, d in differences])
        lines += ["", f"CMPE at or below sbi's NPE in {int((values <= 0).sum())} of {len(values)} cells; mean"
                  f" difference {values.mean():+.3f}."]
    peers = sorted({str(r["peer"]) for r in rows if r.get("peer")})
    if peers:
        lines += ["", f"Peers: {', '.join(peers)}."]
    return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def write_suite_report(rows: list[dict], output: Path) -> list[Path]:
    """Writes ``c2st_vs_budget.png`` and ``results.md`` into ``output``; returns their paths."""
    paths = [output / "c2st_vs_budget.png", output / "results.md"]
    figure(rows, paths[0])
    paths[1].write_text(markdown(rows))
    return paths
