"""Automatic choice of CMPE's number of sampling steps K at the end of ``fit``, without a reference posterior."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor
from tqdm.auto import tqdm

from ..metrics import CalibrationError, energy_scores
from ..utils.errors import InputError, InputTypeError
from ..utils.structure import Batch, batch_size, finite_pairs, map_structure
from .checkpoint_files import rewrite_saved_checkpoints, saved_checkpoints

DEFAULT_CANDIDATES = (1, 2, 3, 5, 8, 10, 15, 20, 30)


def validation_pairs(loader: Iterable | None, limit: int, device: torch.device) -> tuple[Tensor, Batch]:
    """The first ``limit`` finite pairs ``(theta, x)`` of the validation ``loader``, on ``device``; failed
    simulations (NaN, inf) are skipped."""
    if isinstance(loader, (list, tuple)):
        loader = loader[0] if loader else None
    if loader is None:
        raise InputError("The choice of K scores validation simulations; this fit has no validation data.")
    thetas, xs, total = [], [], 0
    for batch in loader:
        theta, x, _ = finite_pairs(*batch)
        thetas.append(theta)
        xs.append(x)
        total += len(theta)
        if total >= limit:
            break
    if total < 2:
        raise InputError(f"The choice of K needs at least 2 finite validation simulations, found {total}.")
    theta = torch.cat(thetas)[:limit].to(device)
    x = xs[0] if len(xs) == 1 else (
        {k: torch.cat([part[k] for part in xs]) for k in xs[0]} if isinstance(xs[0], dict) else torch.cat(xs))
    return theta, map_structure(lambda t: t[:limit].to(device), x)


def paired_difference(a: Tensor, b: Tensor) -> tuple[float, float]:
    """Mean of ``a - b`` over pairs and its standard error."""
    difference = (a - b).double()
    return float(difference.mean()), float(difference.std() / math.sqrt(len(difference)))


def choose_num_steps(scores: dict[int, Tensor], default: int, significance: float = 2.0) -> int:
    """The K to sample with, from per-pair energy scores ``{K: (n,)}`` of every K on the same pairs.

    Starts from ``default`` and moves only on differences the scores resolve: a K replaces it where its mean
    score is lower by more than ``significance`` standard errors of the paired difference; among those, the
    fewest steps whose score is not resolved as worse than the best one's. So the choice is never worse than
    ``default`` by more than the scores' noise, and picks fewer steps only where they are as good.

    Example:
        >>> base = torch.linspace(0, 1, 400)
        >>> choose_num_steps({2: base + 0.001, 10: base, 30: base + 0.001}, default=10)   # nothing resolved
        10
        >>> choose_num_steps({2: base - 0.05, 5: base - 0.05, 10: base}, default=10)     # 2 is as good as 5
        2
    """
    if default not in scores:
        raise InputError(f"The default K {default} must be among the scored candidates {sorted(scores)}.")

    def resolved(k: int, than: int, sign: float) -> bool:  # sign -1: k is lower (better), +1: k is higher (worse)
        mean, error = paired_difference(scores[k], scores[than])
        return sign * mean > significance * error

    better = [k for k in scores if k != default and resolved(k, default, -1.0)]
    if not better:
        return default
    best = min(better, key=lambda k: float(scores[k].mean()))
    return min(k for k in better if not resolved(k, best, +1.0))


@dataclass
class StepChoice:
    """What the choice of K did: the choice, the default it started from, and per candidate the mean energy
    score, its paired difference to the default (with standard error) and the calibration error."""

    num_steps: int
    default: int
    scores: dict[int, dict[str, float]] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        rows = [f"  K = {k:>3}: energy score {s['energy_score']:.4f} ({s['difference']:+.4f}"
                f" ± {s['standard_error']:.4f} vs K = {self.default}), calibration error {s['calibration_error']:.3f}"
                + (" <- chosen" if k == self.num_steps else "") for k, s in sorted(self.scores.items())]
        if self.skipped:
            rows.append(f"  not scored within the time limit: K = {self.skipped}")
        return "\n".join(rows)


def parameter_scale(model: Any, theta: Tensor) -> Tensor:
    """The scale each parameter entry is divided by in the energy score, so that every entry counts as the
    estimator's standardization makes it count: its fitted ``theta_standardizer`` (none for images: pixels count
    alike), else the spread of ``theta``. Entries without spread keep 1; dividing by a spread near zero (the
    background pixels of Fashion-MNIST) let them outweigh all others by 10^12."""
    standardizer = getattr(model, "theta_standardizer", None)
    if standardizer is not None and standardizer.fitted:
        return standardizer.std.expand(tuple(theta.shape[1:])).flatten().to(theta.device, theta.dtype)
    spread = theta.flatten(1).std(0)
    return torch.where(spread > 1e-6 * spread.max().clamp_min(1e-30), spread, torch.ones_like(spread))


def select_num_steps(model: Any, theta: Tensor, x: Batch, candidates: Sequence[int], default: int, num_samples: int,
                     significance: float = 2.0, seconds: float = math.inf, seed: int = 0,
                     progress: bool = True) -> StepChoice:
    """Scores each candidate K on the pairs ``(theta, x)`` (``num_samples`` draws each) and chooses by
    :func:`choose_num_steps`; the default first, then from few to many steps, leaving out those that would not
    finish within ``seconds`` (estimated from the time per step of the candidates scored so far)."""
    start = time.perf_counter()
    order = [default, *sorted(k for k in set(candidates) if k != default)]
    scale = parameter_scale(model, theta)
    per_pair, calibration, skipped = {}, {}, []
    steps_done = 0  # the time per step is re-estimated after every candidate: the first call's warm-up fades
    bar = tqdm(total=sum(order), unit="step", desc="Choosing K", disable=not progress, leave=False)
    try:
        for k in order:
            elapsed = time.perf_counter() - start
            if per_pair and elapsed + elapsed / steps_done * k > seconds:
                skipped.append(k)
                continue
            bar.set_postfix_str(f"K = {k}")
            generator = torch.Generator(model.device).manual_seed(seed)  # the same noise for every K
            samples = model.sample(x, num_samples, generator, check_range=False, num_steps=k)
            per_pair[k] = energy_scores(samples, theta, scale).cpu()
            metric = CalibrationError().to(model.device)
            metric.update(samples, theta)
            calibration[k] = float(metric.compute())
            steps_done += k
            bar.update(k)
    finally:
        bar.close()
    chosen = choose_num_steps(per_pair, default, significance)
    scores = {}
    for k, values in per_pair.items():
        difference, error = paired_difference(values, per_pair[default])
        scores[k] = {"energy_score": float(values.double().mean()), "difference": difference, "standard_error": error,
                     "calibration_error": calibration[k]}
    return StepChoice(chosen, default, scores, skipped, time.perf_counter() - start)


def record_choice(checkpoint: dict[str, Any], choice: StepChoice) -> None:
    """Writes the chosen K into a checkpoint's dictionary (hyperparameter ``num_steps`` and the scores)."""
    checkpoint.setdefault("hyper_parameters", {})["num_steps"] = choice.num_steps
    checkpoint["num_steps_selection"] = {"num_steps": choice.num_steps, "default": choice.default,
                                         "criterion": "energy_score", "skipped": list(choice.skipped),
                                         "scores": {int(k): dict(v) for k, v in choice.scores.items()}}


