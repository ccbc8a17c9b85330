"""Peak resident memory of drawing many posterior samples at one observation in one call.

Usage::

    python -m benchmarks.speed.sampling_memory CHECKPOINT [--num_samples 2000000] [--max_batch_size N]

Prints the resident set size after loading the estimator and its peak while ``sample`` draws
``num_samples`` samples at a zero observation (the draws are computed in chunks of ``max_batch_size``;
default: the estimator's own). Run it in a fresh process: the peak is the process's.
"""

from __future__ import annotations

import argparse
import resource
import time

from cmpe_lightning.estimators import PosteriorEstimator
from cmpe_lightning.utils.structure import zeros


def peak_resident_mb() -> float:
    """The process's peak resident set size so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--num_samples", type=int, default=2_000_000)
    parser.add_argument("--max_batch_size", type=int, default=None)
    args = parser.parse_args(argv)

    est = PosteriorEstimator.load_from_checkpoint(args.checkpoint, map_location="cpu").eval()
    x = zeros(est.x_shape, 1)
    est.sample(x, 10)  # warm-up: allocator pools and lazy initialization belong to the baseline
    before = peak_resident_mb()
    start = time.perf_counter()
    options = {} if args.max_batch_size is None else {"max_batch_size": args.max_batch_size}
    samples = est.sample(x, args.num_samples, **options)
    seconds = time.perf_counter() - start
    result = {"num_samples": args.num_samples, "baseline_mb": before, "peak_mb": peak_resident_mb(), "seconds": seconds,
              "output_mb": samples.numel() * samples.element_size() / 2**20}
    print(f"{type(est).__name__}: {args.num_samples} draws of shape {tuple(samples.shape[2:])} in {seconds:.1f} s;"
          f" resident memory {before:.0f} MB after loading, peak {result['peak_mb']:.0f} MB"
          f" (the draws themselves: {result['output_mb']:.0f} MB)")
    return result


if __name__ == "__main__":
    main()
