"""Variants of the default recipe on one sbibm task and budget, side by side: the evidence for changing the recipe.

Each variant is CLI overrides added to the suite's arguments (the estimator's class and the sbibm task, nothing
else), trained and tested as the harness's ``sbibm_quick`` cell would be (same simulations, same test set, C2ST with
sbibm's definition), and printed as a table; ``--out`` appends JSON lines. Needs the ``[sbibm]`` extra. Run from the
repository root::

    python -m benchmarks.sbibm_recipe --task slcp --budget 1000 \\
        --variant default= --variant dropout0="--model.init_args.backbone.init_args.dropout 0"
    python -m benchmarks.sbibm_recipe --task gaussian_linear_uniform --budget 10000 --other-steps 1 3 10 \\
        --variant default=      # CMPE: the same weights also sampled with K = 1, 3 and 10
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
import time

from cmpe_lightning.benchmark.harness import PRESETS, cell_overrides
from cmpe_lightning.benchmark.sbibm_suite import task_arguments
from cmpe_lightning.callbacks import DiagnosticPlots, PosteriorMetrics, PosteriorPlot
from cmpe_lightning.cli import run_cli
from cmpe_lightning.metrics import C2ST


def score(task: str, estimator: str, budget: int, seed: int, variant: list[str], preset_name: str,
          other_steps: tuple[int, ...] = ()) -> dict:
    """Fits and tests one variant; its C2ST, K and fit time, and CMPE's C2ST at each K of ``other_steps`` too."""
    preset = PRESETS[preset_name]
    cell = {"task": task, "estimator": estimator, "budget": budget, "seed": seed}
    arguments = [*task_arguments(task, estimator), *cell_overrides(cell, preset, None, None), *variant]
    quiet = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
    with tempfile.TemporaryDirectory() as folder:
        logging = ["--trainer.logger.init_args.save_dir", folder, "--trainer.logger.init_args.version", "fit"]
        cli = run_cli([*arguments, *quiet, *logging], run=False)
        for callback in cli.trainer.callbacks:
            if isinstance(callback, PosteriorMetrics):  # the fit without diagnostics, the test with C2ST alone
                callback.validation_interval, callback.metrics = 0, [C2ST(n_jobs=-1)]
        pictures = (PosteriorPlot, DiagnosticPlots)  # cost time, say nothing the table does not
        cli.trainer.callbacks[:] = [c for c in cli.trainer.callbacks if not isinstance(c, pictures)]
        start = time.perf_counter()
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        seconds = time.perf_counter() - start
        metrics = cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)[0]
        by_steps = {}
        for steps in other_steps:  # the same weights sampled with another K
            cli.model.configure_sampling("test", options={"num_steps": steps})
            tested = cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)[0]
            by_steps[steps] = round(tested["test/c2st"], 4)
    return {"task": task, "estimator": estimator, "budget": budget, "seed": seed,
            "c2st": round(metrics["test/c2st"], 4), "num_steps": getattr(cli.model, "num_steps", None),
            "train_steps": cli.trainer.global_step,
            "fit_seconds": round(seconds, 1), **({"c2st_by_steps": by_steps} if by_steps else {})}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True)
    parser.add_argument("--estimator", default="cmpe")
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--preset", default="sbibm_quick", help="the protocol of the test (observations, draws)")
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=OVERRIDES",
                        help="a name and the CLI overrides it adds (empty: the default recipe); repeat")
    parser.add_argument("--other-steps", type=int, nargs="*", default=[],
                        help="CMPE: also test the same weights with these numbers of sampling steps K")
    parser.add_argument("--out", help="append the results as JSON lines to this file")
    args = parser.parse_args(argv)
    rows = []
    for seed in args.seeds:
        for variant in args.variant:
            name, _, overrides = variant.partition("=")
            row = {"variant": name, "overrides": overrides,
                   **score(args.task, args.estimator, args.budget, seed, shlex.split(overrides), args.preset,
                                 tuple(args.other_steps))}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a") as file:
                    file.write(json.dumps(row) + "\n")
    print("\n| variant | seed | C2ST | K | steps | fit s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['seed']} | {r['c2st']:.3f} | {r['num_steps']} | {r['train_steps']} |"
              f" {r['fit_seconds']} |")


if __name__ == "__main__":
    main()
