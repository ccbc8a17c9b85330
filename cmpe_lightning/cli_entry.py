"""The ``cmpe`` command's entry point: ``cmpe --help`` (and ``cmpe`` alone) answer at once, without loading PyTorch or
Lightning (about 5 s); everything else runs :func:`cmpe_lightning.cli.main`.

The subcommands and the top-level options listed here are those of :class:`~cmpe_lightning.cli.CMPECLI`'s parser
(a test compares them); each subcommand's own ``--help`` comes from that parser.
"""

from __future__ import annotations

import sys

SUBCOMMANDS = {
    "fit": "Train an estimator: cmpe fit --config configs/two_moons/cmpe.yaml",
    "validate": "Compute the validation loss of a checkpoint (--ckpt_path) or of a config's untrained network.",
    "test": "Evaluate a trained checkpoint: cmpe test --ckpt_path runs/<name>/version_0/checkpoints/last.ckpt",
    "predict": "Draw posterior samples for observations: cmpe predict --ckpt_path CKPT --observations obs.npy",
}
# commands of this package beside the LightningCLI's subcommands
OWN_COMMANDS = {
    "choose-steps": "Choose CMPE's number of sampling steps K on a checkpoint: cmpe choose-steps --ckpt_path CKPT",
}
HELP = f"""usage: cmpe [-h] [-c CONFIG] [--print_config[=flags]] [--debug] {{{",".join(SUBCOMMANDS)}}} ...

Amortized simulation-based inference: train a neural posterior estimator (consistency model, flow matching,
coupling flow, neural spline flow) on simulations, then draw posterior samples for any observation.

options:
  -h, --help            Show this help message and exit.
  -c CONFIG, --config CONFIG
                        Path to a configuration file in json or yaml format.
  --print_config[=flags]
                        Print the configuration after applying all other arguments and exit. The optional flags,
                        keywords separated by commas, customize the output: skip_default, skip_unset.
  --debug               Show the full traceback of an error (also: CMPE_DEBUG=1).

subcommands:
{chr(10).join(f"  {name:<13}{text}" for name, text in (SUBCOMMANDS | OWN_COMMANDS).items())}

Each subcommand lists its options with --help, for example: cmpe fit --help
"""


def main(args: list[str] | None = None) -> None:
    """Entry point of ``cmpe`` and ``python -m cmpe_lightning``."""
    args = list(sys.argv[1:] if args is None else args)
    asked = [arg for arg in args if arg != "--debug"]
    if asked in (["-h"], ["--help"]):
        print(HELP, end="")
        return
    if not asked:
        print(f"{HELP}\ncmpe: error: name a subcommand: {', '.join(SUBCOMMANDS)}.", file=sys.stderr)
        sys.exit(2)
    if asked[:1] == ["choose-steps"]:
        from .choose_steps import main as choose

        choose(args[1:])
        return
    from .cli import main as run  # loads PyTorch and Lightning

    run(args)
