"""The training guards: failed pairs get weight zero without leaking NaN, and a non-finite loss is caught at once
on a CPU or, deferred as on a GPU, at the next check with the first bad step named."""

import pytest
import torch

from cmpe_lightning.estimators.guards import LossGuard, NonFiniteLossError, mask_failed_pairs, mean_over_kept


class OneProcess:
    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        return decision


def test_finite_batches_pass_unchanged():
    theta, x = torch.randn(5, 2), {"a": torch.randn(5, 3), "b": torch.randn(5, 2, 2)}
    kept_theta, kept_x, keep = mask_failed_pairs(theta, x)
    assert keep is None and kept_theta is theta and kept_x is x
    loss = torch.rand(5)
    assert torch.equal(mean_over_kept(loss, keep), loss.mean())


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_failed_pairs_get_weight_zero_and_no_nan_flows(value):
    theta, x = torch.randn(6, 2), {"a": torch.randn(6, 3), "b": torch.randn(6, 2, 2)}
    x["b"][1, 0, 1] = value
    theta[4, 0] = -value
    theta_in, x_in, keep = mask_failed_pairs(theta, x)
    assert keep.tolist() == [True, False, True, True, False, True]
    assert torch.isfinite(theta_in).all() and all(torch.isfinite(t).all() for t in x_in.values())
    assert torch.equal(theta_in[keep], theta[keep]) and torch.equal(x_in["b"][keep], x["b"][keep])
    weights = torch.randn(2, requires_grad=True)
    loss = mean_over_kept((theta_in * weights).sum(1) ** 2, keep)
    loss.backward()
    expected = ((theta[keep] * weights).sum(1) ** 2).mean()
    torch.testing.assert_close(loss, expected)
    assert torch.isfinite(weights.grad).all()


def test_a_batch_of_failed_pairs_only_has_zero_loss_and_gradient():
    theta, x = torch.full((3, 2), float("nan")), torch.randn(3, 1)
    theta_in, x_in, keep = mask_failed_pairs(theta, x)
    weights = torch.ones(2, requires_grad=True)
    loss = mean_over_kept((theta_in * weights).sum(1), keep)
    loss.backward()
    assert float(loss) == 0.0 and torch.equal(weights.grad, torch.zeros(2))


def test_loss_guard_stops_at_once_on_the_cpu():
    guard = LossGuard()
    guard.record(torch.tensor(1.0), 3, OneProcess())
    with pytest.raises(NonFiniteLossError, match="became nan at step 4"):
        guard.record(torch.tensor(float("nan")), 4, OneProcess())


def test_deferred_loss_guard_names_the_first_bad_step_at_the_next_check():
    guard = LossGuard(defer=True)
    for step, value in enumerate([1.0, 2.0, float("inf"), float("nan"), 3.0]):
        guard.record(torch.tensor(value), step, OneProcess())  # no error yet: nothing is read from the device
    with pytest.raises(NonFiniteLossError, match="at step 2"):
        guard.check(OneProcess())


def test_deferred_loss_guard_passes_finite_losses():
    guard = LossGuard(defer=True)
    guard.check(OneProcess())  # before any step
    for step in range(4):
        guard.record(torch.tensor(float(step)), step, OneProcess())
    guard.check(OneProcess())
