"""``cmpe-benchmark report``: the paper's figures and Markdown tables from a benchmark's ``results.csv``.

Figures: C2ST against the simulation budget per task (the paper's numbers dashed), C2ST against the
sampling time (ms per 1000 draws), and CMPE's C2ST against its number of steps K (the automatic choice
marked). Tables: C2ST per task, method and budget beside the paper's; the speed of each sampler; and how
well each reference-free criterion of :class:`~cmpe_lightning.callbacks.SamplingStepSelection` picks K.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path

import matplotlib

from ..utils.errors import InputError, MissingFileError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# C2ST read from the paper's figures (method.md; the paper's C2ST variant, so only roughly comparable)
PAPER_C2ST = {
    ("two_moons", "cmpe"): {512: .665, 1024: .607, 2048: .581, 4096: .567, 8192: .553},
    ("two_moons", "acf"): {512: .728, 1024: .632, 2048: .594, 4096: .580, 8192: .560},
    ("two_moons", "nsf"): {512: .700, 1024: .635, 2048: .602, 4096: .587, 8192: .572},
    ("two_moons", "fmpe"): {512: .675, 1024: .618, 2048: .585, 4096: .567, 8192: .551},
    ("gmm", "cmpe"): {512: .619, 1024: .610, 2048: .617, 4096: .624, 8192: .636},
    ("gmm", "nsf"): {512: .708, 1024: .704, 2048: .710, 4096: .703, 8192: .687},
    ("gmm", "fmpe"): {512: .720, 1024: .738, 2048: .741, 4096: .733, 8192: .733},
    ("inverse_kinematics", "cmpe"): {512: .944, 1024: .923, 2048: .903, 4096: .878, 8192: .872},
    ("inverse_kinematics", "nsf"): {512: .978, 1024: .966, 2048: .953, 4096: .952, 8192: .915},
    ("inverse_kinematics", "fmpe"): {512: .930, 1024: .900, 2048: .853, 4096: .813, 8192: .767},
}
PAPER_SETTING = {"cmpe": "10", "fmpe": "1000"}  # the sampler settings the paper's figures show
LABELS = {"acf": "ACF", "nsf": "NSF", "fmpe": "FMPE", "cmpe": "CMPE"}
COLORS = {"acf": "tab:blue", "nsf": "tab:orange", "fmpe": "tab:green", "cmpe": "tab:red"}
# the reference-free scores of K a results file may hold (older files: the calibration error and classifier check)
CRITERIA = ("energy_score", "calibration_error", "joint_c2st", "combined")


def criteria_of(rows: list[dict]) -> list[str]:
    """The criteria of :data:`CRITERIA` that every CMPE run of ``rows`` scored for some of its Ks."""
    runs = defaultdict(set)
    for r in rows:
        if r["estimator"] == "cmpe":
            runs[(r["task"], r["budget"], r["seed"])] |= {c for c in CRITERIA if r.get(f"val_{c}") is not None}
    return [c for c in CRITERIA if runs and all(c in scored for scored in runs.values())]


def read_results(path: Path) -> list[dict]:
    """The CSV's rows with numbers parsed (empty cells stay ``None``)."""
    if not path.is_file():
        raise MissingFileError(f"No benchmark results at {path}; run `cmpe-benchmark run` first.")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "c2st" not in rows[0]:
        raise InputError(f"{path} has no c2st column; expected the results.csv written by `cmpe-benchmark run`.")
    for row in rows:
        for key, value in row.items():
            if key not in ("task", "estimator", "sampler", "solver", "config_hash", "peer"):
                row[key] = float(value) if value not in ("", None) else None
    return rows


def setting(row: dict) -> str:
    """A row's sampler setting in words: K or Euler steps, ``dopri5``, or ``""`` for a flow."""
    if row["solver"] == "dopri5":
        return "dopri5"
    return "" if row["estimator"] in ("acf", "nsf") else str(int(row["sampler_steps"]))


