"""The ``cmpe-simulate`` command: builds (or resumes) a simulation bank with :func:`~.writer.build_bank`.

Example:
    .. code-block:: bash

        cmpe-simulate --simulator cmpe_lightning.TwoMoons --num 10000 --workers 8 --out banks/two_moons
        # one SLURM array task per 10 shards of a costly simulator, with its arguments in a YAML file
        cmpe-simulate --config tumor.yaml --shards $((10 * SLURM_ARRAY_TASK_ID)):$((10 * SLURM_ARRAY_TASK_ID + 10))
        # simulations made elsewhere: theta and outputs, one row per run (see cmpe-simulate import --help)
        cmpe-simulate import theta.csv x.csv --out banks/mine
"""

from __future__ import annotations

import argparse
import sys

from jsonargparse import ActionConfigFile, ArgumentParser

from ..simulators.base import Simulator
from ..utils.errors import InputError
from ..utils.imports import add_working_folder
from .format import num_shards
from .importer import import_bank, read_arrays
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
    args = sys.argv[1:] if args is None else args
    if args[:1] == ["import"]:
        return import_main(args[1:])
    add_working_folder()  # --simulator my_model.MySimulator finds ./my_model.py
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
        parser.error(str(error))  # exit code 2, as every other mistake in how the command was called
    print(f"cmpe-simulate: {summary}")


def import_main(args: list[str]) -> None:
    """``cmpe-simulate import``: a bank from arrays simulated elsewhere (:func:`~.importer.import_bank`)."""
    parser = argparse.ArgumentParser(
        prog="cmpe-simulate import",
        description="Turns simulations made elsewhere into a simulation bank: parameters and outputs, one row per"
        " run, from .npz, .npy, .pt or .csv files. Arrays are named by their key in an .npz or .pt dict, or else"
        " by the file's stem (theta.csv holds 'theta'). Runs with NaN or inf outputs are kept as failed runs"
        " (ok=False); NaN in theta or rows of different lengths are errors.",
        epilog="Examples: cmpe-simulate import sims.npz --out banks/mine  |  cmpe-simulate import theta.csv x.csv"
        " --out banks/mine  |  cmpe-simulate import sims.npz --theta params --outputs curve profile --out banks/mine",
    )
    parser.add_argument("files", nargs="+", help="Files holding theta and the outputs.")
    parser.add_argument("--out", required=True, help="The new bank's folder (must not exist or be empty).")
    parser.add_argument("--theta", default="theta", help="The name of the parameter array (default: theta).")
    parser.add_argument("--outputs", nargs="+", default=None, help="The output arrays (default: all but theta).")
    parser.add_argument("--shard-size", type=int, default=500, help="Runs per shard file.")
    config = parser.parse_args(args)
    try:
        arrays: dict = {}
        for path in config.files:
            for name, array in read_arrays(path).items():
                if name in arrays:
                    raise InputError(f"Two files hold an array named {name!r}; the second is {path!r}.")
                arrays[name] = array
        if config.theta not in arrays:
            raise InputError(f"No array named {config.theta!r} for theta among {sorted(arrays)}; name it with --theta.")
        names = config.outputs or [name for name in arrays if name != config.theta]
        if missing := [name for name in names if name not in arrays]:
            raise InputError(f"No output array(s) {missing} among {sorted(arrays)}.")
        summary = import_bank(arrays[config.theta], {name: arrays[name] for name in names}, config.out,
                              config.shard_size, source={"files": [str(f) for f in config.files]})
    except (OSError, ValueError) as error:
        parser.error(str(error))
    print(f"cmpe-simulate import: {summary.runs} runs ({summary.failed} with NaN or inf outputs, kept as failed) into"
          f" {summary.shards_written} shard file(s) in {summary.folder}")


if __name__ == "__main__":
    main()
