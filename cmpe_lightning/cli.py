"""The ``cmpe`` command: a LightningCLI with fit, validate, test and predict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import yaml
from lightning.pytorch.cli import LightningArgumentParser, SaveConfigCallback

from .callbacks import PosteriorSampleWriter
from .cli_checks import check_command
from .cli_messages import ProjectHelpFormatter, UsageError, run_for_people
from .compat import HookedLightningCLI, config_value
from .estimators import PosteriorEstimator
from .estimators.checkpoints import read_checkpoint
from .recipe import TRAINER_DEFAULTS, complete_callbacks, default_callbacks
from .utils.imports import add_working_folder
from .utils.structure import normalize_shape

INFERENCE = ("validate", "test", "predict")  # subcommands that run a trained checkpoint


class SaveFitConfig(SaveConfigCallback):
    """Saves the resolved config next to the logs of ``fit`` only, so test and predict never touch a file; a
    resumed fit keeps the config its run started with."""

    def __init__(self, *args: Any, resuming: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.resuming = resuming

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        kept = self.resuming and (Path(trainer.log_dir or ".") / self.config_filename).is_file()
        if stage == "fit" and not kept:
            super().setup(trainer, pl_module, stage)


class ProjectArgumentParser(LightningArgumentParser):
    """Lightning's parser with :class:`ProjectHelpFormatter`; jsonargparse builds the parsers of ``--model.help``
    and friends as the same class, so they inherit it."""

    def __init__(self, *args: Any, formatter_class: type = ProjectHelpFormatter, **kwargs: Any):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


class CMPECLI(HookedLightningCLI):
    """LightningCLI that links the DataModule's shapes into the estimator and adds inference options.

    The DataModule's ``theta_shape`` and ``x_shape`` become the estimator's; a config without a
    :class:`~cmpe_lightning.callbacks.PosteriorMetrics` callback gets one with the default metrics. A
    checkpoint given to test or predict must come from the config's task (same shapes), or the command
    says so; ``--model.*`` options there set sampler options (``num_steps``) or are refused, since the
    trained network cannot change. ``fit`` ends by printing the checkpoint and how to use it.

    Extra arguments of test and predict:
        ``--sampler``: keyword arguments of the estimator's ``sample``, for example ``--sampler '{num_steps: 30}'``.
        ``--predictions.path``, ``--predictions.num_samples``, ``--predictions.overwrite``: see
            :class:`~cmpe_lightning.callbacks.PosteriorSampleWriter`.
    """

    def __init__(self, *args, model_overrides: dict[str, str] | None = None, **kwargs):
        self.model_overrides = model_overrides or {}
        super().__init__(*args, **kwargs)

    # ----------------------------------------------------------------------------------------- the parser
    def add_core_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # the estimator and the data first: --help lists them before the Trainer's many flags
        parser.add_lightning_class_args(self._model_class, "model", subclass_mode=self.subclass_mode_model)
        parser.add_lightning_class_args(self._datamodule_class, "data", subclass_mode=self.subclass_mode_data)
        parser.add_lightning_class_args(self.trainer_class, "trainer")
        parser.set_defaults({"trainer." + k: v for k, v in self.trainer_defaults.items() if k != "callbacks"})

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.theta_shape", "model.init_args.theta_shape", apply_on="instantiate")
        parser.link_arguments("data.x_shape", "model.init_args.x_shape", apply_on="instantiate")
        if self.building_subcommand in (None, *INFERENCE):  # fit's parser leaves out the inference options
            parser.add_argument(
                "--sampler", type=dict[str, Any], default={},
                help="Keyword arguments of the estimator's sample() for test and predict, e.g. '{num_steps: 30}'.",
            )
        if self.building_subcommand in (None, "predict"):
            parser.add_lightning_class_args(PosteriorSampleWriter, "predictions")

    # ---------------------------------------------------------------------------------------- checkpoints
    def before_checkpoint_hyperparameters(self) -> None:
        """Checks ``--ckpt_path`` and the command before the checkpoint's hyperparameters replace the model's."""
        subcommand = self.config.get("subcommand")
        path = self.config[subcommand].get("ckpt_path") if subcommand else None
        self.checkpoint_hparams = None
        if subcommand in INFERENCE and path:
            if not Path(path).is_file():
                raise UsageError(f"--ckpt_path {path!r}: no such checkpoint file.")
            self.checkpoint_hparams = read_checkpoint(path).get("hyper_parameters", {})
        if subcommand:
            check_command(subcommand, self.config[subcommand], self.checkpoint_hparams)

    def before_instantiate_classes(self) -> None:
        """Test and predict log into one folder per checkpoint and command (``<run>/test``), not a new version_N;
        a resumed fit goes on in the run folder of its checkpoint."""
        subcommand = self.config.get("subcommand")
        self.output_folder = None
        logger = self.config[subcommand].trainer.get("logger") if subcommand else None
        init_args = getattr(logger, "init_args", None)
        if init_args is None or not {"save_dir", "version"} <= set(vars(init_args)):
            init_args = None
        if subcommand == "fit" and self.config.fit.get("ckpt_path"):
            self.config.fit.ckpt_path = resume_checkpoint(self.config.fit.ckpt_path, init_args)
            self.save_config_kwargs = {**self.save_config_kwargs, "resuming": True}
            return
        if subcommand not in INFERENCE or not self.config[subcommand].get("ckpt_path") or init_args is None:
            return
        checkpoint = Path(self.config[subcommand].ckpt_path)
        run = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
        name = subcommand if checkpoint.parent.name == "checkpoints" else f"{checkpoint.stem}_{subcommand}"
        init_args.save_dir, init_args.version = str(run), name
        if "name" in vars(init_args):
            init_args.name = ""
        self.output_folder = run / name

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        """The trainer, its configured callbacks completed by the default recipe's (:mod:`cmpe_lightning.recipe`)."""
        config = config_value(self, self.config_init, "trainer", default={})
        configured = config.get("callbacks") or []
        configured = configured if isinstance(configured, list) else [configured]
        defaults = default_callbacks(self.model, self.datamodule.theta_shape, fit=self.subcommand in (None, "fit"),
                                     checkpoints=config.get("enable_checkpointing") is not False)
        return super().instantiate_trainer(**{"callbacks": complete_callbacks(configured, defaults), **kwargs})

    def after_test(self) -> None:
        self._announce("metrics, diagnostic plots and TensorBoard logs")

    def after_predict(self) -> None:
        self._announce("TensorBoard logs")

    def _announce(self, what: str) -> None:
        if self.trainer.is_global_zero and self.output_folder is not None:
            print(f"cmpe {self.config.subcommand}: {what} in {self.output_folder}")

    def after_instantiate_classes(self) -> None:
        if getattr(self, "checkpoint_hparams", None):
            check_checkpoint_task(self.checkpoint_hparams, self.datamodule,
                                  config_value(self, self.config, "ckpt_path"))
        options = dict(config_value(self, self.config, "sampler") or {})
        options |= sampler_overrides(self.model, self.model_overrides, self.checkpoint_hparams or {})
        if options:  # given here: wins over the settings saved in the checkpoint
            use_sampler(self.model, options)

    def after_fit(self) -> None:
        callback = self.trainer.checkpoint_callback
        checkpoint = callback and (callback.last_model_path or callback.best_model_path)
        if not self.trainer.is_global_zero or not checkpoint:
            return
        print(f"\ncmpe fit: the trained estimator is in {checkpoint}\n"
              f"  test it:     cmpe test --ckpt_path {checkpoint}\n"
              f"  use it:      cmpe predict --ckpt_path {checkpoint} --observations observations.npy\n"
              f"  in Python:   cmpe_lightning.Posterior.load({str(checkpoint)!r}).sample(x, 1000)")


