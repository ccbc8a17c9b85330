"""Where a training step's time goes inside ``cmpe fit``, and what Lightning's loop alone costs.

Two measurements of one config (training callbacks only, no validation; see ``training_loop.py``):

- **timeline**: the time between the hooks Lightning calls in every step, measured inside the loop (a
  callback first and last in the callback list, and the training step's entry and exit), averaged over the
  timed steps. Python calls and small tensor operations cost several times more inside the loop than in a
  tight benchmark of them alone, so this is the honest account of the loop's overhead.
- **floor**: ``cmpe fit`` with no callback and a training step that is only the estimator's loss (no guards,
  seeding or logging), against the bare loop, side by side: what Lightning's automatic optimization itself costs.

Run from the repository root::

    python -m benchmarks.speed.loop_anatomy --row two_moons_cmpe --steps 1000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict

import lightning.pytorch as pl

from benchmarks.speed.training_loop import ROWS, StepClock, bare_steps_per_second, build, fit_steps_per_second
from cmpe_lightning import ConsistencyPosteriorEstimator, FlowMatchingPosteriorEstimator
from cmpe_lightning.callbacks import EMA, TrainingSpeed

EVENTS: list = []  # (event, time) of the timed steps, appended by HookClock and TimedStep
TIMED = range(0)  # the global steps whose events are kept


class TimedStep:
    """An estimator mixin: the training step's entry and exit are events of the timeline."""

    def training_step(self, batch, batch_idx):
        timed = self.global_step in TIMED
        if timed:
            EVENTS.append(("training_step (entry)", time.perf_counter_ns()))
        out = super().training_step(batch, batch_idx)
        if timed:
            EVENTS.append(("training_step (exit)", time.perf_counter_ns()))
        return out


class LossOnly:
    """An estimator mixin: the training step is the loss alone (no guards, seeding or logging)."""

    def training_step(self, batch, batch_idx):
        theta, x = batch
        return self.loss(theta, x, **self.loss_options("train")).mean()


class TimedCMPE(TimedStep, ConsistencyPosteriorEstimator):
    pass


class TimedFMPE(TimedStep, FlowMatchingPosteriorEstimator):
    pass


class LossOnlyCMPE(LossOnly, ConsistencyPosteriorEstimator):
    pass


class LossOnlyFMPE(LossOnly, FlowMatchingPosteriorEstimator):
    pass


def variant(config: str, kind: str) -> list[str]:
    """The command-line override that trains ``config``'s estimator as the ``kind`` (Timed, LossOnly) subclass."""
    method = "FMPE" if "fmpe" in config else "CMPE"
    return ["--model.class_path", f"benchmarks.speed.loop_anatomy.{kind}{method}"]

HOOKS = ["on_train_batch_start", "on_before_zero_grad", "on_before_backward", "on_after_backward",
         "on_before_optimizer_step", "on_train_batch_end"]


class HookClock(pl.Callback):
    """Appends ``(hook (where), time)`` to :data:`EVENTS` at every per-step hook of the timed steps."""

    def __init__(self, where: str):
        self.where = where

    def __getattribute__(self, name: str):
        if name in HOOKS:
            def mark(trainer, *args, **kwargs):
                if trainer.global_step in TIMED:
                    EVENTS.append((f"{name} ({self.where})", time.perf_counter_ns()))
            return mark
        return super().__getattribute__(name)


def timeline(config: str, warmup: int, steps: int) -> tuple[list[tuple[str, str, float]], float]:
    """The mean microseconds between consecutive hook events of a step, and the steps/s of the same fit."""
    global TIMED
    TIMED = range(warmup + 1, warmup + steps)
    EVENTS.clear()
    with tempfile.TemporaryDirectory() as folder:
        cli = build(config, ["--trainer.limit_val_batches", "0", *variant(config, "Timed")], warmup + steps + 1, folder)
        keep = (EMA, pl.callbacks.ModelCheckpoint, TrainingSpeed)
        callbacks = [c for c in cli.trainer.callbacks if isinstance(c, keep)]
        clock = StepClock(warmup)
        cli.trainer.callbacks[:] = [HookClock("first callback"), *callbacks, HookClock("last callback"), clock]
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    total, count = defaultdict(int), defaultdict(int)
    for (a, start), (b, end) in zip(EVENTS, EVENTS[1:]):
        total[a, b] += end - start
        count[a, b] += 1
    rows = [(a, b, total[a, b] / count[a, b] / 1000) for a, b in total if count[a, b] > steps // 2]
    return rows, clock.steps_per_second


def floor_steps_per_second(config: str, warmup: int, steps: int) -> float:
    """``cmpe fit`` with no callback and the loss alone as the training step."""
    with tempfile.TemporaryDirectory() as folder:
        cli = build(config, ["--trainer.limit_val_batches", "0", *variant(config, "LossOnly")], warmup + steps, folder)
        clock = StepClock(warmup)
        cli.trainer.callbacks[:] = [clock]
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        return clock.steps_per_second


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--row", choices=[r for r in ROWS if r.startswith("two_moons")], default="two_moons_cmpe")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args(argv)
    config = ROWS[args.row]
    rows, fit_speed = timeline(config, args.warmup, args.steps)
    print(f"\nTimeline of {args.row}, training callbacks ({fit_speed:.1f} steps/s with the clocks):\n")
    print("| from | to | us per step |\n|---|---|---|")
    for a, b, micros in rows:
        print(f"| {a} | {b} | {micros:.0f} |")
    print(f"| | sum | {sum(r[2] for r in rows):.0f} |")
    bare = bare_steps_per_second(config, [], args.warmup, args.steps)
    floor = floor_steps_per_second(config, args.warmup, args.steps)
    training = fit_steps_per_second(config, [], args.warmup, args.steps, True)
    print("\n| loop | steps/s | ratio to bare | overhead per step |\n|---|---|---|---|")
    for name, speed in [("bare loop", bare), ("Lightning floor: no callback, the loss alone", floor),
                        ("cmpe fit, training callbacks", training)]:
        print(f"| {name} | {speed:.1f} | {speed / bare:.3f} | {1000 / speed - 1000 / bare:+.3f} ms |")


if __name__ == "__main__":
    main()
