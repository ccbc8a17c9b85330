"""Simulators: a prior, a vectorized forward model and, where one exists, a reference posterior."""

from .base import Simulator
from .gmm import BimodalGMM
from .inverse_kinematics import InverseKinematics
from .tumor import TumorSpheroid
from .two_moons import TwoMoons

__all__ = ["Simulator", "TwoMoons", "BimodalGMM", "InverseKinematics", "TumorSpheroid"]
