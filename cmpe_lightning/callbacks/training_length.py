"""How long to train when the config does not say: a number of epochs of the simulation budget, within bounds."""

from __future__ import annotations

import math

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_info

from ..compat import set_max_steps
from ..utils.checks import positive_int
from ..utils.errors import InputError


def steps_for_budget(num_pairs: int | None, pairs_per_step: int, epochs: int, min_steps: int, max_steps: int,
                     online_steps: int) -> int:
    """Optimizer steps for ``epochs`` passes over ``num_pairs`` training pairs in batches of ``pairs_per_step``
    pairs, within ``[min_steps, max_steps]``; ``online_steps`` for endless (online) data (``num_pairs`` ``None``).

    Example:
        >>> steps_for_budget(10_000, 64, 300, 5_000, 100_000, 50_000)   # sbibm's budget, batch 64: 156 batches
        46800
        >>> steps_for_budget(1_000, 64, 300, 5_000, 100_000, 50_000)    # a small budget trains more epochs
        5000
        >>> steps_for_budget(None, 64, 300, 5_000, 100_000, 50_000)
        50000
    """
    if num_pairs is None:
        return online_steps
    return min(max(epochs * max(num_pairs // pairs_per_step, 1), min_steps), max_steps)


class TrainingLength(pl.Callback):
    """Sets the number of optimizer steps of a fit whose trainer has neither ``max_steps`` nor ``max_epochs``, and
    its validation interval: the default recipe's way to scale training with the simulation budget.

    A fixed budget of n pairs trains ``epochs`` epochs, at least ``min_steps`` and at most ``max_steps``
    optimizer steps (an early stop on the validation loss, :class:`~cmpe_lightning.callbacks.BestWeights`,
    ends it sooner where the estimator stops improving); online simulation trains ``online_steps``. The
    learning-rate schedule and CMPE's discretization curriculum follow the steps set here. Where the trainer's
    validation interval is Lightning's default (every epoch), validation runs about ``validations`` times per
    fit (also for a ``max_steps`` given). A trainer with ``max_epochs`` is left as it is.

    Args:
        epochs: passes over a fixed budget.
        min_steps: fewest optimizer steps (small budgets train more epochs).
        max_steps: most optimizer steps (large budgets train fewer epochs).
        online_steps: optimizer steps with online simulation.
        validations: about how many validations per fit.
    """

    def __init__(self, epochs: int = 300, min_steps: int = 5_000, max_steps: int = 100_000, online_steps: int = 50_000,
                 validations: int = 25):
        for name, value in [("epochs", epochs), ("min_steps", min_steps), ("max_steps", max_steps),
                            ("online_steps", online_steps), ("validations", validations)]:
            positive_int(value, name)
        if min_steps > max_steps:
            raise InputError(f"TrainingLength: min_steps {min_steps} exceeds max_steps {max_steps}.")
        self.epochs, self.min_steps, self.max_steps = epochs, min_steps, max_steps
        self.online_steps, self.validations = online_steps, validations
        self.steps: int | None = None  # what this fit was given, None where the trainer had its own length

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or trainer.max_epochs not in (-1, None):
            return
        datamodule = trainer.datamodule
        batch = getattr(datamodule, "batch_size", None)
        given = trainer.max_steps not in (-1, None)
        if not given and (batch is None or not hasattr(datamodule, "num_training_pairs")):
            raise InputError("Without trainer.max_steps, the default recipe derives the training length from the"
                             f" DataModule's num_training_pairs and batch_size; {type(datamodule).__name__} has none:"
                             " set --trainer.max_steps.")
        num_pairs = getattr(datamodule, "num_training_pairs", None)
        pairs_per_step = (batch or 1) * trainer.world_size * trainer.accumulate_grad_batches
        if not given:
            self.steps = steps_for_budget(num_pairs, pairs_per_step, self.epochs, self.min_steps, self.max_steps,
                                          self.online_steps)
            set_max_steps(trainer, self.steps)
            budget = "online simulation" if num_pairs is None else f"{num_pairs} training pairs"
            rank_zero_info(f"Training length from the budget ({budget}, batch {batch}): {self.steps} optimizer steps;"
                           " set --trainer.max_steps to choose it.")
        if trainer.check_val_every_n_epoch != 1 or trainer.val_check_interval != 1.0:
            return  # the trainer's own validation interval
        steps = trainer.max_steps
        if num_pairs is None:  # an endless stream has no epoch end: validate every so many steps
            trainer.check_val_every_n_epoch = None
            trainer.val_check_interval = max(steps // self.validations, 1)
        elif batch is not None:
            epoch_steps = max(num_pairs // pairs_per_step, 1)
            trainer.check_val_every_n_epoch = max(math.ceil(steps / epoch_steps / self.validations), 1)