class SamplingStepSelection(pl.Callback):
    """Chooses CMPE's number of sampling steps K from ``candidates`` when ``fit`` ends, on validation simulations.

    CMPE's accuracy is U-shaped in K (method.md; the paper leaves K to the user). Each candidate draws
    ``num_samples`` times for each of ``num_observations`` validation pairs, with the same noise, and is scored
    by the energy score of the draws against the true parameters (a strictly proper scoring rule: lowest for
    the true posterior, :func:`~cmpe_lightning.metrics.energy_scores`). K moves away from the estimator's
    configured ``num_steps`` (the default, 10) only where the paired score differences resolve it
    (:func:`choose_num_steps`), so the choice is never worse than the default by more than the criterion's
    noise. The choice becomes the estimator's ``num_steps``, is written into the checkpoints this fit saved
    (hyperparameter ``num_steps`` and ``checkpoint["num_steps_selection"]`` with every candidate's scores), and
    ``cmpe test`` logs it as ``test/num_steps``; an explicit ``--sampler '{num_steps: 5}'`` still wins.

    The choice shows a progress bar, takes at most ``max_share`` of the fit's time (but at least
    ``min_seconds``; candidates that would not fit are left out, and said so), and Ctrl-C ends it at once with
    the trained checkpoint as it is (K = the default): choose later with ``cmpe choose-steps --ckpt_path FILE``.

    Args:
        candidates: the values of K to try (the estimator's ``num_steps`` is always among them).
        num_observations: validation pairs scored (at most the validation set).
        num_samples: draws per pair.
        significance: how many standard errors a difference must exceed to count.
        max_share: the most time the choice may take, as a share of the fit's time until then.
        min_seconds: the time it may take in any case.
        seed: seed of the draws.
        enabled: ``false`` keeps the config's ``num_steps``.
    """

    def __init__(self, candidates: Sequence[int] = DEFAULT_CANDIDATES, num_observations: int = 1024,
                 num_samples: int = 50, significance: float = 2.0, max_share: float = 0.1, min_seconds: float = 20.0,
                 seed: int = 0, enabled: bool = True):
        candidates = sorted({int(k) for k in candidates})
        if not candidates or candidates[0] < 1:
            raise InputError(f"candidates must be positive step counts, got {candidates}.")
        if num_observations < 2 or num_samples < 2:
            raise InputError(f"num_observations and num_samples must be at least 2, got {num_observations},"
                             f" {num_samples}.")
        if significance < 0 or max_share < 0 or min_seconds < 0:
            raise InputError(f"significance, max_share and min_seconds must be >= 0, got {significance}, {max_share},"
                             f" {min_seconds}.")
        self.candidates, self.seed, self.enabled = candidates, seed, enabled
        self.num_observations, self.num_samples, self.significance = num_observations, num_samples, significance
        self.max_share, self.min_seconds = max_share, min_seconds
        self.choice: StepChoice | None = None
        self._fit_start = time.perf_counter()

    @property
    def scores(self) -> dict[int, dict[str, float]]:
        return self.choice.scores if self.choice is not None else {}

    @property
    def seconds(self) -> float:
        return self.choice.seconds if self.choice is not None else 0.0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fit_start = time.perf_counter()

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.enabled or trainer.interrupted:
            return
        if not hasattr(pl_module, "num_steps"):
            raise InputTypeError(f"SamplingStepSelection chooses CMPE's num_steps; {type(pl_module).__name__}"
                                 " has none.")
        default = int(pl_module.num_steps)
        limit = max(self.max_share * (time.perf_counter() - self._fit_start), self.min_seconds)
        try:
            loader = trainer.datamodule.val_dataloader() if trainer.datamodule is not None else trainer.val_dataloaders
            theta, x = validation_pairs(loader, self.num_observations, pl_module.device)
            rank_zero_info(f"Choosing the number of sampling steps K from {sorted({default, *self.candidates})} on"
                           f" {batch_size(x)} validation simulations (at most {limit:.0f} s;"
                           f" Ctrl-C keeps K = {default})")
            self.choice = select_num_steps(pl_module, theta, x, self.candidates, default, self.num_samples,
                                           self.significance, limit, self.seed,
                                           progress=(trainer.is_global_zero
                                                     and trainer.progress_bar_callback is not None))
        except KeyboardInterrupt:
            paths = [str(p) for p in saved_checkpoints(trainer)]
            rank_zero_warn(f"The choice of K was interrupted: the trained estimator keeps K = {default} (its num_steps)"
                           + (f" in {', '.join(paths)}; choose K later with: cmpe choose-steps --ckpt_path {paths[0]}"
                              if paths else "."))
            return
        pl_module.set_sampler_defaults(num_steps=self.choice.num_steps)
        written = rewrite_saved_checkpoints(trainer, lambda checkpoint: record_choice(checkpoint, self.choice))
        rank_zero_info(f"Scores of K (lower is better; {self.choice.seconds:.0f} s):\n{self.choice.table()}\n"
                       f"Chose K = {self.choice.num_steps}" + (f"; written into {', '.join(map(str, written))}."
                                                               if written else "."))

