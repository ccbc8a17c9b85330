"""The DataModule of simulations the user already holds in memory (the Python API's ``train(theta=..., x=...)``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..bank.reader import ArrayRuns, Runs
from ..utils.errors import InputError
from .bank import SimulationBankDataModule


class ArrayDataModule(SimulationBankDataModule):
    """Training, validation and test pairs cut from arrays ``theta`` and ``x``, split and batched as a bank's runs
    (:class:`SimulationBankDataModule` reading :class:`~cmpe_lightning.bank.reader.ArrayRuns`).

    Rows whose ``x`` holds NaN or inf are dropped with a warning, as failed simulations; NaN in ``theta``,
    rows of different lengths or a bad shape are errors that name the array.

    Args:
        theta: parameters ``(n, theta_dim)`` (numpy or torch).
        x: observations ``(n, *x_shape)``, or a dict of named parts ``{name: (n, ...)}``.
        num_validation: validation pairs; default a tenth of ``n``, at most 1024.
        num_test: test pairs (for ``trainer.test`` and :meth:`Posterior.diagnose`); default a twentieth, at most 200.
        others: as :class:`SimulationBankDataModule`.

    Example:
        >>> import numpy as np
        >>> theta = np.random.default_rng(0).uniform(size=(1000, 2))
        >>> data = ArrayDataModule(theta, theta + 0.1)
        >>> data.theta_shape, data.x_shape, data.num_validation, data.num_test
        ((2,), (2,), 100, 50)
    """

    def __init__(
        self,
        theta: Any,
        x: Any,
        batch_size: int = 64,
        num_validation: int | None = None,
        num_test: int | None = None,
        num_simulations: int | None = None,
        observations: str | None = None,
        predict_batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
    ):
        outputs = {str(k): v for k, v in x.items()} if isinstance(x, Mapping) else {"x": x}
        if "x" in outputs and len(outputs) > 1:
            raise InputError(f"A dict x cannot have a part named 'x' next to others, got {sorted(outputs)}.")
        self.array_runs = ArrayRuns(theta, outputs)
        num = self.array_runs.num
        super().__init__(
            path=self.array_runs.source, outputs=None if "x" in outputs else list(outputs), batch_size=batch_size,
            num_validation=num_validation or min(1024, max(1, num // 10)),
            num_test=num_test or min(200, max(1, num // 20)), num_simulations=num_simulations,
            observations=observations, predict_batch_size=predict_batch_size, num_workers=num_workers, seed=seed,
        )

    def open_runs(self) -> Runs:
        return self.array_runs
