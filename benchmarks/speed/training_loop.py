"""Training-loop overhead: the same estimator trained by a bare PyTorch loop and by ``cmpe fit``, side by side.

For each row (a config), after ``--warmup`` steps, times ``--steps`` optimizer steps of:

- **bare**: a tight loop over the CLI's own estimator: random batch indices into the in-memory training pairs (online:
  fresh simulations; images: fresh noise on clean images), ``loss``, ``clip_grad_norm_``, ``AdamW.step``, the cosine
  schedule and the EMA as one ``torch._foreach_lerp_``;
- **training callbacks**: ``cmpe fit`` with the config, keeping only the callbacks that act during training (EMA, the
  checkpoint callbacks, TrainingSpeed) and no validation;
- **full config**: ``cmpe fit`` with everything the config and the default recipe add (validation, its diagnostics,
  checkpoints; the choice of K after the last step is not timed).

It runs the three in turn ``--repeats`` times (a shared machine drifts by more than the overhead measured) and
prints the median steps/s and ratios to the bare loop, and with ``--profile`` where the time of the training-callbacks
loop goes (cProfile, grouped by where the functions live). Run from the repository root::

    python -m benchmarks.speed.training_loop --rows two_moons_cmpe two_moons_fmpe --steps 1000 --profile
    python -m benchmarks.speed.training_loop --rows tumor_cmpe --tumor-bank banks/tumor_small

The tumor row needs a bank (``cmpe-simulate --simulator cmpe_lightning.TumorSpheroid --num 2000 --out BANK``).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning.pytorch as pl
import torch

from cmpe_lightning.callbacks import EMA, TrainingSpeed
from cmpe_lightning.cli import run_cli
from cmpe_lightning.estimators.base import adamw, compile_backbones, cosine_with_warmup
from cmpe_lightning.estimators.consistency_schedule import discretization_steps
from cmpe_lightning.utils.modes import synchronize
from cmpe_lightning.utils.structure import map_structure

ROWS = {
    "two_moons_cmpe": "configs/two_moons/cmpe.yaml",
    "two_moons_fmpe": "configs/two_moons/fmpe.yaml",
    "two_moons_cmpe_online": "configs/two_moons/cmpe_online.yaml",
    "tumor_cmpe": "configs/tumor/cmpe.yaml",
    "fashion_cmpe_unet_cpu": "configs/fashion_mnist/cmpe_unet_cpu.yaml",
}
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
         "--trainer.logger", "false"]


class StepClock(pl.Callback):
    """The time from the end of step ``warmup`` to the end of the last step."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.end, self.steps = warmup, None, None, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.warmup:
            synchronize(pl_module.device)  # a GPU's queue must be empty when the clock is read
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        elif trainer.global_step > self.warmup:
            self.end, self.steps = time.perf_counter(), trainer.global_step - self.warmup

    @property
    def steps_per_second(self) -> float:
        return self.steps / (self.end - self.start)


def build(config: str, extra: list[str], total: int, folder: str):
    return run_cli(["--config", config, "--trainer.max_steps", str(total), "--trainer.default_root_dir", folder,
                    *QUIET, *extra], run=False)


def fit_steps_per_second(config: str, extra: list[str], warmup: int, steps: int, training_only: bool,
                         profile: cProfile.Profile | None = None) -> float:
    """``cmpe fit``'s steps/s between step ``warmup`` and ``warmup + steps``."""
    with tempfile.TemporaryDirectory() as folder:
        more = ["--trainer.limit_val_batches", "0"] if training_only else []
        cli = build(config, [*extra, *more], warmup + steps, folder)
        if training_only:  # what acts at every step: EMA, checkpoints, the speed report
            keep = (EMA, pl.callbacks.ModelCheckpoint, TrainingSpeed)
            cli.trainer.callbacks[:] = [c for c in cli.trainer.callbacks if isinstance(c, keep)]
        else:  # the choice of K runs after the last step: not part of the loop
            for callback in cli.trainer.callbacks:
                if type(callback).__name__ == "SamplingStepSelection":
                    callback.enabled = False
        clock = StepClock(warmup)
        cli.trainer.callbacks.append(clock)
        if profile is not None:
            profile.enable()
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        if profile is not None:
            profile.disable()
        return clock.steps_per_second


