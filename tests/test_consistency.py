import pytest
import torch

from cmpe_lightning import ConsistencyPosteriorEstimator
from cmpe_lightning.estimators.consistency_schedule import (
    discretization_steps,
    karras_grid,
    lognormal_pair_weights,
)
from cmpe_lightning.networks import DeepSet, ResidualMLP


def make_estimator(**kwargs) -> ConsistencyPosteriorEstimator:
    defaults = dict(theta_dim=3, x_shape=(2,), backbone=lambda i, o: ResidualMLP(i, o, width=32), t_max=10.0)
    return ConsistencyPosteriorEstimator(**{**defaults, **kwargs})


@pytest.mark.parametrize("preconditioning", ["paper", "edm"])
def test_boundary_condition_is_exact(preconditioning):
    est = make_estimator(preconditioning=preconditioning)
    theta = torch.randn(16, 3) * 5
    t = torch.full((16,), est.epsilon)
    assert torch.equal(est.consistency_function(theta, t, torch.randn(16, 2)), theta)


def test_curriculum_fractions():
    total = 10_000
    values = [discretization_steps(k, total) for k in range(total)]
    fractions = {n: values.count(n) / total for n in sorted(set(values))}
    assert list(fractions) == [11, 21, 41, 51]
    assert all(abs(fractions[n] - 0.3) < 0.01 for n in (11, 21, 41)) and abs(fractions[51] - 0.1) < 0.01
    assert discretization_steps(10**9, 100) == 51  # capped at s1 + 1, even far past the end


def test_karras_grid_and_pair_weights():
    grid = karras_grid(11, 1e-3, 10.0)
    assert torch.isclose(grid[0], torch.tensor(1e-3, dtype=grid.dtype)) and torch.isclose(grid[-1], grid.new_tensor(10.0))
    assert (grid.diff() > 0).all()
    weights = lognormal_pair_weights(grid)
    assert weights.shape == (10,) and (weights > 0).all()


def test_sampler_makes_k_network_calls():
    est = make_estimator().eval()
    calls = []
    est.network.register_forward_hook(lambda *_: calls.append(1))
    for k in (1, 2, 10):
        calls.clear()
        samples = est.sample(torch.randn(4, 2), 5, num_steps=k)
        assert samples.shape == (4, 5, 3) and len(calls) == k


def test_sampling_is_reproducible_under_a_generator():
    est = make_estimator()
    x = torch.randn(2, 2)
    a = est.sample(x, 7, generator=torch.Generator().manual_seed(3))
    b = est.sample(x, 7, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and est.training  # the mode is restored after sampling


def test_bad_inputs_name_the_shapes():
    est = make_estimator()
    with pytest.raises(ValueError, match=r"expects x of shape \(batch, 2\), got \(4, 3\)"):
        est.sample(torch.zeros(4, 3), 5)
    with pytest.raises(ValueError, match=r"expects theta of shape \(4, 3\)"):
        est.loss(torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="num_steps"):
        est.sample(torch.zeros(1, 2), 5, num_steps=0)


class _FakeTrainer:
    global_step = 0
    estimated_stepping_batches = 100


@pytest.mark.parametrize("pseudo_huber", ["vector", "elementwise"])
def test_loss_is_finite_and_reaches_every_parameter(pseudo_huber, monkeypatch):
    est = make_estimator(pseudo_huber=pseudo_huber, x_shape=(10, 2), summary_network=DeepSet(2, 4, width=8))
    monkeypatch.setattr(type(est), "trainer", property(lambda self: _FakeTrainer()))
    loss = est.loss(torch.randn(8, 3), torch.randn(8, 10, 2))
    assert loss.shape == (8,) and torch.isfinite(loss).all()
    loss.mean().backward()
    missing = [name for name, p in est.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
