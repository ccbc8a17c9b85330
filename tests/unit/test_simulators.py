import math

import pytest
import torch

from cmpe_lightning import BimodalGMM, InverseKinematics, TwoMoons
from cmpe_lightning.metrics import c2st

SIMULATORS = [TwoMoons(), BimodalGMM(), InverseKinematics()]


@pytest.mark.parametrize("sim", SIMULATORS, ids=repr)
def test_shapes_and_determinism(sim):
    theta, x = sim.sample_joint(7, torch.Generator().manual_seed(0))
    assert theta.shape == (7, sim.theta_dim) and x.shape == (7, *sim.x_shape)
    theta2, x2 = sim.sample_joint(7, torch.Generator().manual_seed(0))
    assert torch.equal(theta, theta2) and torch.equal(x, x2)
    _, x3 = sim.sample_joint(7, torch.Generator().manual_seed(1))
    assert not torch.equal(x, x3)


@pytest.mark.parametrize("sim", SIMULATORS, ids=repr)
def test_shape_errors_name_the_shapes(sim):
    with pytest.raises(ValueError, match=r"expects theta of shape \(num, %d\)" % sim.theta_dim):
        sim.simulate(torch.zeros(3, sim.theta_dim + 1), torch.Generator())
    with pytest.raises(ValueError, match=r"observations must have shape \(batch, %s\), got \(3, 5, 5, 5\)"
                       % ", ".join(map(str, sim.x_shape))):
        sim.sample_reference_posterior(torch.zeros(3, 5, 5, 5), 10, torch.Generator())


@pytest.mark.parametrize("sim", SIMULATORS, ids=repr)
def test_reference_shape_and_prior_support(sim, generator):
    _, x = sim.sample_joint(3, generator)
    ref = sim.sample_reference_posterior(x, 500, generator)
    assert ref.shape == (3, 500, sim.theta_dim) and torch.isfinite(ref).all()


def test_two_moons_reference_inverts_the_simulator(generator):
    sim = TwoMoons()
    _, x = sim.sample_joint(4, generator)
    ref = sim.sample_reference_posterior(x, 2000, generator)
    assert (ref.abs() <= 1).all()
    # the latent point implied by each sample must be a valid moon point: radius ~ N(0.1, 0.01), angle in [-pi/2, pi/2]
    t1, t2 = ref[..., 0], ref[..., 1]
    p0 = x[:, None, 0] + (t1 + t2).abs() / math.sqrt(2) - 0.25
    p1 = x[:, None, 1] - (t2 - t1) / math.sqrt(2)
    radius, angle = torch.hypot(p0, p1), torch.atan2(p1, p0)
    assert (angle.abs() <= math.pi / 2 + 1e-5).all()
    assert abs(radius.mean() - 0.1) < 2e-3 and abs(radius.std() - 0.01) < 2e-3
    # both branches of |theta1 + theta2| are present (the posterior is bimodal)
    assert 0.2 < ((t1 + t2) > 0).float().mean() < 0.8


def test_inverse_kinematics_reference_reproduces_the_observation(generator):
    sim = InverseKinematics(tolerance=1e-3)
    _, x = sim.sample_joint(3, generator)
    ref = sim.sample_reference_posterior(x, 1000, generator)
    pushed = sim.simulate(ref.reshape(-1, 4), generator).view(3, 1000, 2)
    assert torch.allclose(pushed[..., 0], x[:, None, 0].expand(-1, 1000), atol=1e-5)  # exact in x1
    assert ((pushed[..., 1] - x[:, None, 1]).abs() < 1e-3).all()  # within tolerance in x2


def test_gmm_reference_matches_grid_posterior(generator):
    """The exact mixture sampler agrees with an independent grid evaluation of prior x likelihood."""
    sim = BimodalGMM()
    _, x = sim.sample_joint(1, generator)
    ref = sim.sample_reference_posterior(x, 2000, generator)[0]
    axis = torch.linspace(-4, 4, 801, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).view(-1, 2)
    xs = x[0].double()
    def log_normal(v):
        return -0.5 * v.square().sum(-1) / sim.sigma**2
    loglik = torch.logaddexp(log_normal(xs[None] - grid[:, None]), log_normal(xs[None] + grid[:, None])).sum(-1)
    log_post = loglik - 0.5 * grid.square().sum(-1)
    cell = torch.multinomial(log_post.softmax(0), 2000, replacement=True, generator=generator)
    step = (axis[1] - axis[0]).item()
    grid_samples = grid[cell] + step * (torch.rand(2000, 2, generator=generator, dtype=torch.float64) - 0.5)
    assert c2st(grid_samples.float(), ref) < 0.56


@pytest.mark.parametrize("sim", SIMULATORS, ids=repr)
def test_two_reference_runs_are_indistinguishable(sim):
    _, x = sim.sample_joint(1, torch.Generator().manual_seed(5))
    a = sim.sample_reference_posterior(x, 2000, torch.Generator().manual_seed(6))[0]
    b = sim.sample_reference_posterior(x, 2000, torch.Generator().manual_seed(7))[0]
    assert 0.44 < c2st(a, b) < 0.56


def test_c2st_detects_a_shift(generator):
    a = torch.randn(1000, 2, generator=generator)
    b = torch.randn(1000, 2, generator=generator) + 3.0
    assert c2st(a, b) > 0.95


def test_rejection_sampling_bounds_each_call_and_stops_proposing_for_finished_observations():
    from cmpe_lightning.simulators import sample_by_rejection

    calls = []
    g = torch.Generator().manual_seed(0)
    acceptance = torch.tensor([0.9, 0.9, 0.05, 0.05, 0.05])  # two observations finish in the first round

    def propose(rows, m):
        calls.append(rows.tolist())
        u = torch.rand(len(rows), m, generator=g)
        return torch.stack([rows[:, None].expand(-1, m).float(), u], dim=-1), u < acceptance[rows, None]

    samples = sample_by_rejection(propose, batch=5, num_samples=50, proposals_per_round=100, max_proposals_per_call=200)
    assert samples.shape == (5, 50, 2)
    assert torch.equal(samples[..., 0], torch.arange(5.0)[:, None].expand(5, 50))  # each row holds its own samples
    assert all(len(rows) <= 2 for rows in calls)  # 200 proposals per call at 100 per observation
    assert calls[0] == [0, 1] and all(0 not in rows and 1 not in rows for rows in calls[3:])
    with pytest.raises(ValueError, match="max_proposals_per_call must be a positive integer, got 0"):
        sample_by_rejection(propose, batch=5, num_samples=50, proposals_per_round=100, max_proposals_per_call=0)
