"""The simulator contract shared by every task; the tasks themselves live in :mod:`cmpe_lightning.tasks`.

Importing this package loads torch and numpy only (no Lightning, scikit-learn, zuko or Numba), so that
spawned simulation workers start fast.
"""

from .base import Simulator, sample_by_rejection
from .failing import FailingSimulator
from .functions import FunctionSimulator
from .priors import BoxUniform, DiagonalNormal

__all__ = ["Simulator", "FailingSimulator", "FunctionSimulator", "BoxUniform", "DiagonalNormal", "sample_by_rejection"]

_MOVED = {"TwoMoons": "two_moons", "BimodalGMM": "gmm", "InverseKinematics": "inverse_kinematics",
          "TumorSpheroid": "tumor"}


def __getattr__(name: str):
    if name in _MOVED or name in ("tumor", "tumor_kernels", "tumor_lattice"):
        where = f"cmpe_lightning.tasks.{_MOVED.get(name, 'tumor')}"
        raise AttributeError(
            f"cmpe_lightning.simulators.{name} moved to {where}; import it from there or from cmpe_lightning"
            f" (e.g. `from cmpe_lightning import {name if name in _MOVED else 'TumorSpheroid, simulate_tumor'}`)."
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
