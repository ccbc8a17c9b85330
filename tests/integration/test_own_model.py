"""The ways in for a model of one's own: a Simulator in one's own file, plain functions, simulations made elsewhere."""

import itertools
import re
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch.distributions import Uniform

from cmpe_lightning import BoxUniform, FunctionSimulator
from cmpe_lightning.bank.cli import main as simulate_main
from cmpe_lightning.bank.format import read_manifest, read_shard
from cmpe_lightning.bank.importer import import_bank
from cmpe_lightning.cli import run_cli

MY_MODEL = textwrap.dedent('''
    import numpy as np
    import torch
    from cmpe_lightning import BoxUniform, Simulator

    TIMES = np.linspace(0.0, 1.0, 10)

    def prior():
        return BoxUniform([-1.0, -1.0], [1.0, 1.0])

    def simulate(theta, rng):  # one run: a noisy line
        return theta[0] + theta[1] * TIMES + 0.1 * rng.standard_normal(10)

    class Line(Simulator):
        theta_dim, x_shape = 2, (10,)

        def sample_prior(self, num, generator):
            return 2 * torch.rand(num, 2, generator=generator, device=generator.device) - 1

        def simulate(self, theta, generator):
            t = torch.as_tensor(TIMES, dtype=theta.dtype, device=theta.device)
            noise = torch.randn(len(theta), 10, generator=generator, device=generator.device)
            return theta[:, :1] + theta[:, 1:] * t + 0.1 * noise
''')
SMALL = ["--trainer.max_steps", "20", "--trainer.enable_progress_bar", "false",
         "--trainer.enable_model_summary", "false", "--trainer.logger.init_args.save_dir", "runs"]


