"""Invariants of the coupling-flow estimators (ACF, NSF)."""

import pytest
import torch

from cmpe_lightning import CouplingFlowPosteriorEstimator
from cmpe_lightning.networks import DeepSet
from cmpe_lightning.networks.coupling import coupling_flow


def randomized(flow):
    """Random weights everywhere (the zero-initialized outputs would make every layer the identity)."""
    torch.manual_seed(0)
    for p in flow.parameters():
        p.data.normal_(0, 0.5)
    return flow.eval()


@pytest.mark.parametrize("transform", ["affine", "spline"])
@pytest.mark.parametrize("permutation", ["alternate", "random"])
def test_invertibility_and_log_det_against_autograd(transform, permutation):
    flow = randomized(coupling_flow(3, 2, transform, num_transforms=4, width=16, permutation=permutation)).double()
    context = torch.randn(2, dtype=torch.float64)
    theta = 1.5 * torch.randn(3, dtype=torch.float64)
    t = flow(context).transform
    assert torch.allclose(t.inv(t(theta)), theta, atol=1e-8)
    jacobian = torch.autograd.functional.jacobian(t, theta)
    assert torch.allclose(t.log_abs_det_jacobian(theta, t(theta)), jacobian.det().abs().log(), atol=1e-8)


@pytest.mark.parametrize("transform", ["affine", "spline"])
def test_sample_and_log_prob_agree(transform):
    est = CouplingFlowPosteriorEstimator(3, (2,), transform=transform, num_transforms=3, width=16)
    randomized(est.flow)
    est.theta_standardizer.fit(torch.randn(100, 3) * 2 + 1)
    x = torch.randn(1, 2)
    z = torch.randn(5, 3)
    context = est.embed(x).expand(5, -1)
    theta_std = est.flow(context).transform.inv(z)
    # log q(theta) = log N(z) + log|det dz/dtheta| - sum log std (standardization)
    jac = torch.stack([torch.autograd.functional.jacobian(lambda v: est.flow(context[:1]).transform(v), th)
                       for th in theta_std])
    expected = torch.distributions.Normal(0, 1).log_prob(z).sum(-1) + jac.det().abs().log()
    expected = expected - est.theta_standardizer.std.log().sum()
    theta = est.theta_standardizer.inverse(theta_std)
    assert torch.allclose(est.log_prob(theta, x.expand(5, -1)), expected, atol=1e-4)


@pytest.mark.parametrize("transform", ["affine", "spline"])
def test_gradients_reach_every_parameter(transform):
    est = CouplingFlowPosteriorEstimator(
        2, (10, 2), summary_network=DeepSet(2, 4, width=8), transform=transform, num_transforms=2, width=16
    )
    for layer in est.flow.transform.transforms:  # leave the zero initialization, so the gradient reaches hidden layers
        layer.hyper[-1].weight.data.normal_(0, 0.1)
    est.loss(torch.randn(8, 2), torch.randn(8, 10, 2)).mean().backward()
    missing = [n for n, p in est.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_one_dimensional_theta_is_refused():
    with pytest.raises(ValueError, match="at least 2 features, got 1"):
        CouplingFlowPosteriorEstimator(1, (2,))
