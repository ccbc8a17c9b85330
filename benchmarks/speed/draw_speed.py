"""Milliseconds per posterior draw of trained estimators, each with its own sampler, on the same batch.

Usage::

    python -m benchmarks.speed.draw_speed CMPE.ckpt FMPE.ckpt [--observations 10] [--draws 10]

Each checkpoint draws ``draws`` samples for each of ``observations`` zero observations (the cost does not
depend on their values) with its configured sampler (CMPE: ``num_steps`` from its config; FMPE: its solver
and steps), in one call of ``sample`` with ``max_batch_size`` at least the whole batch; the best of
``repeats`` timed calls after a warm-up is reported, with the ratio to the first checkpoint.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.speed.sampling_speed import best_seconds
from cmpe_lightning.estimators import PosteriorEstimator
from cmpe_lightning.utils.structure import zeros


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--observations", type=int, default=10)
    parser.add_argument("--draws", type=int, default=10, help="draws per observation")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    total = args.observations * args.draws
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), torch threads"
          f" {torch.get_num_threads()}, {args.observations} observations x {args.draws} draws per call")
    print("| checkpoint | estimator | network evaluations per draw | ms per draw | relative to the first |")
    print("|---|---|---|---|---|")
    first = None
    for path in args.checkpoints:
        est = PosteriorEstimator.load_from_checkpoint(path, map_location=device).eval()
        x = zeros(est.x_shape, args.observations, device)
        evaluations = est.draw(x, args.draws, max_batch_size=total).network_evaluations
        seconds = best_seconds(lambda: est.sample(x, args.draws, max_batch_size=total), device, args.repeats)
        ms = 1000 * seconds / total
        first = ms if first is None else first
        print(f"| {path} | {type(est).__name__} | {evaluations:g} | {ms:.3f} | {ms / first:.1f}x |")


if __name__ == "__main__":
    main()
