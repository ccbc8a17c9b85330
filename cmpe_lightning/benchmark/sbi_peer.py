"""sbi's estimators as peers of the benchmark: trains one on given simulations and draws at given observations.

This file runs under the Python of a separate environment that has the newest sbi (sbibm pins ``sbi<0.22``, which has
no FMPE), driven by the harness as a subprocess, so it imports nothing of cmpe_lightning: only numpy, torch and sbi.
The peers run with sbi's own defaults (``NPE`` with ``density_estimator="nsf"``, ``FMPE()``; ``train()`` as it is)
and the task's prior, as sbibm ran sbi's NPE.

Usage (the harness writes the input file)::

    PEER_PYTHON path/to/cmpe_lightning/benchmark/sbi_peer.py --method npe --data in.npz --out out.npz

``in.npz`` holds ``theta (n, d)``, ``x (n, ...)``, ``observations (m, ...)``, ``num_samples``, ``seed`` and the prior
as ``prior_kind`` (``uniform``: ``prior_low``, ``prior_high``; ``normal``: ``prior_loc``, ``prior_covariance``);
``out.npz`` gets ``samples (m, num_samples, d)``, ``fit_seconds``, ``sample_seconds``, ``epochs`` and ``sbi_version``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

METHODS = ("npe", "fmpe")


def prior_from(data: dict[str, np.ndarray]) -> torch.distributions.Distribution:
    """The task's prior from its description in the input file."""
    kind = str(data["prior_kind"])
    if kind == "uniform":
        from sbi.utils import BoxUniform

        return BoxUniform(torch.as_tensor(data["prior_low"], dtype=torch.float32),
                          torch.as_tensor(data["prior_high"], dtype=torch.float32))
    if kind == "normal":
        return torch.distributions.MultivariateNormal(
            torch.as_tensor(data["prior_loc"], dtype=torch.float32),
            covariance_matrix=torch.as_tensor(data["prior_covariance"], dtype=torch.float32))
    raise ValueError(f"prior_kind {kind!r}: expected 'uniform' or 'normal'.")


def run(method: str, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """sbi's ``method`` trained on the file's pairs with its defaults, and its draws at the file's observations."""
    import sbi
    from sbi.inference import FMPE, NPE

    torch.manual_seed(int(data["seed"]))
    prior = prior_from(data)
    theta = torch.as_tensor(data["theta"], dtype=torch.float32)
    x = torch.as_tensor(data["x"], dtype=torch.float32)
    inference = NPE(prior=prior, density_estimator="nsf") if method == "npe" else FMPE(prior=prior)
    start = time.perf_counter()
    inference.append_simulations(theta, x)
    inference.train(show_train_summary=False)
    fit_seconds = time.perf_counter() - start
    posterior = inference.build_posterior()
    num_samples = int(data["num_samples"])
    start = time.perf_counter()
    samples = [posterior.sample((num_samples,), x=torch.as_tensor(o, dtype=torch.float32)[None],
                                show_progress_bars=False).numpy()
               for o in data["observations"]]
    sample_seconds = time.perf_counter() - start
    return {"samples": np.stack(samples).astype(np.float32), "fit_seconds": np.float64(fit_seconds),
            "sample_seconds": np.float64(sample_seconds), "epochs": np.int64(inference.epoch),
            "sbi_version": np.str_(sbi.__version__)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=METHODS, required=True)
    parser.add_argument("--data", required=True, help="the input .npz the harness wrote")
    parser.add_argument("--out", required=True, help="where to write the draws (.npz)")
    args = parser.parse_args(argv)
    with np.load(args.data, allow_pickle=False) as file:
        data = dict(file)
    np.savez(args.out, **run(args.method, data))


if __name__ == "__main__":
    main()
