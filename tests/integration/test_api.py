"""The Python API: train from a simulator or from arrays, then sample, diagnose, save and load, with guarded inputs."""

import numpy as np
import pytest
import torch

from cmpe_lightning import BoxUniform, FunctionSimulator, Posterior, train
from cmpe_lightning.training import build_estimator


def line(theta):  # vectorized torch simulator: a noisy line at 8 points
    t = torch.linspace(0, 1, 8)
    return theta[:, :1] + theta[:, 1:] * t + 0.1 * torch.randn(len(theta), 8)


@pytest.fixture(scope="module")
def posterior():
    simulator = FunctionSimulator(BoxUniform([-1.0, -1.0], [1.0, 1.0]), line)
    return train("cmpe", simulator=simulator, num_simulations=512, num_validation=64, max_steps=30, progress=False,
                 estimator_options={"num_steps": 2})


def test_trained_posterior_samples_diagnoses_and_round_trips(posterior, tmp_path):
    x = line(torch.tensor([[0.2, -0.3], [0.0, 0.5]]))
    assert posterior.sample(x[0], num_samples=40, seed=1).shape == (40, 2)  # one observation, no batch dimension
    samples = posterior.sample(x, num_samples=40, seed=1)
    assert samples.shape == (2, 40, 2) and torch.isfinite(samples).all()
    values = posterior.diagnose(num_pairs=32, num_samples=20)
    assert set(values) == {"calibration_error", "sbc_pvalue", "tarp", "rmse", "joint_c2st"}
    assert 0 <= values["calibration_error"] <= 0.5 and 0 <= values["sbc_pvalue"] <= 1 and values["rmse"] > 0

    path = posterior.save(tmp_path / "line.ckpt")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        posterior.save(path)
    loaded = Posterior.load(path)
    torch.testing.assert_close(loaded.sample(x, num_samples=40, seed=1), samples)
    with pytest.raises(ValueError, match="no test pairs or simulator"):
        loaded.diagnose()


def test_posterior_guards_its_inputs(posterior):
    x = line(torch.zeros(3, 2))
    x[1, 4] = float("nan")
    with pytest.raises(ValueError, match=r"Observations \[1\] of 3 contain NaN"):
        posterior.sample(x, num_samples=5)
    x[1, 4] = 0.0
    x[2] = 1e3  # far outside every simulated line
    with pytest.warns(UserWarning, match=r"Observations \[2\] of 3 lie far outside the training simulations"):
        posterior.sample(x, num_samples=5)


def test_train_from_arrays_with_named_parts():
    rng = np.random.default_rng(0)
    theta = rng.uniform(-1, 1, size=(600, 2))
    x = {"a": theta + 0.1 * rng.normal(size=(600, 2)), "b": theta[:, :1] * np.ones((600, 3))}
    x["a"][5] = np.nan  # a failed simulation: dropped
    posterior = train("nsf", theta=theta, x=x, max_steps=10, progress=False)  # parts flattened and joined
    assert posterior.sample({"a": np.zeros(2), "b": np.zeros(3)}, num_samples=7).shape == (7, 2)
    assert len(posterior.test_pairs[0]) == 30  # a twentieth of the 600 rows


def test_train_and_build_estimator_errors():
    with pytest.raises(ValueError, match="either a simulator or both theta and x"):
        train("cmpe", theta=np.zeros((10, 2)))
    with pytest.raises(ValueError, match="one of \\['acf', 'cmpe', 'fmpe', 'nsf'\\]"):
        build_estimator("npe", (2,), (2,))
    with pytest.raises(ValueError, match="class_path"):
        build_estimator("cmpe", (2,), (3,), {"summary_network": torch.nn.Linear(3, 3)})