def bare_steps_per_second(config: str, extra: list[str], warmup: int, steps: int, device: str = "cpu") -> float:
    """A tight PyTorch loop over the same estimator, data and optimizer settings, with the data on ``device``."""
    with tempfile.TemporaryDirectory() as folder:
        cli = build(config, extra, warmup + steps, folder)
    model, data = cli.model.to(device), cli.datamodule
    data.setup("fit")
    theta, x = data.training_data()
    model.theta_standardizer.fit(theta.to(device))
    if hasattr(model.preprocessing, "fit"):
        model.preprocessing.fit(map_structure(lambda t: t.to(device), x))
    theta, x = theta.to(device), map_structure(lambda t: t.to(device), x)
    batch_size = data.batch_size
    g = torch.Generator(device).manual_seed(0)
    cpu_g = torch.Generator().manual_seed(0)
    simulator = getattr(data, "simulator", None)
    online = getattr(data, "mode", None) == "online"
    images = data.images()["train"] if hasattr(data, "forward_model") else None

    def batch():
        if online:  # simulated on the CPU, as the online DataModule does, then moved
            t = simulator.sample_prior(batch_size, cpu_g)
            return t.to(device), map_structure(lambda v: v.to(device), simulator.simulate(t, cpu_g))
        if images is not None:
            index = torch.randint(len(images), (batch_size,), generator=cpu_g)
            return data.forward_model(images[index].to(device))
        index = torch.randint(len(theta), (batch_size,), generator=g, device=device)
        return theta[index], map_structure(lambda t: t[index], x)

    if model.compile_backbone:  # as the estimator's setup does
        compile_backbones(model)
    total = warmup + steps
    fused = "mixed" not in str(cli.trainer.precision)  # as the estimator's configure_optimizers chooses
    optimizer = adamw(model.parameters(), fused=fused, lr=model.learning_rate, weight_decay=model.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(total, model.warmup_steps))
    clip = cli.trainer.gradient_clip_val or 0.0
    params = [p for p in model.parameters()]
    average = [p.detach().clone() for p in params]
    is_cmpe = hasattr(model, "s1")
    model.train()
    with without_lightning_environment():
        return steps / timed_loop(model, optimizer, schedule, clip, params, average, batch, warmup, total, is_cmpe)


@contextmanager
def without_lightning_environment() -> Iterator[None]:
    """As a script that does not import Lightning runs: Lightning's import sets ``PYTORCH_NVML_BASED_CUDA_CHECK``,
    with which AdamW tries to load NVML at every step (``cmpe_lightning/estimators/lean_loop.py``)."""
    saved = os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = saved


def timed_loop(model, optimizer, schedule, clip, params, average, batch, warmup, total, is_cmpe) -> float:
    """The seconds of steps ``warmup`` to ``total`` of the bare loop."""
    for step in range(total):
        if step == warmup:
            synchronize(model.device)
            start = time.perf_counter()
        t, xb = batch()
        options = {"num_points": discretization_steps(step, total, model.s0, model.s1)} if is_cmpe else {}
        loss = model.loss(t, xb, **options).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            torch._foreach_lerp_(average, [p.detach() for p in params], 1 - min(0.999, (1 + step) / (10 + step)))
    synchronize(model.device)
    return time.perf_counter() - start


