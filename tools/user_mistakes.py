"""Runs the mistakes a new user makes and tabulates what each one prints: the message, the exit code, whether a
traceback shows, and whether a file the user had was lost or changed.

Usage:
    python -m tools.user_mistakes --out docs/user_mistakes.md

Each mistake runs as its own ``cmpe`` / ``cmpe-simulate`` / ``cmpe-plot`` / ``python`` process in a scratch
folder that holds a briefly trained two-moons checkpoint, a simulator file and a few data files.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TWO_MOONS, GMM = CONFIGS / "two_moons" / "cmpe.yaml", CONFIGS / "gmm" / "cmpe.yaml"
CKPT = "runs/two_moons_cmpe/version_0/checkpoints/last.ckpt"
FAST = ["--trainer.max_steps", "3", "--trainer.enable_progress_bar", "false"]

MY_MODEL = '''
import numpy as np
import torch
from cmpe_lightning import Simulator

def simulate_wrong(theta):          # returns one row for the whole batch
    return theta[:1]

def line5(theta, rng):              # one run of a model of 5 parameters
    return theta[0] + theta[4] * np.linspace(0, 1, 10) + 0.1 * rng.standard_normal(10)

def torch_model(theta):             # vectorized, in torch
    return torch.sin(theta) + 0.1 * torch.randn_like(theta)

def numpy_model(theta, rng):        # vectorized, in numpy
    return np.sin(theta) + 0.1 * rng.standard_normal(theta.shape)

def no_return(theta):
    x = 2 * theta

def total(theta, rng):              # one number per run, not an array
    return float(theta.sum())

def growing(theta, rng, runs=[]):   # one value more on every call
    runs.append(1)
    return np.zeros(len(runs) + 2)

class WrongShape(Simulator):        # says x_shape (10,), simulates 12 values
    theta_dim, x_shape = 2, (10,)

    def sample_prior(self, num, generator):
        return torch.rand(num, 2, generator=generator, device=generator.device)

    def simulate(self, theta, generator):
        return torch.zeros(len(theta), 12, device=theta.device)
'''

SETUP = textwrap.dedent('''
    import numpy as np
    np.save("obs.npy", np.zeros((3, 2), dtype=np.float32))
    np.save("obs_wrong_shape.npy", np.zeros((3, 5), dtype=np.float32))
    bad = np.zeros((3, 2), dtype=np.float32); bad[1, 0] = np.nan; np.save("obs_nan.npy", bad)
    np.savetxt("obs_wrong.csv", np.zeros((2, 3)), delimiter=",")
    np.savetxt("theta.csv", np.zeros((10, 2)), delimiter=","); np.savetxt("x.csv", np.zeros((9, 3)), delimiter=",")
    np.savetxt("x10.csv", np.zeros((10, 3)), delimiter=",")  # as long as theta.csv: only the folder is wrong
    open("keep/notes.txt", "w").write("my notes")
    open("posterior.npz", "wb").write(b"earlier results")
''')

OWN_MODEL = ["cmpe", "fit", "--model", "cmpe_lightning.ConsistencyPosteriorEstimator", "--data",
             "cmpe_lightning.SimulationDataModule", *FAST]
FUNCTION = [*OWN_MODEL, "--data.simulator", "cmpe_lightning.FunctionSimulator", "--data.simulator.prior",
            "cmpe_lightning.BoxUniform", "--data.simulator.prior.low", "[0, 0, 0]",
            "--data.simulator.prior.high", "[1, 1, 1]"]
PER_RUN = ["--data.simulator.backend", "numpy", "--data.simulator.vectorized", "false"]
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

# (what the user did, the command's arguments); files named in PROTECTED must survive unchanged
MISTAKES: list[tuple[str, list[str]]] = [
    ("config file misspelt", ["cmpe", "fit", "--config", "configs/two_moon.yaml"]),
    ("option misspelt", ["cmpe", "fit", "--config", str(TWO_MOONS), "--trainer.max_stepz", "3"]),
    ("option value of the wrong type", ["cmpe", "fit", "--config", str(TWO_MOONS), "--trainer.max_steps", "many"]),
    ("simulation budget 0", ["cmpe", "fit", "--config", str(TWO_MOONS), "--data.init_args.num_simulations", "0"]),
    ("simulator module that does not exist", ["cmpe", "fit", "--model", "cmpe_lightning.ConsistencyPosteriorEstimator",
                                              "--data", "cmpe_lightning.SimulationDataModule", "--data.simulator",
                                              "my_modle.MySimulator"]),
    ("function simulator with the wrong vectorized setting",
     ["cmpe", "fit", "--model", "cmpe_lightning.ConsistencyPosteriorEstimator",
      "--data", "cmpe_lightning.SimulationDataModule",
      "--data.simulator", "cmpe_lightning.FunctionSimulator", "--data.simulator.prior", "cmpe_lightning.BoxUniform",
      "--data.simulator.prior.low", "[0, 0]", "--data.simulator.prior.high", "[1, 1]",
      "--data.simulator.simulator", "my_model.simulate_wrong", *FAST]),
    ("test with another task's config", ["cmpe", "test", "--config", str(GMM), "--ckpt_path", CKPT]),
    ("checkpoint path misspelt", ["cmpe", "predict", "--ckpt_path", "runs/two_moons_cmpe/version_0/last.ckpt",
                                  "--observations", "obs.npy"]),
    ("predict without a checkpoint or config", ["cmpe", "predict", "--observations", "obs.npy"]),
    ("checkpoint copied away from its run, no config", ["cmpe", "predict", "--ckpt_path", "keep/model.ckpt",
                                                        "--observations", "obs.npy"]),
    ("observations file missing", ["cmpe", "predict", "--ckpt_path", CKPT, "--observations", "obs_missing.npy"]),
    ("observations of the wrong shape", ["cmpe", "predict", "--ckpt_path", CKPT, "--observations",
                                         "obs_wrong_shape.npy"]),
    ("observations with NaN", ["cmpe", "predict", "--ckpt_path", CKPT, "--observations", "obs_nan.npy",
                               "--predictions.path", "nan.npz"]),
    ("CSV observations with the wrong number of columns", ["cmpe", "predict", "--ckpt_path", CKPT, "--observations",
                                                            "obs_wrong.csv"]),
    ("predictions would overwrite an earlier file", ["cmpe", "predict", "--ckpt_path", CKPT, "--observations",
                                                     "obs.npy", "--predictions.path", "posterior.npz"]),
    ("unknown sampler option", ["cmpe", "predict", "--ckpt_path", CKPT, "--observations", "obs.npy",
                                "--sampler", "{num_stepz: 3}", "--predictions.path", "s.npz"]),
    ("network setting changed at predict", ["cmpe", "predict", "--ckpt_path", CKPT, "--observations", "obs.npy",
                                            "--model.init_args.backbone.init_args.width", "64",
                                            "--predictions.path", "w.npz"]),
    ("bank folder that does not exist", ["cmpe", "fit", "--model", "cmpe_lightning.ConsistencyPosteriorEstimator",
                                         "--data", "cmpe_lightning.SimulationBankDataModule",
                                         "--data.path", "banks/nothing"]),
    ("bank output name misspelt", ["cmpe", "fit", "--model", "cmpe_lightning.ConsistencyPosteriorEstimator",
                                   "--data", "cmpe_lightning.SimulationBankDataModule", "--data.path", "bank",
                                   "--data.outputs", "[growth]"]),
    ("more validation runs than the bank has",
     ["cmpe", "fit", "--model", "cmpe_lightning.ConsistencyPosteriorEstimator",
      "--data", "cmpe_lightning.SimulationBankDataModule", "--data.path", "bank",
      "--data.num_validation", "100000", *FAST]),
    ("cmpe-simulate with --num 0", ["cmpe-simulate", "--simulator", "cmpe_lightning.TwoMoons", "--num", "0",
                                    "--out", "b0"]),
    ("cmpe-simulate into a bank of another simulator", ["cmpe-simulate", "--simulator", "cmpe_lightning.BimodalGMM",
                                                        "--num", "40", "--out", "bank"]),
    ("import of arrays of different lengths", ["cmpe-simulate", "import", "theta.csv", "x.csv", "--out", "imported"]),
    ("import into a folder with files", ["cmpe-simulate", "import", "theta.csv", "x10.csv", "--out", "keep"]),
    ("plot of a file that is not a samples file", ["cmpe-plot", "obs.npy"]),
    ("test without --ckpt_path", ["cmpe", "test", "--config", str(TWO_MOONS)]),
    ("predict with a config but without --ckpt_path",
     ["cmpe", "predict", "--config", str(TWO_MOONS), "--observations", "obs.npy"]),
    ("predict with another estimator class than the checkpoint's",
     ["cmpe", "predict", "--ckpt_path", CKPT, "--observations", "obs.npy", "--model",
      "cmpe_lightning.FlowMatchingPosteriorEstimator"]),
    ("--trainer.accelerator gpu without a GPU",
     ["cmpe", "fit", "--config", str(TWO_MOONS), "--trainer.accelerator", "gpu", *FAST]),
    ("logger save_dir that is a file",
     ["cmpe", "fit", "--config", str(TWO_MOONS), "--trainer.logger.init_args.save_dir", "keep/notes.txt", *FAST]),
    (f"--trainer.devices {CORES + 1} on a CPU of {CORES} cores (a warning; it trains)",
     ["cmpe", "fit", "--config", str(TWO_MOONS), "--trainer.devices", str(CORES + 1), *FAST,
      "--data.init_args.num_simulations", "256", "--data.init_args.num_validation", "64"]),
    ("prior of 3 dimensions for a function of 5 parameters",
     [*FUNCTION, "--data.simulator.simulator", "my_model.line5", *PER_RUN]),
    ("backend numpy for a function in torch",
     [*FUNCTION, "--data.simulator.simulator", "my_model.torch_model", "--data.simulator.backend", "numpy"]),
    ("backend torch for a function in numpy", [*FUNCTION, "--data.simulator.simulator", "my_model.numpy_model"]),
    ("function that returns None", [*FUNCTION, "--data.simulator.simulator", "my_model.no_return"]),
    ("function that returns a number, not an array",
     [*FUNCTION, "--data.simulator.simulator", "my_model.total", *PER_RUN]),
    ("function whose output shape differs between calls",
     [*FUNCTION, "--data.simulator.simulator", "my_model.growing", *PER_RUN]),
    ("function output that differs from the x_shape given",
     [*FUNCTION, "--data.simulator.simulator", "my_model.torch_model", "--data.simulator.x_shape", "[5]"]),
    ("Simulator class whose output differs from its x_shape",
     [*OWN_MODEL, "--data.simulator", "my_model.WrongShape", "--data.num_simulations", "256"]),
    ("Python: NaN observation", ["python", "-c", "import torch; from cmpe_lightning import Posterior; "
                                 f"Posterior.load('{CKPT}').sample(torch.tensor([[float('nan'), 0.0]]), 10)"]),
    ("Python: observation far outside the simulations",
     ["python", "-W", "error::UserWarning", "-c",
      "import torch; from cmpe_lightning import Posterior; "
      f"Posterior.load('{CKPT}').sample(torch.tensor([[50.0, 0.0]]), 10)"]),
]
PROTECTED = ["keep/notes.txt", "keep/model.ckpt", "posterior.npz", "bank/bank.json"]


def digest(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in PROTECTED
            if (folder / name).exists()}


def prepare(folder: Path) -> None:
    (folder / "keep").mkdir()
    (folder / "my_model.py").write_text(MY_MODEL)
    subprocess.run([sys.executable, "-c", SETUP], cwd=folder, check=True)
    subprocess.run(["cmpe", "fit", "--config", str(TWO_MOONS), "--trainer.max_steps", "20",
                    "--data.init_args.num_simulations", "256", "--data.init_args.num_validation", "64",
                    "--trainer.enable_progress_bar", "false"], cwd=folder, check=True, capture_output=True)
    shutil.copy(folder / CKPT, folder / "keep" / "model.ckpt")
    subprocess.run(["cmpe-simulate", "--simulator", "cmpe_lightning.TwoMoons", "--num", "40", "--out", "bank",
                    "--no-progress"], cwd=folder, check=True, capture_output=True)


def run(folder: Path) -> list[dict]:
    rows = []
    env = {**os.environ, "CMPE_DEBUG": ""}
    for what, command in MISTAKES:
        before = digest(folder)
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env, timeout=600)
        output = (done.stderr + done.stdout).strip()
        lines = output.splitlines() or [""]
        errors = [line for line in lines if re.search(r"error: |Error: ", line)]
        warned = [line for line in lines if re.search(r"[Ww]arning: |\.py:\d+: ", line)]
        message = errors[-1] if errors else warned[0] if warned else lines[-1]  # a warning comes first, an error last
        rows.append({"mistake": what,
                     "command": " ".join(command[:1] + [c.replace(str(CONFIGS), "configs") for c in command[1:]]),
                     "exit": done.returncode, "traceback": "Traceback" in output,
                     "message": message.strip().replace(f"{CONFIGS.parent}/", ""),  # a warning's source file
                     "files intact": before == digest(folder)})
        print(f"{what}: exit {done.returncode}, traceback {rows[-1]['traceback']}: {message[:160]}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| # | mistake | exit code | traceback | files intact | message |", "|---|---|---|---|---|---|"]
    for i, row in enumerate(rows, 1):
        message = row["message"].replace("|", "\\|")
        lines.append(f"| {i} | {row['mistake']} | {row['exit']} | {'yes' if row['traceback'] else 'no'} |"
                     f" {'yes' if row['files intact'] else '**no**'} | {message} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="a Markdown file for the table (default: print it)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        prepare(folder)
        rows = run(folder)
    text = table(rows)
    if args.out:
        Path(args.out).write_text(f"# What a user's mistakes print\n\n`python -m tools.user_mistakes"
                                  f" --out {args.out}`\n\n{text}\n")
    print(text)
    return rows


if __name__ == "__main__":
    main()
