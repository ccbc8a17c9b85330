"""Mistakes in a command line, the user's simulator or the machine are one paragraph (exit code 2, no traceback,
no jsonargparse dump) or a warning; ``cmpe --help`` answers without loading PyTorch."""

import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cmpe_lightning.cli import CMPECLI, main
from cmpe_lightning.cli_checks import check_command, check_cpu_processes, cpu_cores
from cmpe_lightning.cli_entry import HELP, SUBCOMMANDS

CONFIGS = Path(__file__).parents[2] / "configs"
TWO_MOONS = str(CONFIGS / "two_moons" / "cmpe.yaml")
OWN = ["fit", "--model", "cmpe_lightning.ConsistencyPosteriorEstimator", "--data",
       "cmpe_lightning.SimulationDataModule", "--data.simulator", "cmpe_lightning.FunctionSimulator",
       "--data.simulator.prior", "cmpe_lightning.BoxUniform", "--data.simulator.prior.low", "[0, 0, 0]",
       "--data.simulator.prior.high", "[1, 1, 1]", "--trainer.max_steps", "1"]
MY_MODEL = textwrap.dedent('''
    import numpy as np
    import torch

    def line5(theta, rng):  # one run of a model of 5 parameters
        return theta[0] + theta[4] * np.linspace(0, 1, 10) + 0.1 * rng.standard_normal(10)

    def torch_model(theta):  # vectorized, in torch
        return torch.sin(theta)
''')


def refused(capsys, args: list[str], message: str) -> str:
    """``cmpe args`` ends with exit code 2 and one paragraph matching ``message``, without a traceback or union dump."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and re.search(message, err), err
    assert "Traceback" not in err and "Union" not in err and len(err.strip().splitlines()) == 2, err
    return err


@pytest.fixture
def own_folder(tmp_path, monkeypatch):
    (tmp_path / "my_model.py").write_text(MY_MODEL)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("my_model", None)


@pytest.mark.parametrize("subcommand", ["test", "predict"])
def test_test_and_predict_need_a_checkpoint(subcommand, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    refused(capsys, [subcommand, "--config", TWO_MOONS], rf"cmpe {subcommand} needs --ckpt_path")
    check_command("validate", {"trainer": {}}, None)  # validate may run the config's untrained network


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("accelerator", ["gpu", "cuda"])
def test_a_gpu_accelerator_without_a_gpu_is_refused(accelerator, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["fit", "--config", TWO_MOONS, "--trainer.accelerator", accelerator],
            rf"--trainer.accelerator {accelerator}: PyTorch sees no GPU .* Use --trainer.accelerator cpu")


@pytest.mark.parametrize("save_dir", ["notes.txt", "notes.txt/runs"])
def test_a_logger_folder_that_is_a_file_is_refused(save_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    refused(capsys, ["fit", "--config", TWO_MOONS, "--trainer.logger.init_args.save_dir", save_dir],
            rf"save_dir\) '{save_dir}' .*file, not a folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_more_cpu_processes_than_cores_warns():
    many = cpu_cores() + 1
    with pytest.warns(UserWarning, match=rf"--trainer.devices {many} starts {many} training processes"):
        check_cpu_processes("cpu", str(many))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_cpu_processes("cpu", cpu_cores())  # as many processes as cores: no warning


def test_predict_with_another_estimator_class_than_the_checkpoints_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    checkpoint = tmp_path / "cmpe.ckpt"  # what the CLI reads of a checkpoint before loading it
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": "cmpe_lightning.ConsistencyPosteriorEstimator",
                                                        "theta_shape": (2,), "x_shape": (2,)}}, checkpoint)
    np.save(tmp_path / "obs.npy", np.zeros((2, 2), dtype=np.float32))
    common = ["--ckpt_path", str(checkpoint), "--observations", "obs.npy"]
    message = r"holds a ConsistencyPosteriorEstimator .* asks for a FlowMatchingPosteriorEstimator"
    fmpe = "cmpe_lightning.FlowMatchingPosteriorEstimator"
    refused(capsys, ["predict", "--config", TWO_MOONS, *common, "--model", fmpe], message)
    refused(capsys, ["predict", "--config", str(CONFIGS / "two_moons" / "fmpe.yaml"), *common], message)


@pytest.mark.parametrize("function, options, message", [
    ("my_model.line5", ["--data.simulator.backend", "numpy", "--data.simulator.vectorized", "false"],
     r"my_model.line5 failed .* shape \(3,\) .* prior BoxUniform, theta_dim 3.* IndexError"),
    ("my_model.torch_model", ["--data.simulator.backend", "numpy"],
     r"my_model.torch_model failed .* float64 numpy array .* It runs with backend: torch"),
])
def test_mistakes_in_a_function_simulator_are_one_paragraph_naming_the_function(function, options, message, own_folder,
                                                                                capsys):
    refused(capsys, [*OWN, "--data.simulator.simulator", function, *options], message)


def test_top_level_help_loads_no_pytorch_and_lists_the_real_subcommands(capsys):
    script = ("import sys; from cmpe_lightning.cli_entry import main; main(['--help']);"
              " print(sorted({'torch', 'lightning', 'jsonargparse'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("usage: cmpe") and done.stdout.strip().endswith("[]"), done.stdout
    assert set(SUBCOMMANDS) == set(CMPECLI.subcommands())
    with pytest.raises(SystemExit):
        main(["--help"])  # the real parser's top-level help: its options are the ones the fast help lists
    real_options = capsys.readouterr().out
    for option in re.findall(r"^  (-[-\w]+)", HELP, re.MULTILINE):
        assert option in real_options or option in ("-h", "--debug"), option