def mean_over_seeds(rows: list[dict], value: str = "c2st") -> dict[tuple, float]:
    """``(task, estimator, setting, budget) -> mean of value`` over seeds."""
    groups = defaultdict(list)
    for row in rows:
        groups[(row["task"], row["estimator"], setting(row), int(row["budget"]))].append(row[value])
    return {key: float(np.mean(values)) for key, values in groups.items()}


def step_choices(rows: list[dict]) -> list[dict]:
    """Per CMPE run (task, budget, seed): each criterion's K (argmin, ties to fewer steps), its reference C2ST,
    the best K's, and the rank correlation of the criterion with the reference C2ST over K."""
    runs = defaultdict(list)
    for row in rows:
        if row["estimator"] == "cmpe":
            runs[(row["task"], int(row["budget"]), int(row["seed"]))].append(row)
    choices = []
    for (task, budget, seed), group in sorted(runs.items()):
        group = sorted(group, key=lambda r: r["sampler_steps"])
        c2st = np.array([r["c2st"] for r in group])
        best = int(np.argmin(c2st))
        auto_k = group[0]["auto_num_steps"]
        entry = {"task": task, "budget": budget, "seed": seed, "best_k": int(group[best]["sampler_steps"]),
                 "best_c2st": float(c2st[best]), "auto_k": None if auto_k is None else int(auto_k)}
        by_k = {int(r["sampler_steps"]): float(r["c2st"]) for r in group}
        auto = by_k.get(int(entry["auto_k"]), float("nan")) if entry["auto_k"] is not None else float("nan")
        entry |= {"auto_gap": auto - float(c2st[best]), "auto_minus_k10": auto - by_k.get(10, float("nan"))}
        for criterion in criteria_of(group):  # over the Ks it scored (the choice may leave some out for time)
            scored = [i for i, r in enumerate(group) if r.get(f"val_{criterion}") is not None]
            values = np.array([group[i][f"val_{criterion}"] for i in scored])
            pick = scored[int(np.argmin(values))]
            entry[f"{criterion}_k"] = int(group[pick]["sampler_steps"])
            entry[f"{criterion}_gap"] = float(c2st[pick] - c2st[best])
            entry[f"{criterion}_spearman"] = spearman(values, c2st[scored])
        choices.append(entry)
    return choices


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    def ranks(v):
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        for value in np.unique(v):  # ties share their mean rank
            r[v == value] = r[v == value].mean()
        return r
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def figure_budget(rows: list[dict], path: Path) -> None:
    means = mean_over_seeds(rows)
    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for estimator in LABELS:
            wanted = PAPER_SETTING.get(estimator, "")
            points = sorted((b, v) for (t, e, s, b), v in means.items() if t == task and e == estimator and s == wanted)
            if points:
                label = LABELS[estimator] + (f" ({wanted} steps)" if wanted else "")
                ax.plot(*zip(*points), "o-", color=COLORS[estimator], label=label)
            paper = PAPER_C2ST.get((task, estimator))
            if paper:
                ax.plot(list(paper), list(paper.values()), "--", color=COLORS[estimator], alpha=0.5)
        ax.set(xscale="log", xlabel="simulation budget", ylabel="C2ST", title=f"{task} (dashed: paper)")
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def figure_speed(rows: list[dict], path: Path) -> None:
    c2st, speed = mean_over_seeds(rows), mean_over_seeds(rows, "ms_per_1000_draws")
    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        budget = max(b for (t, _, _, b) in c2st if t == task)
        for estimator in LABELS:
            keys = sorted((k for k in c2st if k[0] == task and k[1] == estimator and k[3] == budget),
                          key=lambda k: speed[k])
            if keys:
                ax.plot([speed[k] for k in keys], [c2st[k] for k in keys], "o-", color=COLORS[estimator],
                        label=LABELS[estimator])
                for k in keys:
                    if k[2]:
                        ax.annotate(k[2], (speed[k], c2st[k]), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set(xscale="log", xlabel="ms per 1000 draws", ylabel="C2ST", title=f"{task}, budget {budget}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def figure_steps(rows: list[dict], path: Path) -> None:
    means = mean_over_seeds(rows)
    tasks = sorted({r["task"] for r in rows})
    auto = {(r["task"], int(r["budget"])): r["auto_num_steps"] for r in rows if r["estimator"] == "cmpe"}
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        budgets = sorted({k[3] for k in means if k[0] == task and k[1] == "cmpe"})
        for i, budget in enumerate(budgets):
            points = sorted((int(k[2]), v) for k, v in means.items()
                            if k[0] == task and k[1] == "cmpe" and k[3] == budget)
            color = plt.cm.viridis(i / max(1, len(budgets) - 1))
            ax.plot(*zip(*points), "o-", color=color, label=f"budget {budget}")
            chosen = auto.get((task, budget))
            if chosen is not None and chosen in dict(points):
                ax.plot([chosen], [dict(points)[chosen]], "*", ms=14, color=color, markeredgecolor="k")
        ax.set(xscale="log", xlabel="CMPE sampling steps K", ylabel="C2ST", title=f"{task} (star: automatic K)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(rows: list[dict]) -> str:
    means, speed = mean_over_seeds(rows), mean_over_seeds(rows, "ms_per_1000_draws")
    evaluations = mean_over_seeds(rows, "network_evaluations")
    budgets = sorted({int(r["budget"]) for r in rows})
    seeds = sorted({int(r["seed"]) for r in rows})
    lines = [f"C2ST (mean over seeds {seeds}); in brackets the paper's figure where it has one.", "",
             "| task | method | " + " | ".join(map(str, budgets)) + " |", "|---|---|" + "---|" * len(budgets)]
    for task in sorted({r["task"] for r in rows}):
        for estimator in LABELS:
            for s in sorted({k[2] for k in means if k[0] == task and k[1] == estimator}, key=_setting_order):
                paper = PAPER_C2ST.get((task, estimator), {}) if s == PAPER_SETTING.get(estimator, "") else {}
                cells = [f"{means[(task, estimator, s, b)]:.3f}" + (f" ({paper[b]:.3f})" if b in paper else "")
                         if (task, estimator, s, b) in means else "" for b in budgets]
                lines.append(f"| {task} | {_method(estimator, s)} | " + " | ".join(cells) + " |")
    lines += ["", f"Sampling cost at budget {budgets[-1]}: ms per 1000 draws and network evaluations per draw.", "",
              "| task | method | C2ST | ms / 1000 draws | evaluations |", "|---|---|---|---|---|"]
    order = list(LABELS)
    for key in sorted((k for k in means if k[3] == budgets[-1]),
                      key=lambda k: (k[0], order.index(k[1]), _setting_order(k[2]))):
        lines.append(f"| {key[0]} | {_method(key[1], key[2])} | {means[key]:.3f} | {speed[key]:.1f}"
                     f" | {evaluations[key]:.0f} |")
    auto = {(r["task"], int(r["budget"])): r["auto_num_steps"] for r in rows if r["estimator"] == "cmpe"}
    lines += ["", "CMPE at K = 10 (the paper's) and at its automatically chosen K against FMPE with 1000 Euler steps:"
              " C2ST and the speed-up per draw (seed 0's choice of K).", "",
              "| task | budget | CMPE K = 10 | speed-up | automatic K | C2ST | speed-up | FMPE-1000 C2ST |",
              "|---|---|---|---|---|---|---|---|"]
    for task in sorted({r["task"] for r in rows}):
        for budget in budgets:
            fmpe, ten = (task, "fmpe", "1000", budget), (task, "cmpe", "10", budget)
            chosen = auto.get((task, budget))
            chosen = (task, "cmpe", str(int(chosen)), budget) if chosen is not None else None
            if fmpe in means and ten in means and chosen in means:
                lines.append(f"| {task} | {budget} | {means[ten]:.3f} | {speed[fmpe] / speed[ten]:.0f}× | {chosen[2]} |"
                             f" {means[chosen]:.3f} | {speed[fmpe] / speed[chosen]:.0f}× | {means[fmpe]:.3f} |")
    choices = step_choices(rows)
    criteria = criteria_of(rows)
    if choices:
        lines += ["", "Automatic K: each reference-free criterion's K (on validation simulations) against the K with"
                  " the best reference C2ST. gap: reference C2ST of the criterion's K minus the best; rho: Spearman"
                  " correlation of the criterion with the reference C2ST over K; automatic K: the K the fit chose, its"
                  " gap to the best and its C2ST minus K = 10's.", "",
                  "| task | budget | seed | best K (C2ST) | automatic K: K, gap, − K 10 |"
                  + "".join(f" {c}: K, gap, rho |" for c in criteria),
                  "|---|---|---|---|---|" + "---|" * len(criteria)]
        for c in choices:
            lines.append(f"| {c['task']} | {c['budget']} | {c['seed']} | {c['best_k']} ({c['best_c2st']:.3f}) | "
                         f"{c['auto_k']}, {_signed(c['auto_gap'])}, {_signed(c['auto_minus_k10'])} |" + "".join(
                f" {c[f'{n}_k']}, {c[f'{n}_gap']:+.3f}, {c[f'{n}_spearman']:.2f} |" for n in criteria))
        behind = np.array([c["auto_minus_k10"] for c in choices])
        if not np.isnan(behind).all():  # the automatic K and K = 10 both in the grid of Ks
            lines += ["", f"Automatic K worse than a fixed K = 10 by more than 0.01 in {int((behind > 0.01).sum())} of"
                      f" {int((~np.isnan(behind)).sum())} runs (largest difference {np.nanmax(behind):+.3f})."]
        lines += ["", "| criterion | runs within 0.02 of the best K | mean gap | mean rho |", "|---|---|---|---|"]
        for n in criteria:
            gaps = np.array([c[f"{n}_gap"] for c in choices])
            rhos = np.array([c[f"{n}_spearman"] for c in choices])
            lines.append(f"| {n} | {int((gaps <= 0.02).sum())} / {len(gaps)} | {gaps.mean():.3f}"
                         f" | {np.nanmean(rhos):.2f} |")
    return "\n".join(lines) + "\n"


def _signed(value: float) -> str:
    """A C2ST difference, or – where one of its Ks is not in the grid."""
    return "–" if math.isnan(value) else f"{value:+.3f}"


def _setting_order(s: str) -> tuple:
    return (s == "dopri5", int(s) if s.isdigit() else 0)


def _method(estimator: str, s: str) -> str:
    if not s:
        return LABELS[estimator]
    return f"{LABELS[estimator]} " + ("dopri5" if s == "dopri5" else f"{s} steps")


def suite_of(results: Path, rows: list[dict]) -> str:
    """``sbibm`` for the results of ``--suite sbibm`` (its ``metadata.json`` says so, or sbi's estimators are in it),
    else ``paper``."""
    meta = results.with_name("metadata.json")
    if meta.is_file():
        runs = json.loads(meta.read_text()).get("runs") or [{}]
        return runs[0].get("grid", {}).get("suite", "paper")
    return "sbibm" if any(r["estimator"].startswith("sbi_") for r in rows) else "paper"


def write_report(results: Path, output: Path | None = None) -> list[Path]:
    """Writes ``c2st_vs_budget.png``, ``c2st_vs_time.png``, ``c2st_vs_steps.png`` and ``results.md``;
    returns their paths."""
    rows = read_results(results)
    output = results.parent if output is None else output
    output.mkdir(parents=True, exist_ok=True)
    if suite_of(results, rows) == "sbibm":
        from .suite_report import write_suite_report

        paths = write_suite_report(rows, output)
        for path in paths:
            print(f"cmpe-benchmark report: wrote {path}")
        return paths
    paths = [output / "c2st_vs_budget.png", output / "c2st_vs_time.png", output / "c2st_vs_steps.png",
             output / "results.md"]
    figure_budget(rows, paths[0])
    figure_speed(rows, paths[1])
    if any(r["estimator"] == "cmpe" for r in rows):
        figure_steps(rows, paths[2])
    else:
        paths.remove(paths[2])
    paths[-1].write_text(markdown(rows))
    for path in paths:
        print(f"cmpe-benchmark report: wrote {path}")
    return paths
