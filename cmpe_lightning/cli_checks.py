"""Checks of a parsed ``cmpe`` command before anything is built or run: each mistake becomes one paragraph that
names the option, the value and what to give instead (:class:`~cmpe_lightning.cli_messages.UsageError`), or a
warning where the command would run, only badly.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_warn

from .cli_messages import UsageError

# validate is allowed without a checkpoint: it only reports the validation loss of the network as configured (a quick
# check of a config or a data set) and writes no results; test and predict would report metrics of, or write samples
# drawn from, an untrained network as though it were trained.
NEEDS_CHECKPOINT = ("test", "predict")


def check_command(subcommand: str, config: Any, checkpoint_hparams: dict[str, Any] | None) -> None:
    """All checks of ``cmpe SUBCOMMAND``'s parsed ``config``; ``checkpoint_hparams``: those of ``--ckpt_path``."""
    if subcommand in NEEDS_CHECKPOINT and not config.get("ckpt_path"):
        action = "report metrics of" if subcommand == "test" else "write posterior samples drawn from"
        raise UsageError(
            f"cmpe {subcommand} needs --ckpt_path, the trained estimator's checkpoint (`cmpe fit` prints its path at"
            f" the end, e.g. runs/<name>/version_0/checkpoints/last.ckpt); without one it would {action} an untrained"
            f" network."
        )
    trainer = config.get("trainer") or {}
    check_accelerator(trainer.get("accelerator"))
    check_cpu_processes(trainer.get("accelerator"), trainer.get("devices"))
    if subcommand == "fit":  # test and predict log into the checkpoint's run folder instead
        for logger in trainer.get("logger") if isinstance(trainer.get("logger"), list) else [trainer.get("logger")]:
            save_dir = getattr(getattr(logger, "init_args", None), "save_dir", None)
            if save_dir:
                check_output_folder(save_dir, "The logger's save_dir (--trainer.logger.init_args.save_dir)")
        if trainer.get("default_root_dir"):
            check_output_folder(trainer.get("default_root_dir"), "--trainer.default_root_dir")
    if checkpoint_hparams:
        check_checkpoint_class(config.get("model"), checkpoint_hparams, config.get("ckpt_path"))


def check_accelerator(accelerator: Any) -> None:
    """A ``gpu``, ``cuda`` or ``mps`` accelerator on a machine where PyTorch sees no such device is an error."""
    if not isinstance(accelerator, str) or accelerator.lower() not in ("gpu", "cuda", "mps"):
        return
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if {"gpu": cuda or mps, "cuda": cuda, "mps": mps}[accelerator.lower()]:
        return
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    why = ("this PyTorch is a CPU-only build" if torch.version.cuda is None else "it finds no CUDA device or driver"
           + (f" (CUDA_VISIBLE_DEVICES is {visible!r})" if visible is not None else ""))
    raise UsageError(f"--trainer.accelerator {accelerator}: PyTorch sees no GPU on this machine, {why}. Use"
                     f" --trainer.accelerator cpu, or auto, which takes a GPU where there is one.")


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_cpu_processes(accelerator: Any, devices: Any) -> None:
    """Warns where ``devices`` asks for more training processes on the CPU than it has cores."""
    on_cpu = accelerator == "cpu" or (accelerator in (None, "auto") and not torch.cuda.is_available()
                                      and not torch.backends.mps.is_available())
    processes = int(devices) if isinstance(devices, int) or (isinstance(devices, str) and devices.isdigit()) else 0
    if on_cpu and processes > cpu_cores():
        rank_zero_warn(
            f"--trainer.devices {processes} starts {processes} training processes on a CPU with {cpu_cores()} cores:"
            f" they share the cores, so training is slower, not faster, than with at most {cpu_cores()} processes"
            f" (--trainer.devices 1 is usually fastest on a CPU)."
        )


def check_output_folder(path: str | os.PathLike, what: str) -> None:
    """An error where ``path`` cannot become a folder to write in: it or a folder above it is a file, or read-only."""
    if "://" in str(path):  # a remote file system: the logger checks it
        return
    path = Path(path).expanduser()
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is below {existing}, which is a file"
        raise UsageError(f"{what} {str(path)!r} {where}, not a folder, so logs and checkpoints cannot go there; give"
                         f" the path of a folder (a new one is created).")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {str(path)!r}: no permission to write in {existing}; give a folder you can write in.")


def check_checkpoint_class(model: Any, hparams: dict[str, Any], path: str) -> None:
    """An error where the estimator class asked for (``--model`` or the config's) is not the checkpoint's."""
    asked, trained = getattr(model, "class_path", None), hparams.get("_class_path")
    if not asked or not trained or _resolve(asked) == _resolve(trained):
        return
    raise UsageError(
        f"The checkpoint {path} holds a {trained.rpartition('.')[2]} ({trained}), but this command asks for a"
        f" {asked.rpartition('.')[2]} (--model, or model.class_path in --config): a trained network loads only as the"
        f" class it was trained as. Leave out --model and --config (test and predict then read both from the"
        f" checkpoint's run), or give the checkpoint of a {asked.rpartition('.')[2]} run."
    )


def _resolve(class_path: str) -> Any:
    """The class at ``class_path``, or the path itself where it cannot be imported (compared as text then)."""
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return class_path
