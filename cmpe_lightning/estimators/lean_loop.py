"""Lightning's per-step bookkeeping, made cheap where it buys nothing (``benchmarks/speed/training_loop.py``).

Around a small network a training step takes a few milliseconds on a CPU and well under one on a GPU, so the
microseconds the loop spends around it add up to a large share (each Python call and tensor operation costs
several times more inside the loop than in a tight benchmark of it alone). Costs that buy nothing go:

- Lightning names the running hook on the module (``_current_fx_name``) before and after every hook call, about
  fifty times a step; ``nn.Module.__setattr__`` takes 1.4 us for it (it looks for parameters, buffers and
  submodules of that name), a plain attribute write 0.1 us.
- Without ``Trainer(profiler=...)``, every hook call still enters the ``PassThroughProfiler``'s context manager
  (1 us, about seventy calls a step with the configs' callbacks); :class:`SilentProfiler` does the same
  nothing with one shared ``nullcontext``.
- Lightning asks torch to count GPUs through NVML (``PYTORCH_NVML_BASED_CUDA_CHECK=1``, so that the count does
  not initialize CUDA before worker processes fork); AdamW counts them at every step. Where NVML is missing
  (a CUDA build of torch on a machine without an NVIDIA driver, the usual CPU install) each count tries to load
  it again and fails, 44 us a step, before falling back to the CUDA runtime, which answers at once. There,
  :func:`skip_missing_nvml` lets torch ask the runtime directly: the same answer, and no GPU to poison.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.profilers import PassThroughProfiler

from ..compat import HOOK_NAME_ATTRIBUTE


class LeanLoop:
    """A LightningModule mixin: the name of the running hook is written as a plain attribute."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == HOOK_NAME_ATTRIBUTE:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class SilentProfiler(PassThroughProfiler):
    """Lightning's default profiler, which records nothing, without entering a new context manager per hook."""

    _nothing = contextlib.nullcontext()

    def profile(self, action_name: str) -> contextlib.nullcontext:  # type: ignore[override]
        return self._nothing


@functools.cache
def nvml_missing() -> bool:
    """Whether NVIDIA's management library cannot be loaded here."""
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return True
    return False


def skip_missing_nvml() -> None:
    """Where NVML cannot be loaded, torch counts GPUs with the CUDA runtime directly (see the module docstring)."""
    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and nvml_missing():
        os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "0"


def lean_trainer(trainer: pl.Trainer) -> None:
    """Removes the per-step costs above from ``trainer``'s loop; nothing it records or computes changes."""
    if type(trainer.profiler) is PassThroughProfiler:
        trainer.profiler = SilentProfiler()
    skip_missing_nvml()
