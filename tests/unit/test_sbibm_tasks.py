"""sbibm's tasks as simulators (the ``[sbibm]`` extra; skipped without it) and the parts of the suite that need no
sbibm: refusals, the budget split, the test set a simulator fixes."""

import sys

import pytest
import torch

from cmpe_lightning import SimulationDataModule, TwoMoons
from cmpe_lightning.benchmark.sbibm_suite import budget_arguments
from cmpe_lightning.tasks.sbibm_tasks import JULIA_TASKS, PYTHON_TASKS, SBIBMTask
from cmpe_lightning.utils.errors import InputError
from cmpe_lightning.utils.seeding import TEST, derived_generator

try:
    import sbibm
except ImportError:
    sbibm = None
needs_sbibm = pytest.mark.skipif(sbibm is None, reason="sbibm is not installed (pip install -e '.[sbibm]')")


@pytest.fixture(scope="module", params=PYTHON_TASKS)
def task(request):
    if sbibm is None:
        pytest.skip("sbibm is not installed (pip install -e '.[sbibm]')")
    return SBIBMTask(request.param)


@needs_sbibm
def test_every_python_task_draws_from_its_prior_and_simulator(task):
    theta, x = task.sample_joint(7, torch.Generator().manual_seed(0))
    assert theta.shape == (7, task.theta_dim) and x.shape == (7, *task.x_shape)
    assert theta.dtype == x.dtype == torch.float32 and torch.isfinite(theta).all()
    # the draws are a function of the generator alone, and leave torch's global generator where it was
    state = torch.get_rng_state()
    again = task.sample_joint(7, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], theta) and torch.equal(again[1], x) and torch.equal(torch.get_rng_state(), state)
    other = task.sample_joint(7, torch.Generator().manual_seed(1))
    assert not torch.equal(other[0], theta)


@needs_sbibm
def test_the_test_set_is_sbibms_observations_with_their_reference_samples(task):
    theta, x = task.test_observations(10, torch.Generator())
    assert theta.shape == (10, task.theta_dim) and x.shape == (10, *task.x_shape)
    assert torch.equal(x[3], task.task.get_observation(4)[0].float())
    assert torch.equal(theta[3], task.task.get_true_parameters(4)[0].float())
    reference = task.sample_reference_posterior(x[2:4], 500, torch.Generator())
    assert reference.shape == (2, 500, task.theta_dim)
    assert torch.equal(reference[1], task.task.get_reference_posterior_samples(4)[:500].float())


@needs_sbibm
def test_references_exist_only_for_sbibms_observations():
    task = SBIBMTask("two_moons")
    with pytest.raises(InputError, match="10 observations only"):
        task.sample_reference_posterior(torch.zeros(1, 2), 10, torch.Generator())
    with pytest.raises(InputError, match="num_test_observations=11"):
        task.test_observations(11, torch.Generator())
    x = task.test_observations(1, torch.Generator())[1]
    with pytest.raises(InputError, match="num_reference_samples=10001"):
        task.sample_reference_posterior(x, 10_001, torch.Generator())


@needs_sbibm
def test_the_datamodule_tests_on_sbibms_observations():
    data = SimulationDataModule(SBIBMTask("slcp"), num_simulations=50, num_validation=10, num_test_observations=3,
                                num_reference_samples=100, reference_cache=False)
    test = data.test_set()
    assert torch.equal(test["x"][2], SBIBMTask("slcp").task.get_observation(3)[0].float())
    assert test["reference"].shape == (3, 100, 5)


@needs_sbibm
def test_the_priors_are_described_for_the_peers():
    uniform, normal = SBIBMTask("slcp").prior_parameters(), SBIBMTask("bernoulli_glm").prior_parameters()
    assert str(uniform["prior_kind"]) == "uniform" and uniform["prior_low"].tolist() == [-3.0] * 5
    assert str(normal["prior_kind"]) == "normal" and normal["prior_covariance"].shape == (10, 10)


@needs_sbibm
def test_c2st_equals_sbibms_on_the_same_samples():
    from sbibm.metrics import c2st as sbibm_c2st

    from cmpe_lightning.metrics.c2st import c2st

    task = SBIBMTask("two_moons")
    x = task.test_observations(1, torch.Generator())[1]
    reference = task.sample_reference_posterior(x, 1000, torch.Generator())[0]
    approximate = reference + 0.05 * torch.randn(reference.shape, generator=torch.Generator().manual_seed(0))
    ours, theirs = c2st(reference, approximate), float(sbibm_c2st(reference, approximate))
    assert ours == pytest.approx(theirs, abs=1e-6) and 0.5 < ours < 1  # sbibm returns float32


@pytest.mark.parametrize("name, message", [("sir", "Julia"), ("lotka_volterra", "Julia"), ("two_moon", "not an sbibm")])
def test_tasks_it_cannot_run_are_refused_with_the_reason(name, message):
    with pytest.raises(InputError, match=message):
        SBIBMTask(name)
    assert set(JULIA_TASKS).isdisjoint(PYTHON_TASKS)


def test_without_sbibm_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sbibm", None)  # import sbibm raises ImportError
    with pytest.raises(InputError, match=r"pip install -e \"\.\[sbibm\]\""):
        SBIBMTask("two_moons")


@pytest.mark.parametrize("budget", [1000, 10_000, 7])
def test_training_and_validation_pairs_make_the_budget(budget):
    arguments = budget_arguments(budget)
    train, validation = int(arguments[1]), int(arguments[3])
    assert train + validation == budget and validation == max(1, round(budget / 10))


def test_a_simulator_without_fixed_observations_tests_on_fresh_draws():
    data = SimulationDataModule(TwoMoons(), num_simulations=20, num_validation=5, num_test_observations=4,
                                num_reference_samples=30, reference_cache=False)
    test = data.test_set()
    theta, x = TwoMoons().sample_joint(4, derived_generator(0, TEST))  # as before fixed observations existed
    assert torch.equal(test["theta"], theta) and torch.equal(test["x"], x) and test["reference"].shape == (4, 30, 2)
    theta, x = data.fit_simulations()
    assert theta.shape == (25, 2) and x.shape == (25, 2)
