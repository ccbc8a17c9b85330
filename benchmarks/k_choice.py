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


def k_sweep(config: str, checkpoint: str, candidates=DEFAULT_CANDIDATES, seed: int = 0) -> dict:
    cli = run_cli(["--config", config, "--trainer.logger", "false"], run=False)
    data = cli.datamodule
    data.setup("test")
    test = data._datasets["test"].tensors
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = PosteriorEstimator.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    selection = saved.get("num_steps_selection", {})
    row = {"config": config, "checkpoint": checkpoint, "chosen_k": int(model.num_steps),
           "selection_scores": selection.get("scores"), "c2st": {}}
    for k in candidates:
        start = time.perf_counter()
        draws = model.sample(test["x"], test["reference"].shape[1], torch.Generator().manual_seed(seed),
                             check_range=False, num_steps=k)
        row["c2st"][k] = sum(c2st(ref, d, n_jobs=-1) for ref, d in zip(test["reference"], draws)) / len(draws)
        print(f"{config} K = {k}: C2ST {row['c2st'][k]:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    best = min(row["c2st"], key=row["c2st"].get)
    row |= {"best_k": best, "gap_to_best": row["c2st"][row["chosen_k"]] - row["c2st"][best],
            "gap_to_k10": row["c2st"][row["chosen_k"]] - row["c2st"][10]}
    return row


def table(rows: list[dict]) -> str:
    ks = sorted({int(k) for r in rows for k in r["c2st"]})
    lines = ["| config | " + " | ".join(f"K {k}" for k in ks) + " | chosen K | best K | chosen − best | chosen − K 10 |",
             "|---|" + "---|" * (len(ks) + 4)]
    for r in rows:
        c = {int(k): v for k, v in r["c2st"].items()}
        lines.append(f"| {r['config']} | " + " | ".join(f"{c[k]:.3f}" for k in ks) +
                     f" | {r['chosen_k']} | {r['best_k']} | {r['gap_to_best']:+.3f} | {r['gap_to_k10']:+.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="config.yaml:checkpoint.ckpt pairs")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [k_sweep(*run.split(":", 1)) for run in args.runs]
    (args.out / "k_choice.json").write_text(json.dumps(rows, indent=1))
    (args.out / "k_choice.md").write_text(table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
