"""The sbibm suite in the benchmark harness: sbibm's tasks trained with the default recipe, and sbi as a peer.

Every estimator of the project trains through the same CLI as ``cmpe fit`` with no per-task config: the estimator's
class, :class:`~cmpe_lightning.SBIBMTask` as the simulator, and the default recipe (:mod:`cmpe_lightning.recipe`) for
everything else. sbi's NPE (neural spline flow) and FMPE train with sbi's own defaults in an environment of their own
(:mod:`.sbi_peer`, run by ``--peer-python``) on the same simulations, and are scored by the same C2ST on the same
reference samples. Every method sees the budget, validation pairs included: the project's estimators validate on a
tenth of it, as sbi's ``train()`` does.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..tasks.sbibm_tasks import PYTHON_TASKS

TASKS = PYTHON_TASKS
DEFAULT_TASKS = ("two_moons", "slcp", "gaussian_linear_uniform", "bernoulli_glm")
MODELS = {
    "cmpe": ["--model", "cmpe_lightning.ConsistencyPosteriorEstimator"],
    "fmpe": ["--model", "cmpe_lightning.FlowMatchingPosteriorEstimator"],
    "nsf": ["--model", "cmpe_lightning.CouplingFlowPosteriorEstimator", "--model.init_args.transform", "spline"],
    "acf": ["--model", "cmpe_lightning.CouplingFlowPosteriorEstimator", "--model.init_args.transform", "affine"],
}
PEERS = {"sbi_npe": "npe", "sbi_fmpe": "fmpe"}  # harness name -> sbi_peer.py's --method
ESTIMATORS = (*MODELS, *PEERS)
DEFAULT_ESTIMATORS = ("cmpe", "nsf", "fmpe", "sbi_npe", "sbi_fmpe")
VALIDATION_FRACTION = 0.1  # of the budget, as sbi's train() holds out


def make_peer_environment(folder: Path, sbi: str = "sbi") -> Path:
    """Creates the peers' environment: a venv at ``folder`` that sees this environment's packages (torch is not
    installed twice) with ``sbi`` (a pip requirement, default the newest) installed in it; returns its Python."""
    import venv

    if folder.exists():
        raise SystemExit(f"cmpe-benchmark: {folder} exists; remove it or give another --path.")
    venv.create(folder, system_site_packages=True, with_pip=True)
    python = folder / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", sbi], check=True)
    version = subprocess.run([str(python), "-c", "import sbi; print(sbi.__version__)"], capture_output=True, text=True,
                             check=True).stdout.strip()
    print(f"cmpe-benchmark: sbi {version} in {folder}; run the suite with --peer-python {python}")
    return python


def task_arguments(task: str, estimator: str) -> list[str]:
    """The CLI arguments that stand for a config: the estimator's class and the sbibm task, nothing else."""
    model = MODELS.get(estimator, MODELS["cmpe"])  # a peer's simulations come from the same DataModule
    return [*model, "--data", "cmpe_lightning.SimulationDataModule",
            "--data.init_args.simulator", "cmpe_lightning.SBIBMTask", "--data.init_args.simulator.init_args.name", task]


def budget_arguments(budget: int) -> list[str]:
    """Training and validation pairs that together make the budget."""
    validation = max(1, round(VALIDATION_FRACTION * budget))
    return ["--data.init_args.num_simulations", str(budget - validation),
            "--data.init_args.num_validation", str(validation)]


def run_peer_cell(cell: dict[str, Any], arguments: list[str], runs: Path, peer_python: str | None) -> dict[str, Any]:
    """Trains sbi's estimator of ``cell`` on the cell's simulations in the peer environment and scores its draws at
    the test observations with the project's C2ST: one row of results."""
    from ..cli import run_cli
    from ..metrics.c2st import c2st

    if not peer_python:
        raise SystemExit(f"cmpe-benchmark: {cell['estimator']} runs sbi in an environment of its own; give its Python"
                         " with --peer-python (make it with: cmpe-benchmark peer-env --path .venv-sbi).")
    folder = runs / f"{cell['task']}_{cell['estimator']}_{cell['budget']}_seed{cell['seed']}"
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / "draws.npz"
    if not output.exists():
        cli = run_cli([*arguments, "--trainer.logger", "false"], run=False)
        data = cli.datamodule
        theta, x = data.fit_simulations()
        test = data.test_set()
        inputs = folder / "simulations.npz"
        np.savez(inputs, theta=theta.numpy(), x=x.numpy(), observations=test["x"].numpy(),
                 num_samples=np.int64(test["reference"].shape[1]), seed=np.int64(cell["seed"]),
                 **data.simulator.prior_parameters())
        np.save(folder / "reference.npy", test["reference"].numpy())
        # run by its path: the peer's Python need not have this package
        script = importlib.util.find_spec(f"{__package__}.sbi_peer").origin
        command = [peer_python, script, "--method", PEERS[cell["estimator"]], "--data", str(inputs.resolve()),
                   "--out", str(output.with_suffix(".partial.npz").resolve())]
        start = time.perf_counter()
        with (folder / "peer.log").open("w") as log:
            # in the cell's folder: sbi writes its training logs to ./sbi-logs
            finished = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
        if finished.returncode != 0:
            tail = (folder / "peer.log").read_text()[-2000:]
            raise SystemExit(f"cmpe-benchmark: the sbi peer failed ({' '.join(command)}):\n{tail}")
        output.with_suffix(".partial.npz").replace(output)
        (folder / "wall_seconds.json").write_text(json.dumps(time.perf_counter() - start))
        inputs.unlink()  # the simulations are rebuilt from the seed; the draws and the reference are kept
    with np.load(output, allow_pickle=False) as file:
        result = dict(file)
    reference = torch.as_tensor(np.load(folder / "reference.npy"))
    samples = torch.as_tensor(result["samples"])
    score = float(np.mean([c2st(r, s, n_jobs=-1) for r, s in zip(reference, samples)]))
    draws = samples.shape[0] * samples.shape[1]
    return {"sampler": "{}", "solver": "", "sampler_steps": "", "auto_num_steps": "",
            "fit_seconds": round(float(result["fit_seconds"]), 2), "selection_seconds": 0.0,
            "train_steps": "", "train_epochs": int(result["epochs"]), "c2st": round(score, 6),
            "ms_per_1000_draws": round(1e6 * float(result["sample_seconds"]) / draws, 6),
            "peer": f"sbi {result['sbi_version']}"}
