"""Sampling speed of a trained estimator against bare network passes and the machine's arithmetic limit.

Usage::

    python -m benchmarks.speed.sampling_speed CHECKPOINT [--draws 10000] [--steps 2 10 30]

For each number of steps K it reports milliseconds per 1000 posterior draws (``draws`` draws per call,
one observation), the time of K bare forward passes of the backbone on the same batch (their ratio is
the sampler's overhead), and the arithmetic limit: backbone FLOPs per draw times K, divided by the
measured throughput of a large float32 matmul on this machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn

from cmpe_lightning.estimators import PosteriorEstimator
from cmpe_lightning.networks.preconditioning import Preconditioner
from cmpe_lightning.utils.modes import synchronize


def best_seconds(fn: Callable[[], object], device: torch.device, repeats: int = 7) -> float:
    """The minimum wall time of ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times)


def linear_flops(module: nn.Module) -> int:
    """Multiply-add FLOPs (2 per weight) of one input row through every ``nn.Linear`` of ``module``."""
    return sum(2 * m.in_features * m.out_features for m in module.modules() if isinstance(m, nn.Linear))


def matmul_flops_per_second(device: torch.device, size: int = 2048) -> float:
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    return 2 * size**3 / best_seconds(lambda: a @ b, device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 10, 30])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    est = PosteriorEstimator.load_from_checkpoint(args.checkpoint, map_location=device).eval()
    x = {name: torch.zeros(1, *shape, device=device) for name, shape in est.x_shape.items()} if isinstance(
        est.x_shape, dict) else torch.zeros(1, *est.x_shape, device=device)
    backbones = [m.network for m in est.modules() if isinstance(m, Preconditioner)]
    if not backbones:
        parser.error(f"{type(est).__name__} has no backbone behind a preconditioner (a coupling flow?):"
                     " nothing to compare.")
    network = backbones[0]
    inputs = (torch.randn(args.draws, *est.theta_shape, device=device), torch.rand(args.draws, device=device),
              torch.randn(args.draws, est.summary_dim, device=device))
    flops_per_draw = linear_flops(network)
    peak = matmul_flops_per_second(device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, matmul {peak / 1e9:.1f} GFLOP/s,"
          f" backbone {flops_per_draw / 1e6:.3f} MFLOP per draw and step")
    print("| K | ms per 1000 draws | K bare passes (ms per 1000) | sampler / bare | sampler / (K x best single pass)"
          " | arithmetic limit (ms) | ratio to limit |")
    print("|---|---|---|---|---|---|---|")
    with torch.no_grad():
        single = best_seconds(lambda: network(*inputs), device)
        for k in args.steps:
            sampler = best_seconds(lambda: est.sample(x, args.draws, num_steps=k), device)
            # K passes timed as one call, as the sampler's K steps are (the best of K single passes times K
            # would credit the bare network with its luckiest pass K times over)
            bare = best_seconds(lambda: [network(*inputs) for _ in range(k)], device)
            limit = k * flops_per_draw * args.draws / peak
            per_1000 = 1000 / args.draws * 1000
            print(f"| {k} | {sampler * per_1000:.2f} | {bare * per_1000:.2f} | {sampler / bare:.2f} |"
                  f" {sampler / (k * single):.2f} | {limit * per_1000:.2f} | {sampler / limit:.2f} |")


if __name__ == "__main__":
    main()