@pytest.fixture
def own_folder(tmp_path, monkeypatch):
    """A working folder with the user's my_model.py; sys.path and sys.modules are restored afterwards."""
    (tmp_path / "my_model.py").write_text(MY_MODEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    yield tmp_path
    sys.modules.pop("my_model", None)


def fit_and_sample(folder, data_args):
    args = ["fit", "--model", "cmpe_lightning.ConsistencyPosteriorEstimator", "--model.init_args.num_steps", "2",
            "--trainer.logger", "lightning.pytorch.loggers.TensorBoardLogger", *SMALL, *data_args]
    cli = run_cli(args)
    assert cli.trainer.global_step == 20
    x = cli.datamodule.training_data()[1][:3]
    samples = cli.model.sample(x, num_samples=50)
    assert samples.shape == (3, 50, 2) and torch.isfinite(samples).all()
    return cli


def test_simulator_class_in_own_file_is_found_by_cmpe_and_cmpe_simulate(own_folder):
    fit_and_sample(own_folder, ["--data", "cmpe_lightning.SimulationDataModule", "--data.simulator", "my_model.Line",
                                "--data.num_validation", "64", "--data.num_simulations", "256"])
    simulate_main(["--simulator", "my_model.Line", "--num", "30", "--out", "bank", "--no-progress"])
    assert read_manifest(own_folder / "bank")["simulator"]["class_path"] == "my_model.Line"


def test_function_simulator_from_yaml_trains_and_samples(own_folder):
    (own_folder / "config.yaml").write_text(textwrap.dedent('''
        data:
          class_path: cmpe_lightning.SimulationDataModule
          init_args:
            num_validation: 64
            num_simulations: 256
            simulator:
              class_path: cmpe_lightning.FunctionSimulator
              init_args:
                prior: my_model.prior
                simulator: my_model.simulate
                backend: numpy
                vectorized: false
    '''))
    cli = fit_and_sample(own_folder, ["--config", "config.yaml"])
    assert cli.datamodule.simulator.x_shape == (10,)


def test_imported_bank_trains_and_samples(own_folder):
    rng = np.random.default_rng(0)
    theta = rng.uniform(-1, 1, size=(300, 2))
    x = theta[:, :1] + theta[:, 1:] * np.linspace(0, 1, 10) + 0.1 * rng.normal(size=(300, 10))
    x[7, 3] = np.nan  # a failed run
    np.savetxt("theta.csv", theta, delimiter=",", header="a,b", comments="")
    np.savetxt("x.csv", x, delimiter=",")
    simulate_main(["import", "theta.csv", "x.csv", "--out", "bank", "--shard-size", "128"])
    shard = read_shard(own_folder / "bank", 0)
    assert shard["ok"].sum() == 127 and not shard["ok"][7]
    np.testing.assert_allclose(shard["theta"], theta[:128])
    fit_and_sample(own_folder, ["--data", "cmpe_lightning.SimulationBankDataModule", "--data.path", "bank",
                                "--data.num_validation", "50", "--data.num_test", "20"])


@pytest.mark.parametrize("mistake, message", [
    (lambda t, x: import_bank(t, {"x": x[:-1]}, "b"), "one row per run"),
    (lambda t, x: import_bank(np.where(np.arange(10)[:, None] == 3, np.nan, t), {"x": x}, "b"), "first: [3]"),
    (lambda t, x: import_bank(t, {"theta": x}, "b"), "clash"),
    (lambda t, x: import_bank(t, {}, "b"), "at least one output"),
])
def test_import_refuses_bad_arrays(tmp_path, monkeypatch, mistake, message):
    monkeypatch.chdir(tmp_path)
    theta, x = np.zeros((10, 2)), np.zeros((10, 3))
    with pytest.raises(ValueError, match=re.escape(message)):
        mistake(theta, x)
    assert not (tmp_path / "b").exists()


def test_import_never_overwrites_a_folder(tmp_path, capsys):
    (tmp_path / "bank").mkdir()
    (tmp_path / "bank" / "keep.txt").write_text("mine")
    np.savez(tmp_path / "s.npz", theta=np.zeros((5, 1)), x=np.zeros((5, 2)))
    with pytest.raises(SystemExit):
        simulate_main(["import", str(tmp_path / "s.npz"), "--out", str(tmp_path / "bank")])
    assert "not empty" in capsys.readouterr().err and (tmp_path / "bank" / "keep.txt").read_text() == "mine"


def test_function_simulator_torch_vectorized_without_rng_is_reproducible():
    def simulate(theta):  # global torch randomness
        return {"a": theta.sum(-1, keepdim=True) + torch.randn(len(theta), 1), "b": torch.randn(len(theta), 2, 3)}

    sim = FunctionSimulator(Uniform(torch.zeros(3), torch.ones(3)), simulate)
    assert sim.theta_dim == 3 and sim.x_shape == {"a": (1,), "b": (2, 3)}
    first = sim.sample_joint(5, torch.Generator().manual_seed(1))
    again = sim.sample_joint(5, torch.Generator().manual_seed(1))
    torch.testing.assert_close(first, again)
    before = torch.random.get_rng_state()
    sim.sample_joint(5, torch.Generator().manual_seed(2))
    assert torch.equal(before, torch.random.get_rng_state())  # the user's global stream is left alone


def test_function_simulator_prior_and_errors():
    sim = FunctionSimulator(BoxUniform([0.0], [2.0]), lambda theta: theta ** 2)
    log_prob = sim.log_prob_prior(torch.tensor([[1.0], [3.0], [-1.0]]))
    assert log_prob[0] == pytest.approx(-np.log(2.0)) and torch.isinf(log_prob[1:]).all()
    with pytest.raises(ValueError, match="returned 1 observations for 2"):  # found by the trial call at set-up
        FunctionSimulator(BoxUniform([0.0], [1.0]), lambda theta: theta[:1], x_shape=(1,)).simulate(
            torch.zeros(4, 1), torch.Generator())
    with pytest.raises(ValueError, match="torch.distributions.Distribution"):
        FunctionSimulator("math.pi", lambda theta: theta)
    with pytest.raises(ValueError, match="my_missing_module.py in the working folder"):
        FunctionSimulator(BoxUniform([0.0], [1.0]), "my_missing_module.simulate")
    with pytest.raises(ValueError, match="shape"):
        FunctionSimulator(BoxUniform([0.0], [1.0]), lambda theta: theta, x_shape=(2,)).simulate(
            torch.zeros(4, 1), torch.Generator())


def _numpy_model(theta, rng):  # vectorized numpy
    return np.sin(theta) + 0.1 * rng.standard_normal(theta.shape)


def _no_return(theta):
    theta * 2


def _growing(theta, rng, calls=itertools.count(3)):  # a longer observation on every call
    return np.zeros(next(calls))


@pytest.mark.parametrize("make, message", [
    (lambda: FunctionSimulator(BoxUniform([0.0] * 3, [1.0] * 3), lambda theta: theta[:, 4]),
     r"<lambda> failed .* float32 torch tensor of shape \(2, 3\) .* theta_dim 3.*IndexError.*prior draws 3 parameters"),
    (lambda: FunctionSimulator(BoxUniform([0.0], [1.0]), _numpy_model, backend="torch"),
     r"test_own_model._numpy_model failed .* It runs with backend: numpy"),
    (lambda: FunctionSimulator(BoxUniform([0.0], [1.0]), _no_return),
     r"test_own_model._no_return returned None for 2 parameter vectors.*Is a `return` missing"),
    (lambda: FunctionSimulator(BoxUniform([0.0], [1.0]), lambda theta, rng: float(theta[0]), backend="numpy",
                               vectorized=False),
     r"<lambda> returned a single number \(.*\) for one parameter vector.*\[value\] for one number per run"),
    (lambda: FunctionSimulator(BoxUniform([0.0], [1.0]), _growing, backend="numpy", vectorized=False),
     r"_growing returned observations of shape \(\d,\) on one call and \(\d,\) on another"),
    (lambda: FunctionSimulator(BoxUniform([0.0], [1.0]), lambda theta: theta.repeat(1, 4), x_shape=[5]),
     r"<lambda> returns observations of shape \(4,\) .* but x_shape is \(5,\)"),
])
def test_function_simulator_mistakes_name_the_function_and_the_shapes(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_simulator_subclass_of_the_wrong_shapes_is_named():
    from cmpe_lightning import Simulator

    class Drifting(Simulator):  # its output differs from its x_shape on a later call
        theta_dim, x_shape = 2, (10,)

        def sample_prior(self, num, generator):
            return torch.rand(num, 2, generator=generator)

        def simulate(self, theta, generator):
            return torch.zeros(len(theta), 10 if len(theta) < 5 else 12)

    class ThreeParameters(Drifting):  # its prior draws 2 parameters
        theta_dim = 3

    Drifting().sample_joint(4, torch.Generator())
    with pytest.raises(ValueError, match=r"test_own_model.*Drifting simulated shape \(8, 12\) for 8 parameter vectors;"
                                         r" its x_shape \(10,\) asks for \(8, 10\)"):
        Drifting().sample_joint(8, torch.Generator())
    with pytest.raises(ValueError, match=r"ThreeParameters.sample_prior\(4, generator\) returned shape \(4, 2\);"
                                         r" expected a tensor of shape \(4, 3\)"):
        ThreeParameters().sample_joint(4, torch.Generator())