def profile_table(profile: cProfile.Profile, top: int = 25) -> str:
    """Own time of the profiled fit grouped by where the functions live, and its largest functions."""
    stats = pstats.Stats(profile)
    groups: dict[str, float] = defaultdict(float)
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():
        where = ("cmpe_lightning" if "cmpe_lightning" in file else "lightning" if "/lightning/" in file
                 else "torch" if "/torch/" in file else "builtins (torch ops, C)" if file == "~" else "other")
        groups[where] += own
        rows.append((own, calls, f"{Path(file).name}:{line} {name}"))
    total = sum(groups.values())
    lines = [f"| {g} | {s:.2f} s | {100 * s / total:.0f} % |" for g, s in sorted(groups.items(), key=lambda i: -i[1])]
    lines += ["", "| own time | calls | function |", "|---|---|---|"]
    lines += [f"| {own:.3f} s | {calls} | {name} |" for own, calls, name in sorted(rows, reverse=True)[:top]]
    return "| where | own time | share |\n|---|---|---|\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", choices=sorted(ROWS), default=["two_moons_cmpe", "two_moons_fmpe"])
    parser.add_argument("--steps", type=int, default=1000, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=100, help="untimed steps before")
    parser.add_argument("--tumor-bank", help="the bank of the tumor row")
    parser.add_argument("--tumor-validation", type=int, help="validation runs of the tumor row (the config's 1 024 are"
                        " 5 %% of its 20 000-run bank; give about 5 %% of a smaller bank's runs)")
    parser.add_argument("--validation-every", type=int, help="the full config validates every this many steps (for"
                        " the tumor row on a small bank: the config's interval, 5 epochs of its 20 000-run bank,"
                        " is about 1 500 steps)")
    parser.add_argument("--fashion-root", help="where the Fashion-MNIST files are (default: the config's search)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the three loops in turn; medians reported")
    parser.add_argument("--profile", action="store_true", help="profile the training-callbacks fit of each row")
    parser.add_argument("--out", help="append the rows as JSON lines to this file")
    parser.add_argument("--accelerator", choices=["cpu", "gpu"], default="cpu", help="where all three loops train")
    parser.add_argument("--compile", action="store_true", help="all three loops with the backbone compiled"
                        " (compile_backbone; the warm-up steps absorb the compiler)")
    args = parser.parse_args(argv)
    results = []
    for row in args.rows:
        extra = []
        if row == "tumor_cmpe":
            if not args.tumor_bank:
                parser.error("the tumor row needs --tumor-bank")
            extra = ["--data.init_args.path", args.tumor_bank]
            if args.tumor_validation:
                extra += ["--data.init_args.num_validation", str(args.tumor_validation)]
        if row == "fashion_cmpe_unet_cpu" and args.fashion_root:
            extra = ["--data.init_args.root", args.fashion_root]
        config = ROWS[row]
        if args.accelerator == "gpu":
            extra += ["--trainer.accelerator", "gpu", "--trainer.devices", "1"]
        if args.compile:
            extra += ["--model.init_args.compile_backbone", "true"]
        profile = cProfile.Profile() if args.profile else None
        schedule = (["--trainer.val_check_interval", str(args.validation_every), "--trainer.check_val_every_n_epoch",
                     "null"] if args.validation_every else [])
        runs = []  # the three loops in turn, repeated: a shared machine drifts by more than the overhead measured
        for repeat in range(args.repeats):
            bare = bare_steps_per_second(config, extra, args.warmup, args.steps,
                                         "cuda" if args.accelerator == "gpu" else "cpu")
            training = fit_steps_per_second(config, extra, args.warmup, args.steps, True,
                                            profile if repeat == 0 else None)
            full = fit_steps_per_second(config, [*extra, *schedule], args.warmup, args.steps, False)
            runs.append((bare, training, full))
        bare, training, full = (statistics.median(r[i] for r in runs) for i in range(3))
        device = (torch.cuda.get_device_name(0) if args.accelerator == "gpu"
                  else f"cpu, {torch.get_num_threads()} threads")
        result = {"row": row + (" compiled" if args.compile else ""), "steps": args.steps, "device": device,
                  "repeats": args.repeats, "bare": round(bare, 1),
                  "training_callbacks": round(training, 1), "full_config": round(full, 1),
                  "training_ratio": round(statistics.median(t / b for b, t, _ in runs), 3),
                  "full_ratio": round(statistics.median(f / b for b, _, f in runs), 3),
                  "training_ratios": [round(t / b, 3) for b, t, _ in runs],
                  "full_ratios": [round(f / b, 3) for b, _, f in runs]}
        results.append(result)
        print(json.dumps(result), flush=True)
        if args.out:
            with open(args.out, "a") as file:
                file.write(json.dumps(result) + "\n")
        if profile is not None:
            print(f"\nProfile of {row}, training callbacks ({args.warmup + args.steps} steps and setup):\n"
                  + profile_table(profile), flush=True)
    print("\n| row | bare loop steps/s | training callbacks | ratio | full config | ratio |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['row']} | {r['bare']} | {r['training_callbacks']} | {r['training_ratio']:.2f} |"
              f" {r['full_config']} | {r['full_ratio']:.2f} |")
    return results


if __name__ == "__main__":
    main()
