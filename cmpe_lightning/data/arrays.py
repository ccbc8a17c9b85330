"""The DataModule of simulations the user already holds in memory (the Python API's ``train(theta=..., x=...)``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..bank.importer import check_runs
from .bank import SimulationBankDataModule


class ArrayDataModule(SimulationBankDataModule):
    """Training, validation and test pairs cut from arrays ``theta`` and ``x``, split and batched as a bank's runs.

    Rows whose ``x`` holds NaN or inf are dropped with a warning, as failed simulations; NaN in ``theta``,
    rows of different lengths or a bad shape are errors that name the array.

    Args:
        theta: parameters ``(n, theta_dim)`` (numpy or torch).
        x: observations ``(n, *x_shape)``, or a dict of named parts ``{name: (n, ...)}``.
        num_validation: validation pairs; default a tenth of ``n``, at most 1024.
        num_test: test pairs (for ``trainer.test`` and :meth:`Posterior.diagnose`); default a twentieth, at most 200.
        others: as :class:`SimulationBankDataModule`.

    Example:
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
            raise ValueError(f"A dict x cannot have a part named 'x' next to others, got {sorted(outputs)}.")
        theta, outputs, ok = check_runs(theta, outputs)
        num = len(theta)
        self._runs = {"index": np.arange(num), "theta": theta, "ok": ok, **outputs}
        self._manifest = {"num": num, "theta_dim": theta.shape[1],
                          "outputs": {name: list(array.shape[1:]) for name, array in outputs.items()}}
        super().__init__(
            path="arrays in memory", outputs=None if "x" in outputs else list(outputs), batch_size=batch_size,
            num_validation=num_validation or min(1024, max(1, num // 10)),
            num_test=num_test or min(200, max(1, num // 20)), num_simulations=num_simulations,
            observations=observations, predict_batch_size=predict_batch_size, num_workers=num_workers, seed=seed,
        )

    def load_manifest(self) -> dict:
        return self._manifest

    def load_runs(self) -> dict[str, np.ndarray]:
        return dict(self._runs)
