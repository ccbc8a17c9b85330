"""Host synchronizations inside training steps on a GPU: how many, and where they come from.

A step that copies a device value to the host (``.item()``, ``bool(tensor)``, boolean indexing) waits for every
kernel queued before it, and the GPU then idles while Python prepares the next kernels: for the small networks
of the low-dimensional tasks that idle time is most of the step. This fits a config on the GPU with
``torch.cuda.set_sync_debug_mode("warn")`` around the training steps that log nothing (logging steps read the
loss on purpose, one in ``log_every_n_steps``) and prints the synchronizing calls found, with where they were made.
Run from the repository root::

    python -m benchmarks.speed.gpu_syncs --rows two_moons_cmpe two_moons_cmpe_online --steps 60
"""

from __future__ import annotations

import argparse
import tempfile
import traceback
import warnings
from collections import Counter

import lightning.pytorch as pl
import torch

from benchmarks.speed.training_loop import ROWS, build
from cmpe_lightning.compat import logger_writes_this_step


class SyncWatch(pl.Callback):
    """Counts the synchronizing calls of the training steps from ``first`` on that log nothing."""

    def __init__(self, first: int):
        self.first, self.steps, self.calls = first, 0, Counter()
        self._record: warnings.catch_warnings | None = None
        self._caught: list = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        last = trainer.global_step + 1 == trainer.max_steps
        if trainer.global_step >= self.first and not logger_writes_this_step(trainer) and not last:
            self._record = warnings.catch_warnings(record=True)
            self._caught = self._record.__enter__()
            warnings.simplefilter("always")
            warnings.showwarning = self._show  # keep where each warning was raised
            torch.cuda.set_sync_debug_mode("warn")

    def _show(self, message, category, filename, lineno, file=None, line=None) -> None:
        frames = [f for f in traceback.extract_stack()[:-2] if "/torch/" not in f.filename]
        where = " <- ".join(f"{f.filename.split('/')[-1]}:{f.lineno} {f.name}" for f in frames[-3:][::-1])
        self.calls[f"{str(message).splitlines()[0][:80]} at {where}"] += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._record is not None:
            torch.cuda.set_sync_debug_mode(0)
            self._record.__exit__(None, None, None)
            self._record, self.steps = None, self.steps + 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", choices=sorted(ROWS), default=["two_moons_cmpe"])
    parser.add_argument("--steps", type=int, default=60, help="training steps (the first 10 are not watched)")
    parser.add_argument("--tumor-bank", help="the bank of the tumor row")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("host synchronizations are a GPU matter: no CUDA device here")
    for row in args.rows:
        extra = ["--trainer.accelerator", "gpu", "--trainer.devices", "1", "--trainer.limit_val_batches", "0"]
        if row == "tumor_cmpe":
            extra += ["--data.init_args.path", args.tumor_bank]
        with tempfile.TemporaryDirectory() as folder:
            cli = build(ROWS[row], extra, args.steps, folder)
            watch = SyncWatch(first=10)
            cli.trainer.callbacks.append(watch)
            cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        total = sum(watch.calls.values())
        print(f"{row}: {total} synchronizing calls in {watch.steps} watched training steps"
              f" ({total / max(watch.steps, 1):.2f} per step)")
        for call, count in watch.calls.most_common(10):
            print(f"  {count:5d}  {call}")


if __name__ == "__main__":
    main()
