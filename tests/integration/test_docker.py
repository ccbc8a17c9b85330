"""The Docker image, checked without a Docker engine: its install agrees with the README's, it runs as a user
without build tools or caches, and the same install in a fresh environment runs every entry point."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]


def pip_installs(text: str) -> list[list[str]]:
    """The package arguments of every ``pip install`` in ``text`` (flags and the venv's path left out)."""
    found = []
    for match in re.finditer(r"pip install ([^&\n\\]+)", text):
        words = shlex.split(match.group(1))
        found.append([w for w in words if not w.startswith("-")])
    return found


def final_stage(dockerfile: str) -> str:
    return dockerfile.split("\nFROM ")[-1]


def test_dockerfile_installs_what_the_readme_installs():
    readme, dockerfile = (ROOT / "README.md").read_text(), (ROOT / "Dockerfile").read_text()
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    main_install = pip_installs(setup)[0]  # the first command: install and train
    assert main_install == ["."], main_install
    assert pip_installs(dockerfile) == [main_install]  # the same package and extras; -e and --no-cache-dir aside


def test_image_runs_as_a_user_without_build_tools_or_caches():
    dockerfile = (ROOT / "Dockerfile").read_text()
    final = final_stage(dockerfile)
    users = re.findall(r"^USER (\S+)", final, flags=re.M)
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"
    assert not re.search(r"\b(gcc|g\+\+|build-essential|clang|make)\b", final), "no compilers in the final stage"
    assert "rm -rf /var/lib/apt/lists/*" in final and "--no-cache-dir" in dockerfile
    assert re.search(r'^ENTRYPOINT \["cmpe"\]', final, flags=re.M)
    assert "COPY --from=build /opt/venv /opt/venv" in final  # the installed package only, not the sources


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The package installed as the image installs it (not editable), in a fresh virtual environment that sees
    the dependencies already present (installing torch again would take minutes)."""
    venv, source = tmp_path_factory.mktemp("venv"), tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "cmpe_lightning"):  # what the Dockerfile copies into its build stage
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "--quiet", "--no-deps", "--no-cache-dir", str(source)], check=True,
                   capture_output=True)
    return venv / "bin"


def test_entry_points_of_the_installed_package(installed, tmp_path):
    """fit, test, predict and cmpe-simulate from the installed package, in a folder with only the configs (as /app)."""
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    clean = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # as in the image: no checkout
    run = lambda *args: subprocess.run([str(a) for a in args], cwd=tmp_path, capture_output=True, text=True, env=clean)  # noqa: E731
    located = run(installed / "python", "-c", "import cmpe_lightning; print(cmpe_lightning.__file__)")
    assert str(installed.parent) in located.stdout, "the fresh environment must use its own installed copy"
    small = ["--trainer.max_steps", "3", "--trainer.enable_progress_bar", "false", "--data.init_args.num_simulations",
             "128", "--data.init_args.num_validation", "64", "--trainer.limit_val_batches", "1"]
    fit = run(installed / "cmpe", "fit", "--config", "configs/two_moons/cmpe.yaml", *small)
    assert fit.returncode == 0, fit.stderr
    checkpoint = "runs/two_moons_cmpe/version_0/checkpoints/last.ckpt"
    tested = run(installed / "cmpe", "test", "--ckpt_path", checkpoint, "--data.init_args.num_test_observations", "1",
                 "--data.init_args.num_reference_samples", "100", "--data.init_args.num_calibration_observations", "0",
                 "--trainer.enable_progress_bar", "false", "--data.init_args.reference_cache", "false")
    assert tested.returncode == 0, tested.stderr
    np.save(tmp_path / "obs.npy", np.zeros((2, 2), dtype=np.float32))
    predicted = run(installed / "cmpe", "predict", "--ckpt_path", checkpoint, "--observations", "obs.npy",
                    "--predictions.path", "samples.npz", "--trainer.enable_progress_bar", "false")
    assert predicted.returncode == 0, predicted.stderr
    assert np.load(tmp_path / "samples.npz")["samples"].shape[:2] == (2, 1000)
    simulated = run(installed / "cmpe-simulate", "--simulator", "cmpe_lightning.TwoMoons", "--num", "8", "--out",
                    "bank", "--no-progress")
    assert simulated.returncode == 0 and (tmp_path / "bank" / "bank.json").is_file(), simulated.stderr
    # the benchmark harness is in the wheel; the task configs are the user's (a checkout's configs/ or --configs)
    helped = run(installed / "cmpe-benchmark", "--help")
    assert helped.returncode == 0 and "cmpe-benchmark" in helped.stdout, helped.stderr
    missing = run(installed / "cmpe-benchmark", "run", "--configs", "nowhere", "--tasks", "two_moons", "--output", "b")
    assert missing.returncode != 0 and "--configs must be" in missing.stderr + missing.stdout