def resume_checkpoint(path: str, logger_args: Any) -> str:
    """The checkpoint a fit resumes from (``last``: the newest ``last.ckpt`` of the logger's runs), with the logger
    pointed at that checkpoint's run folder so that logs and checkpoints go on there instead of a new version_N."""
    runs = Path(logger_args.save_dir) / (logger_args.name or "") if logger_args is not None else None
    if path == "last":
        found = sorted(runs.glob("version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime) if runs else []
        if not found:
            where = f"in {runs}/version_*/checkpoints" if runs else "without a logger's run folders"
            raise UsageError(f"--ckpt_path last: no last.ckpt {where} to resume from; give the checkpoint's path.")
        path = str(found[-1])
    checkpoint = Path(path)
    if not checkpoint.is_file():
        raise UsageError(f"--ckpt_path {path!r}: no such checkpoint file to resume from.")
    if (logger_args is not None and checkpoint.parent.name == "checkpoints"
            and checkpoint.resolve().parents[2] == runs.resolve()):
        logger_args.version = checkpoint.parent.parent.name
    return path


def check_checkpoint_task(hparams: dict[str, Any], datamodule: Any, path: str) -> None:
    """Raises a :class:`UsageError` where the checkpoint was trained on other shapes than the config's data."""
    trained = [normalize_shape(hparams[key]) for key in ("theta_shape", "x_shape") if key in hparams]
    here = [normalize_shape(datamodule.theta_shape), normalize_shape(datamodule.x_shape)]
    if len(trained) == 2 and trained != here:
        task = getattr(getattr(datamodule, "simulator", None), "__class__", type(datamodule)).__name__
        config = Path(path).parent.parent / "config.yaml"
        hint = f" (the run's own config is {config})" if config.is_file() else ""
        raise UsageError(
            f"Checkpoint {path} was trained on a task with theta_shape {trained[0]} and x_shape {trained[1]}; this"
            f" config's data ({task}) has theta_shape {here[0]} and x_shape {here[1]}. Use the config the checkpoint"
            f" was trained with{hint}, or leave out --config to read it from the run."
        )


def sampler_overrides(model: PosteriorEstimator, overrides: dict[str, str], trained: dict[str, Any]) -> dict[str, Any]:
    """``--model.init_args.KEY VALUE`` given to test or predict, as sampler options where ``KEY`` is one."""
    accepted = model.sampler_option_names()
    refused = sorted(set(overrides) - accepted)
    if refused:
        key = refused[0]
        value = trained
        for part in key.split("."):
            value = value.get(part, "?") if isinstance(value, dict) else "?"
        raise UsageError(
            f"--model.init_args.{key} cannot change a trained estimator at test or predict: the network was trained"
            f" with {key.split('.')[-1]} = {value!r} (the checkpoint's). Sampler settings can change: give them as"
            f" --sampler '{{num_steps: 10}}' or --model.init_args.KEY for KEY in {sorted(accepted)}."
        )
    return {key: yaml.safe_load(value) for key, value in overrides.items()}


def use_sampler(model: PosteriorEstimator, options: dict[str, Any]) -> None:
    """Makes ``options`` (the sampler's, and ``max_batch_size``) the settings of test and predict."""
    options = dict(options)
    chunk = options.pop("max_batch_size", None)
    model.configure_sampling(("test", "predict"), max_batch_size=chunk, options=options)


def prepare_args(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Command-line shortcuts of test and predict, applied before parsing.

    ``--observations FILE`` stands for ``--data.init_args.observations FILE``; without ``--config``, the config
    saved next to the checkpoint (``runs/<name>/version_N/config.yaml``) is used; ``--model.init_args.KEY VALUE``
    is taken out (returned as ``{KEY: VALUE}``) to become a sampler option or a clear refusal.
    """
    if not args or args[0] not in INFERENCE:
        return args, {}
    out, overrides, rest = [args[0]], {}, list(args[1:])
    while rest:
        arg = rest.pop(0)
        key, has_value, value = arg.partition("=")
        if key == "--observations":
            out += ["--data.init_args.observations", value if has_value else (rest.pop(0) if rest else "")]
        elif key.startswith("--model.") and key.split(".")[-1] not in ("class_path", "init_args", "help"):
            name = key.removeprefix("--model.").removeprefix("init_args.")  # e.g. num_steps, backbone.init_args.width
            overrides[name] = value if has_value else (rest.pop(0) if rest else "")
        else:
            out.append(arg)
    if not any(a in ("--config", "-c") or a.startswith("--config=") for a in out) and "--help" not in out:
        checkpoint = next((out[i + 1] for i, a in enumerate(out[:-1]) if a == "--ckpt_path"), None)
        checkpoint = checkpoint or next((a.partition("=")[2] for a in out if a.startswith("--ckpt_path=")), None)
        if checkpoint is None:
            raise UsageError(f"cmpe {args[0]} needs --ckpt_path (a trained checkpoint) and, unless the checkpoint's run"
                             " folder holds its config.yaml, --config.")
        if not Path(checkpoint).is_file():
            raise UsageError(f"--ckpt_path {checkpoint!r}: no such checkpoint file.")
        config = Path(checkpoint).parent.parent / "config.yaml"
        if not config.is_file():
            raise UsageError(f"cmpe {args[0]} without --config reads the config saved with the checkpoint's run,"
                             f" {config}, which does not exist; give the config the checkpoint was trained with:"
                             " --config FILE.")
        out[1:1] = ["--config", str(config)]
    return out, overrides


def run_cli(args: list[str] | None = None, run: bool = True) -> CMPECLI:
    """Runs the CLI on ``args`` (default: the command line) and returns it, for inspection in tests.

    With ``run=False`` there is no subcommand: the CLI only builds the trainer, model and DataModule.
    """
    add_working_folder()  # class_path: my_model.MySimulator finds ./my_model.py
    args, overrides = prepare_args(list(args)) if args is not None else (None, {})
    return CMPECLI(
        PosteriorEstimator,
        pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_callback=SaveFitConfig,
        parser_kwargs={"exit_on_error": False},
        parser_class=ProjectArgumentParser,
        model_overrides=overrides,
        trainer_defaults=TRAINER_DEFAULTS,
        args=args,
        run=run,
    )


def main(args: list[str] | None = None) -> None:
    """Entry point of ``cmpe`` and ``python -m cmpe_lightning``: a mistake prints one paragraph (``--debug``: the
    traceback)."""
    run_for_people("cmpe", run_cli, args)


if __name__ == "__main__":
    main()
