"""How good is the automatic K? The reference C2ST of every K for trained CMPE checkpoints, beside the K chosen.

For each ``config:checkpoint`` pair, draws as many samples as the reference holds at the config's test
observations for every candidate K (the same noise for each K), scores them by C2ST (sbibm's definition) and
reports the chosen K's C2ST minus the best K's and minus K = 10's.

Usage (from the repository root):
    python benchmarks/k_choice.py --out docs/k_choice \\
        configs/two_moons/cmpe.yaml:runs/two_moons_cmpe/version_0/checkpoints/last.ckpt ...
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from cmpe_lightning import PosteriorEstimator
from cmpe_lightning.callbacks.step_selection import DEFAULT_CANDIDATES
from cmpe_lightning.cli import run_cli
from cmpe_lightning.metrics import c2st


def k_sweep(config: str, checkpoint: str, candidates=DEFAULT_CANDIDATES, observations: int | None = None,
            seed: int = 0, measured: dict | None = None, save=lambda row: None) -> dict:
    """Every candidate's C2ST; ``measured`` holds C2STs of an earlier, stopped sweep of the same run (kept)."""
    cli = run_cli(["--config", config, "--trainer.logger", "false"], run=False)
    data = cli.datamodule
    data.setup("test")
    test = {key: value[:observations] for key, value in data._datasets["test"].tensors.items()}
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = PosteriorEstimator.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    selection = saved.get("num_steps_selection", {})
    row = {"config": config, "checkpoint": checkpoint, "chosen_k": int(model.num_steps),
           "selection_scores": selection.get("scores"), "c2st": {int(k): v for k, v in (measured or {}).items()}}
    for k in (k for k in candidates if k not in row["c2st"]):
        start = time.perf_counter()
        draws = model.sample(test["x"], test["reference"].shape[1], torch.Generator().manual_seed(seed),
                             check_range=False, num_steps=k)
        row["c2st"][k] = sum(c2st(ref, d, n_jobs=-1) for ref, d in zip(test["reference"], draws)) / len(draws)
        print(f"{config} K = {k}: C2ST {row['c2st'][k]:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
        save(row)
    return finished(row)


def finished(row: dict) -> dict:
    """The row with the best measured K and the chosen K's gaps to it and to K = 10."""
    c2sts = {int(k): v for k, v in row["c2st"].items()}  # JSON keeps the Ks as strings
    best = min(c2sts, key=c2sts.get)
    chosen = c2sts.get(row["chosen_k"], float("nan"))
    return row | {"c2st": c2sts, "best_k": best, "gap_to_best": chosen - c2sts[best],
                  "gap_to_k10": chosen - c2sts.get(10, float("nan"))}


def table(rows: list[dict]) -> str:
    ks = sorted({int(k) for r in rows for k in r["c2st"]})  # every run's Ks (a reduced sweep: fewer columns)
    lines = ["| config | " + " | ".join(f"K {k}" for k in ks)
             + " | chosen K | best K | chosen − best | chosen − K 10 |",
             "|---|" + "---|" * (len(ks) + 4)]
    for r in rows:
        c = {int(k): v for k, v in r["c2st"].items()}
        lines.append(f"| {r['config']} | " + " | ".join(f"{c[k]:.3f}" if k in c else "–" for k in ks) +
                     f" | {r['chosen_k']} | {r['best_k']} | {r['gap_to_best']:+.3f} | {r['gap_to_k10']:+.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="config.yaml:checkpoint.ckpt pairs")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--candidates", type=int, nargs="+", default=list(DEFAULT_CANDIDATES))
    parser.add_argument("--observations", type=int, help="the first N test observations (default: all)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    saved = args.out / "k_choice.json"
    # A stopped sweep is resumed: the C2STs already in the output for the same config and checkpoint are kept.
    earlier = {(r["config"], r["checkpoint"]): r for r in json.loads(saved.read_text())} if saved.exists() else {}
    rows: list[dict] = []

    def save(row: dict) -> None:  # after every K, so that a stopped sweep keeps what it measured
        current = {(r["config"], r["checkpoint"]): r for r in [*rows, row]}
        done = [finished(r) for r in ({**earlier, **current}).values()]  # other runs of the output stay
        saved.write_text(json.dumps(done, indent=1))
        (args.out / "k_choice.md").write_text(table(done) + "\n")

    for run in args.runs:
        config, checkpoint = run.split(":", 1)
        rows.append(k_sweep(config, checkpoint, args.candidates, args.observations,
                            measured=earlier.get((config, checkpoint), {}).get("c2st"), save=save))
        save(rows[-1])
    print(table(rows))


if __name__ == "__main__":
    main()
