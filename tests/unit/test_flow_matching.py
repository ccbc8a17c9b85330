"""Invariants of flow matching posterior estimation (FMPE)."""

import math

import pytest
import torch

from cmpe_lightning import FlowMatchingPosteriorEstimator
from cmpe_lightning.networks import ConditionalMLP


def make(**kwargs):
    torch.manual_seed(0)
    return FlowMatchingPosteriorEstimator(2, (2,), backbone=lambda s, c: ConditionalMLP(s, c, width=32, dropout=0.0),
                                          **kwargs)


def test_ode_solvers_converge_to_each_other():
    est = make()
    x = torch.randn(1, 2)
    draws = {
        (solver, steps): est.sample(x, 200, generator=torch.Generator().manual_seed(1), solver=solver, num_steps=steps)
        for solver, steps in [("euler", 1000), ("rk4", 50), ("dopri5", 0), ("euler", 10)]
    }
    reference = draws[("dopri5", 0)]
    assert (draws[("rk4", 50)] - reference).abs().max() < 1e-3
    assert (draws[("euler", 1000)] - reference).abs().max() < 1e-2
    # ... and the coarse solver is measurably farther away, so the check can fail
    assert (draws[("euler", 10)] - reference).abs().max() > (draws[("euler", 1000)] - reference).abs().max()


@pytest.mark.parametrize("recipe", ["paper", "original"])
def test_loss_is_finite_and_reaches_every_parameter(recipe):
    est = make(recipe=recipe)
    loss = est.loss(torch.randn(16, 2), torch.randn(16, 2))
    assert loss.shape == (16,) and torch.isfinite(loss).all()
    loss.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in est.parameters())


def test_log_prob_of_a_trained_toy_model_integrates_to_one():
    """Train briefly on theta ~ N(x, 0.5^2), then integrate exp(log_prob) over a grid at x = 0."""
    est = make(recipe="original")
    optimizer = torch.optim.Adam(est.parameters(), lr=3e-3)
    for _ in range(300):
        x = torch.randn(128, 2)
        loss = est.loss(x + 0.5 * torch.randn(128, 2), x).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    axis = torch.linspace(-3, 3, 41)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).view(-1, 2)
    density = est.log_prob(grid, torch.zeros(len(grid), 2), solver="rk4", num_steps=20).exp()
    mass = density.sum() * (axis[1] - axis[0]) ** 2
    assert abs(mass - 1) < 0.05
    # the mass sits where it was trained to be: around x = 0
    assert (density[:, None] * grid).sum(0).abs().max() * (axis[1] - axis[0]) ** 2 < 0.15


def test_hutchinson_divergence_is_unbiased():
    est = make()
    theta, x = torch.randn(1, 2).expand(2000, -1), torch.zeros(2000, 2)
    exact = est.log_prob(theta[:1], x[:1], solver="rk4", num_steps=20)
    est.exact_divergence = False
    estimate = est.log_prob(theta, x, solver="rk4", num_steps=20)
    assert abs(estimate.mean() - exact) < 4 * estimate.std() / math.sqrt(len(estimate)) + 1e-3


def test_unknown_solver_is_named():
    with pytest.raises(ValueError, match="Unknown solver 'heun'"):
        make().sample(torch.zeros(1, 2), 3, solver="heun")
