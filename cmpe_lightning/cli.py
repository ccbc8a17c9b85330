"""The ``cmpe`` command: a LightningCLI with fit, validate, test and predict."""

from __future__ import annotations

import inspect
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from .callbacks import PosteriorMetrics, PosteriorSampleWriter
from .estimators import PosteriorEstimator
from .utils.imports import add_working_folder


class SaveFitConfig(SaveConfigCallback):
    """Saves the resolved config next to the logs of ``fit`` only, so test and predict never touch a file."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            super().setup(trainer, pl_module, stage)


class CMPECLI(LightningCLI):
    """LightningCLI that links the DataModule's shapes into the estimator and adds inference options.

    The DataModule's ``theta_shape`` and ``x_shape`` become the estimator's; a config without a
    :class:`~cmpe_lightning.callbacks.PosteriorMetrics` callback gets one with the default metrics.

    Extra arguments:
        ``--sampler``: keyword arguments of the estimator's ``sample`` used by test and predict, for
            example ``--sampler '{num_steps: 30}'``.
        ``--predictions.path``, ``--predictions.num_samples``, ``--predictions.overwrite``: see
            :class:`~cmpe_lightning.callbacks.PosteriorSampleWriter`.
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.theta_shape", "model.init_args.theta_shape", apply_on="instantiate")
        parser.link_arguments("data.x_shape", "model.init_args.x_shape", apply_on="instantiate")
        parser.add_argument(
            "--sampler", type=dict[str, Any], default={},
            help="Keyword arguments of the estimator's sample() for test and predict, e.g. '{num_steps: 30}'.",
        )
        parser.add_lightning_class_args(PosteriorSampleWriter, "predictions")

    def after_instantiate_classes(self) -> None:
        set_sampler_options(self.model, dict(self._get(self.config, "sampler") or {}))
        if not any(isinstance(callback, PosteriorMetrics) for callback in self.trainer.callbacks):
            self.trainer.callbacks.append(PosteriorMetrics())


def set_sampler_options(model: PosteriorEstimator, options: dict[str, Any]) -> None:
    """Makes ``options`` the keyword arguments of ``model.sample`` in test and predict, after checking their names."""
    accepted = {*inspect.signature(model.standardized_sample).parameters, "max_batch_size"} - {"context", "generator"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        known = sorted(accepted)
        raise ValueError(f"Unknown sampler option(s) {unknown} for {type(model).__name__}; expected some of {known}.")
    model.sampler_options = dict(options)


def run_cli(args: list[str] | None = None, run: bool = True) -> CMPECLI:
    """Runs the CLI on ``args`` (default: the command line) and returns it, for inspection in tests.

    With ``run=False`` there is no subcommand: the CLI only builds the trainer, model and DataModule.
    """
    add_working_folder()  # class_path: my_model.MySimulator finds ./my_model.py
    return CMPECLI(
        PosteriorEstimator,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=SaveFitConfig,
        args=args,
        run=run,
    )


def main(args: list[str] | None = None) -> None:
    """Entry point of ``cmpe`` and ``python -m cmpe_lightning``."""
    run_cli(args)


if __name__ == "__main__":
    main()
