"""The ``cmpe-simulate`` command: builds (or resumes) a simulation bank with :func:`~.writer.build_bank`.

Example:
    .. code-block:: bash

        cmpe-simulate --simulator cmpe_lightning.TwoMoons --num 10000 --workers 8 --out banks/two_moons
        # one SLURM array task per 10 shards of a costly simulator, with its arguments in a YAML file
        cmpe-simulate --config tumor.yaml --shards $((10 * SLURM_ARRAY_TASK_ID)):$((10 * SLURM_ARRAY_TASK_ID + 10))
"""

from __future__ import annotations

import sys

from jsonargparse import ActionConfigFile, ArgumentParser

from ..simulators.base import Simulator
from .format import num_shards
from .writer import BankMismatchError, build_bank, check_settings, parse_shard_range


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="cmpe-simulate",
        description="Draws parameters from a simulator's prior and simulates them in parallel processes into a"
        " sharded simulation bank (bank.json and shard_NNNNNN.npz files). Shards already on disk are kept, so"
        " rerunning the same command resumes a killed build.",
    )
    parser.add_argument("--config", action=ActionConfigFile, help="A YAML file with any of these options.")
    parser.add_subclass_arguments(Simulator, "simulator", required=True)
    parser.add_argument("--num", type=int, required=True, help="Runs in the whole bank.")
    parser.add_argument("--shard-size", type=int, default=500, help="Runs per shard file.")
    parser.add_argument("--workers", type=int, default=1, help="Parallel simulation processes (1: no subprocess).")
    parser.add_argument("--out", type=str, required=True, help="The bank folder (created, or resumed if it exists).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the parameters and of every run.")
    parser.add_argument("--shards", type=str, default=None,
                        help="Build only shards START:STOP (STOP excluded; either may be left out), e.g. for one"
                        " task of a SLURM job array. Default: all.")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    return parser


def main(args: list[str] | None = None) -> None:
    """Entry point of ``cmpe-simulate``; ``args`` default to the command line."""
    parser = build_parser()
    config = parser.parse_args(args)
    try:
        check_settings(config.num, config.shard_size, config.workers, config.seed)
        shards = parse_shard_range(config.shards, num_shards({"num": config.num, "shard_size": config.shard_size}))
    except ValueError as error:
        name, _, rest = str(error).partition(" must ")  # name the option as the user typed it
        known = name in ("num", "shard_size", "workers", "seed")
        parser.error(f"--{name.replace('_', '-')} must {rest}" if known else f"--shards: {error}")
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # renamed in jsonargparse 4.49
    simulator = instantiate(config).simulator
    try:
        summary = build_bank(
            simulator, config.out, config.num, config.shard_size, config.seed, config.workers, shards,
            progress=not config.no_progress, simulator_config=config.simulator.as_dict(),
        )
    except BankMismatchError as error:
        sys.exit(f"cmpe-simulate: error: {error}")
    print(f"cmpe-simulate: {summary}")


if __name__ == "__main__":
    main()
