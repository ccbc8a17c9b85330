"""Every use of Lightning's private API, in one place; ``tests/unit/test_compat.py`` checks each against the
installed Lightning, so that an upgrade that breaks one fails there, by name, instead of somewhere in a fit.

Lightning 2.6 has no public way to: build an estimator from saved hyperparameters the way the CLI does (so that
its checkpoint records how to rebuild it), read how many batches of the current epoch a fit has trained on
(exact resume), change the steps of a fit that has started (the recipe's training length from the budget), ask
whether the loggers write this step's values (``self.log`` costs about 0.6 ms a call on a CPU), name the
attribute it writes at every hook call (written cheaply by ``estimators/lean_loop.py``), and
hook into LightningCLI's building of one subcommand's parser and its reading of ``--ckpt_path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.core.mixins import hparams_mixin

# the private names this module uses, by owner (checked by the tests)
PRIVATE = {
    "lightning.pytorch.core.mixins.hparams_mixin": ["_given_hyperparameters_context"],
    "lightning.pytorch.cli.LightningCLI": ["_prepare_subcommand_parser", "_parse_ckpt_path", "_get"],
    "Trainer.fit_loop.epoch_loop": ["batch_progress.current.processed", "max_steps"],
    "Trainer._logger_connector": ["should_update_logs"],
    "lightning.pytorch.callbacks.WeightAveraging": ["_average_model", "_latest_update_step", "_use_buffers"],
    "LightningModule": ["_current_fx_name"],
    "lightning.pytorch.callbacks.ModelCheckpoint": ["_every_n_train_steps", "_train_time_interval"],
}

# the attribute Lightning sets on the module around every hook call, to the hook's name
HOOK_NAME_ATTRIBUTE = "_current_fx_name"


@contextmanager
def given_hyperparameters(hparams: dict[str, Any]) -> Iterator[None]:
    """Within it, a module's ``save_hyperparameters()`` records ``hparams`` with the CLI's instantiator, as
    ``LightningCLI`` does, so that ``load_from_checkpoint`` rebuilds nested modules from their class paths."""
    with hparams_mixin._given_hyperparameters_context(hparams=hparams,
                                                      instantiator="lightning.pytorch.cli.instantiate_module"):
        yield


def batches_trained_in_epoch(trainer: pl.Trainer) -> int:
    """The batches of the current epoch the fit has trained on (restored from a checkpoint on resume)."""
    return trainer.fit_loop.epoch_loop.batch_progress.current.processed


def set_max_steps(trainer: pl.Trainer, steps: int) -> None:
    """Changes the optimizer steps of a fit that has started (``trainer.max_steps`` is read-only)."""
    trainer.fit_loop.epoch_loop.max_steps = steps


def logger_writes_this_step(trainer: pl.Trainer) -> bool:
    """Whether the loggers receive the values logged in this training step (every ``log_every_n_steps``-th step)."""
    return trainer._logger_connector.should_update_logs


def checkpoint_due(checkpoint: ModelCheckpoint, step: int) -> bool:
    """Whether ``checkpoint`` may save after training step ``step``: its every-n-steps count is reached or it
    saves by time (then Lightning's own checks decide)."""
    every = checkpoint._every_n_train_steps
    return checkpoint._train_time_interval is not None or (every >= 1 and step % every == 0)


def config_value(cli: LightningCLI, config: Any, key: str, default: Any = None) -> Any:
    """``config[subcommand][key]`` for the CLI's subcommand (or ``config[key]`` without one)."""
    return cli._get(config, key, default=default)


class HookedLightningCLI(LightningCLI):
    """``LightningCLI`` with the two hooks its public API lacks.

    ``building_subcommand`` names the subcommand whose parser is being built (``None`` outside, and without
    subcommands), so that ``add_arguments_to_parser`` can give each subcommand its own options;
    :meth:`before_checkpoint_hyperparameters` runs before the CLI applies the hyperparameters of ``--ckpt_path``.
    """

    building_subcommand: str | None = None

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        self.building_subcommand = subcommand
        try:
            return super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        finally:
            self.building_subcommand = None

    def _parse_ckpt_path(self) -> None:
        self.before_checkpoint_hyperparameters()
        super()._parse_ckpt_path()

    def before_checkpoint_hyperparameters(self) -> None:
        """Called before the hyperparameters saved in ``--ckpt_path`` replace the config's model arguments."""
