"""C2ST and sampling speed of one trained estimator under several sampler settings.

The test set and its reference posterior samples are built once and shared by every setting (the
inverse-kinematics reference alone takes minutes), and each setting is timed as ``cmpe test`` times it.

Usage:
    python -m cmpe_lightning.benchmark.sampler_sweep --config configs/gmm/fmpe.yaml --ckpt_path CKPT \\
        --sampler '{num_steps: 10}' --sampler '{num_steps: 30}' --sampler '{solver: dopri5}'

Any further ``--key value`` pairs are passed to the CLI (for example ``--trainer.accelerator cpu``).
"""

from __future__ import annotations

import argparse

import yaml

from ..cli import run_cli, use_sampler
from ..utils.errors import InputError


def sweep(cli, ckpt_path: str, samplers: list[dict], on_row=None) -> list[dict]:
    """Tests the checkpoint once per sampler setting on the CLI's (shared) test set: one row of metrics each.

    ``cli`` is built with ``run_cli(..., run=False)``; ``on_row(row)`` is called after each setting.
    """
    rows = []
    for options in samplers:
        if not isinstance(options, dict):
            raise InputError(f"A sampler setting must be a dict such as {{'num_steps': 10}}, got {options!r}.")
        use_sampler(cli.model, options)
        metrics = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path, verbose=False)[0]
        rows.append({"sampler": options, **{k.removeprefix("test/"): float(v) for k, v in metrics.items()}})
        if on_row is not None:
            on_row(rows[-1])
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the estimator's YAML config")
    parser.add_argument("--ckpt_path", required=True, help="the trained checkpoint")
    parser.add_argument("--sampler", action="append", type=yaml.safe_load, default=None,
                        help="sampler options as a YAML dict; repeat for several settings (default: the config's)")
    args, cli_overrides = parser.parse_known_args(argv)
    cli = run_cli(["--config", args.config, "--trainer.enable_progress_bar", "false", *cli_overrides], run=False)
    rows = sweep(cli, args.ckpt_path, args.sampler or [{}], on_row=lambda row: print(f"{row}", flush=True))
    keys = [k for k in rows[0] if k != "sampler"]
    print("| sampler | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for row in rows:
        print(f"| {row['sampler']} | " + " | ".join(f"{row[k]:.4g}" for k in keys) + " |")
    return rows


if __name__ == "__main__":
    main()
