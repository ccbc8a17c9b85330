"""``cmpe choose-steps``: CMPE's choice of K on a trained checkpoint, after the fit (or in place of an interrupted one).

Usage::

    cmpe choose-steps --ckpt_path runs/two_moons_cmpe/version_0/checkpoints/last.ckpt
    cmpe choose-steps --ckpt_path last.ckpt --config configs/two_moons/cmpe.yaml --candidates 2 5 10 20

The validation simulations come from the config (by default the one saved with the checkpoint's run); the
choice and every candidate's scores are written into the checkpoint (see
:class:`~cmpe_lightning.callbacks.SamplingStepSelection`), unless ``--dry_run``.
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
from pathlib import Path

import torch
import yaml

from .callbacks.checkpoint_files import rewrite_checkpoint
from .callbacks.step_selection import (
    DEFAULT_CANDIDATES,
    SamplingStepSelection,
    record_choice,
    select_num_steps,
    validation_pairs,
)
from .cli_messages import UsageError, run_for_people

BUILD_KEYS = ("seed_everything", "model", "data", "trainer", "optimizer", "lr_scheduler")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cmpe choose-steps", description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt_path", required=True, help="a CMPE checkpoint (cmpe fit's last.ckpt)")
    p.add_argument("--config", help="the config it was trained with (default: config.yaml of its run folder)")
    # the next four default to the config's SamplingStepSelection settings, then to the callback's defaults
    p.add_argument("--candidates", type=int, nargs="+", help=f"values of K to try (default {list(DEFAULT_CANDIDATES)})")
    p.add_argument("--num_observations", type=int, help="validation simulations scored (default 1024)")
    p.add_argument("--num_samples", type=int, help="draws per simulation (default 50)")
    p.add_argument("--significance", type=float, help="standard errors a difference must exceed (default 2)")
    p.add_argument("--max_seconds", type=float, default=math.inf, help="leave out candidates that would not finish")
    p.add_argument("--seed", type=int, help="seed of the draws (default 0)")
    p.add_argument("--accelerator", default="cpu", help="cpu or cuda")
    p.add_argument("--dry_run", action="store_true", help="print the choice without writing it into the checkpoint")
    return p


def choose_steps(args: list[str]) -> int:
    """Runs ``cmpe choose-steps`` on ``args``; returns the chosen K."""
    from .cli import run_cli
    from .estimators import PosteriorEstimator
    from .estimators.checkpoints import read_checkpoint

    options = parser().parse_args(args)
    checkpoint = Path(options.ckpt_path)
    if not checkpoint.is_file():
        raise UsageError(f"--ckpt_path {str(checkpoint)!r}: no such checkpoint file.")
    config = Path(options.config) if options.config else checkpoint.parent.parent / "config.yaml"
    if not config.is_file():
        raise UsageError(f"cmpe choose-steps needs the config the checkpoint was trained with: {config} does not exist;"
                         " give it with --config FILE.")
    saved = read_checkpoint(str(checkpoint))
    if "num_steps" not in saved.get("hyper_parameters", {}):
        raise UsageError(f"{checkpoint} is not a CMPE checkpoint: only the consistency model has a number of steps K.")
    device = torch.device("cuda" if options.accelerator in ("gpu", "cuda") else options.accelerator)
    # a fit's saved config also holds the fit command's own options (ckpt_path, weights_only): leave them out
    settings = {k: v for k, v in (yaml.safe_load(config.read_text()) or {}).items() if k in BUILD_KEYS}
    fill_from_config(options, settings)
    cli = run_cli(["--config", yaml.safe_dump(settings), "--trainer.logger", "false", "--trainer.accelerator", "cpu"],
                  run=False)
    model = PosteriorEstimator.load_from_checkpoint(checkpoint, map_location=device).eval()
    default = int(saved.get("num_steps_selection", {}).get("default", model.num_steps))
    datamodule = cli.datamodule
    datamodule.setup("validate")
    theta, x = validation_pairs(datamodule.val_dataloader(), options.num_observations, device)
    print(f"Choosing K from {sorted({default, *options.candidates})} on {len(theta)} validation simulations"
          f" (Ctrl-C stops; the checkpoint is only written at the end) ...")
    choice = select_num_steps(model, theta, x, options.candidates, default, options.num_samples, options.significance,
                              options.max_seconds, options.seed)
    print(f"Scores of K (lower is better; {choice.seconds:.0f} s):\n{choice.table()}\n"
          f"Chose K = {choice.num_steps}", end="")
    if options.dry_run:
        print(" (--dry_run: the checkpoint is unchanged).")
    else:
        rewrite_checkpoint(checkpoint, lambda c: record_choice(c, choice))
        print(f"; written into {checkpoint}.")
    return choice.num_steps


def fill_from_config(options: argparse.Namespace, settings: dict) -> None:
    """Options not given take the config's ``SamplingStepSelection`` settings, then the callback's defaults, so
    that the choice after training is the one the fit would have made (an image config scores fewer pairs)."""
    configured = {}
    for callback in (settings.get("trainer") or {}).get("callbacks") or []:
        if isinstance(callback, dict) and str(callback.get("class_path", "")).endswith("SamplingStepSelection"):
            configured = callback.get("init_args") or {}
    callback_defaults = inspect.signature(SamplingStepSelection).parameters  # the defaults live once, there
    for name in ("candidates", "num_observations", "num_samples", "significance", "seed"):
        if getattr(options, name) is None:
            value = configured.get(name, callback_defaults[name].default)
            setattr(options, name, list(value) if isinstance(value, (list, tuple)) else value)


def main(args: list[str]) -> None:
    """``cmpe choose-steps ARGS``: a mistake prints one paragraph; Ctrl-C leaves the checkpoint as it was."""
    try:
        run_for_people("cmpe choose-steps", choose_steps, args)
    except KeyboardInterrupt:
        print("\ncmpe choose-steps: interrupted; the checkpoint is unchanged.", file=sys.stderr)
        sys.exit(130)
