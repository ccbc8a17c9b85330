from types import SimpleNamespace

import lightning as L
import pytest
import torch

from cmpe_lightning import ArrayDataModule, ConsistencyPosteriorEstimator
from cmpe_lightning.estimators.consistency_schedule import (
    discretization_steps,
    final_intervals,
    karras_grid,
    lognormal_pair_weights,
)
from cmpe_lightning.networks import ConditionalMLP, DeepSet


def make_estimator(**kwargs) -> ConsistencyPosteriorEstimator:
    defaults = dict(theta_shape=3, x_shape=(2,), backbone=lambda s, c: ConditionalMLP(s, c, width=32), t_max=10.0)
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
    assert (torch.isclose(grid[0], torch.tensor(1e-3, dtype=grid.dtype))
            and torch.isclose(grid[-1], grid.new_tensor(10.0)))
    assert (grid.diff() > 0).all()
    weights = lognormal_pair_weights(grid)
    assert weights.shape == (10,) and (weights > 0).all()


def test_sampler_makes_k_network_calls():
    est = make_estimator().eval()
    calls = []
    est.consistency_function.network.register_forward_hook(lambda *_: calls.append(1))
    for k in (1, 2, 10):
        calls.clear()
        draws = est.draw(torch.randn(4, 2), 5, num_steps=k)
        assert draws.samples.shape == (4, 5, 3) and len(calls) == k and draws.network_evaluations == k


def test_sampling_is_reproducible_under_a_generator():
    est = make_estimator()
    x = torch.randn(2, 2)
    a = est.sample(x, 7, generator=torch.Generator().manual_seed(3))
    b = est.sample(x, 7, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and est.training  # the mode is restored after sampling


def test_bad_inputs_name_the_shapes():
    est = make_estimator()
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\), got \(4, 3\)"):
        est.sample(torch.zeros(4, 3), 5)
    with pytest.raises(ValueError, match=r"expects theta of shape \(4, 3\)"):
        est.loss(torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="num_steps"):
        est.sample(torch.zeros(1, 2), 5, num_steps=0)


@pytest.mark.parametrize("pseudo_huber", ["vector", "elementwise"])
def test_loss_is_finite_and_reaches_every_parameter(pseudo_huber):
    est = make_estimator(pseudo_huber=pseudo_huber, x_shape=(10, 2), summary_network=DeepSet(2, 4, width=8))
    loss = est.loss(torch.randn(8, 3), torch.randn(8, 10, 2), num_points=11)  # no trainer needed: the grid is an input
    assert loss.shape == (8,) and torch.isfinite(loss).all()
    loss.mean().backward()
    missing = [name for name, p in est.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_loss_is_a_function_of_its_inputs_under_a_seeded_generator():
    """The validation loss is comparable across training: same data, same seed, same grid -> same value."""
    est = make_estimator().eval()
    theta, x = torch.randn(32, 3), torch.randn(32, 2)
    a = est.loss(theta, x, torch.Generator().manual_seed(0), num_points=51)
    torch.rand(5)  # the global stream moves on; the seeded loss must not notice
    b = est.loss(theta, x, torch.Generator().manual_seed(0), num_points=51)
    c = est.loss(theta, x, torch.Generator().manual_seed(0), num_points=11)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_image_shaped_parameters():
    """theta of shape (1, 4, 4): the estimator keeps the shape from the loss to the draws."""
    est = make_estimator(theta_shape=(1, 4, 4), theta_standardization="scalar")
    loss = est.loss(torch.randn(6, 1, 4, 4), torch.randn(6, 2), num_points=11)
    assert loss.shape == (6,) and torch.isfinite(loss).all()
    assert est.sample(torch.randn(2, 2), 3, num_steps=2).shape == (2, 3, 1, 4, 4)


def test_sampling_in_chunks_bounds_the_batch_and_keeps_each_observation():
    est = make_estimator().eval()
    sizes = []
    est.consistency_function.network.register_forward_hook(lambda module, args, out: sizes.append(len(args[0])))
    x = torch.tensor([[-3.0, 0.0], [3.0, 1.0]])
    chunked = est.sample(x, 3000, generator=torch.Generator().manual_seed(1), num_steps=2, max_batch_size=700)
    assert max(sizes) <= 700 and sum(sizes) == 2 * 2 * 3000  # two steps over all 6000 draws
    one = est.sample(x, 3000, generator=torch.Generator().manual_seed(2), num_steps=2)
    # each observation's draws come from its own context: the per-observation means agree up to Monte Carlo error
    assert torch.allclose(chunked.mean(1), one.mean(1), atol=0.1)


def test_final_grid_follows_the_length_of_the_fit_and_is_kept():
    assert [final_intervals(k) for k in (1, 15_000, 42_000, 400_000, 10**8)] == [50, 50, 134, 1280, 1280]
    est = make_estimator()
    assert est.s1 is None and est.final_grid_intervals == 50  # before a fit: the paper's grid
    est.trainer = SimpleNamespace(estimated_stepping_batches=42_000)
    est.on_fit_start()
    assert est.s1 == est.hparams["s1"] == 134
    assert est.loss_options("val") == {"num_points": 135}
    pinned = make_estimator(s1=50)
    pinned.trainer = SimpleNamespace(estimated_stepping_batches=42_000)
    pinned.on_fit_start()
    assert pinned.s1 == 50  # a configured s1 is kept, whatever the length


def test_automatic_final_grid_is_saved_with_the_checkpoint(tmp_path):
    theta = torch.randn(200, 3)
    data = ArrayDataModule(theta, theta[:, :2] + 0.1 * torch.randn(200, 2), batch_size=32)
    est = make_estimator(s0=60)  # an s0 above the rule's 50: the final grid is never coarser than the first
    trainer = L.Trainer(max_steps=4, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(est, data)
    assert est.s1 == 60
    trainer.save_checkpoint(tmp_path / "fit.ckpt")
    assert torch.load(tmp_path / "fit.ckpt", weights_only=False)["hyper_parameters"]["s1"] == 60
