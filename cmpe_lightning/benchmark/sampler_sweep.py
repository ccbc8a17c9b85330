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

from ..cli import run_cli, set_sampler_options


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the estimator's YAML config")
    parser.add_argument("--ckpt_path", required=True, help="the trained checkpoint")
    parser.add_argument("--sampler", action="append", type=yaml.safe_load, default=None,
                        help="sampler options as a YAML dict; repeat for several settings (default: the config's)")
    args, cli_overrides = parser.parse_known_args(argv)
    cli = run_cli(["--config", args.config, "--trainer.enable_progress_bar", "false", *cli_overrides], run=False)
    rows = []
    for options in args.sampler or [{}]:
        if not isinstance(options, dict):
            raise ValueError(f"--sampler must be a YAML dict such as '{{num_steps: 10}}', got {options!r}.")
        set_sampler_options(cli.model, options)
        metrics = cli.trainer.test(cli.model, datamodule=cli.datamodule, ckpt_path=args.ckpt_path, verbose=False)[0]
        rows.append({"sampler": options, **{k.removeprefix("test/"): float(v) for k, v in metrics.items()}})
        print(f"{options}: {rows[-1]}", flush=True)
    keys = [k for k in rows[0] if k != "sampler"]
    print("| sampler | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for row in rows:
        print(f"| {row['sampler']} | " + " | ".join(f"{row[k]:.4g}" for k in keys) + " |")
    return rows


if __name__ == "__main__":
    main()
