"""The contract every estimator honours, checked on each of the four × three kinds of input (zuko's test_flows.py
is the model): shapes, gradients, seeded reproducibility, chunked sampling, the state-dict round trip, log_prob.

The estimators are tiny, with random weights (not the zero or identity start, under which an output would not
depend on the observation): the invariants hold for any weights.
"""

from __future__ import annotations

import pytest
import torch

from cmpe_lightning import ConsistencyPosteriorEstimator, CouplingFlowPosteriorEstimator, FlowMatchingPosteriorEstimator
from cmpe_lightning.networks import ConditionalMLP, ConditionalUNet
from cmpe_lightning.utils.errors import InputError

ESTIMATORS = {
    "acf": lambda **kw: CouplingFlowPosteriorEstimator(transform="affine", num_transforms=2, width=16, **kw),
    "nsf": lambda **kw: CouplingFlowPosteriorEstimator(transform="spline", num_transforms=2, width=16, bins=4, **kw),
    "fmpe": lambda backbone, **kw: FlowMatchingPosteriorEstimator(backbone=backbone, num_steps=4, **kw),
    "cmpe": lambda backbone, **kw: ConsistencyPosteriorEstimator(backbone=backbone, num_steps=3, t_max=10.0, **kw),
}
MLP = lambda theta_shape, context: ConditionalMLP(theta_shape, context, width=16, num_blocks=1, dropout=0.1)  # noqa: E731
UNET = lambda theta_shape, context: ConditionalUNet(theta_shape, context, channels=(4, 8), attention_levels=(1,),  # noqa: E731
                                                    num_res_blocks=1, time_embedding_dim=8, groups=2)
INPUTS = {  # theta_shape, x_shape, backbone of the ODE and consistency models
    "flat x": ((3,), (4,), MLP),
    "named-parts x": ((3,), {"series": (5, 2), "scalars": (3,)}, MLP),
    "image theta": ((1, 8, 8), (1, 8, 8), UNET),
}


def random_x(x_shape, batch: int, generator: torch.Generator):
    if isinstance(x_shape, dict):
        return {name: torch.randn(batch, *shape, generator=generator) for name, shape in x_shape.items()}
    return torch.randn(batch, *x_shape, generator=generator)


def build(name: str, inputs: str, seed: int = 0):
    """The estimator with its standardizations fitted on random pairs (so that they are not the identity)."""
    theta_shape, x_shape, backbone = INPUTS[inputs]
    torch.manual_seed(seed)
    kwargs = {"theta_shape": theta_shape, "x_shape": x_shape}
    if name in ("fmpe", "cmpe"):
        kwargs["backbone"] = backbone
    estimator = ESTIMATORS[name](**kwargs)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # flows and the U-Net start as the identity or zero: make every output depend on x
        for parameter in estimator.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=g))
    estimator.theta_standardizer.fit(2 + 3 * torch.randn(64, *theta_shape, generator=g))
    estimator.preprocessing.fit(random_x(x_shape, 64, g))
    return estimator


CASES = [(name, inputs) for name in ESTIMATORS for inputs in INPUTS
         if not (name in ("acf", "nsf") and inputs == "image theta")]  # coupling flows are for vectors (method.md)


@pytest.fixture(params=CASES, ids=[f"{n}-{i}" for n, i in CASES])
def case(request):
    name, inputs = request.param
    return name, inputs, build(name, inputs)


def test_shapes(case):
    name, inputs, est = case
    theta_shape, x_shape, _ = INPUTS[inputs]
    x = random_x(x_shape, 2, torch.Generator().manual_seed(1))
    theta = torch.randn(2, *theta_shape)
    assert est.loss(theta, x).shape == (2,)
    assert est.sample(x, 5, generator=torch.Generator().manual_seed(0)).shape == (2, 5, *theta_shape)
    assert est.embed(x).shape == (2, est.summary_dim)


def test_gradients_reach_every_parameter(case):
    name, inputs, est = case
    theta_shape, x_shape, _ = INPUTS[inputs]
    g = torch.Generator().manual_seed(2)
    est.train()
    est.loss(torch.randn(8, *theta_shape, generator=g), random_x(x_shape, 8, g), g).mean().backward()
    missing = [n for n, p in est.named_parameters()
               if p.requires_grad and (p.grad is None or not p.grad.isfinite().all())]
    assert not missing, f"{name} ({inputs}): no finite gradient for {missing}"


def test_seeded_loss_and_draws_repeat_exactly(case):
    name, inputs, est = case
    theta_shape, x_shape, _ = INPUTS[inputs]
    x, theta = random_x(x_shape, 3, torch.Generator().manual_seed(3)), torch.randn(3, *theta_shape)
    est.eval()  # dropout off: the loss is then a function of the generator alone
    loss = [est.loss(theta, x, torch.Generator().manual_seed(4)) for _ in range(2)]
    draws = [est.sample(x, 6, generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(*loss) and torch.equal(*draws)
    assert not torch.equal(draws[0], est.sample(x, 6, generator=torch.Generator().manual_seed(6)))


def test_chunked_sampling_equals_sampling_each_chunk_alone(case):
    """Chunks of ``max_batch_size`` draws are computed one after the other from one generator, each with its own
    observations' summaries: drawing two observations in chunks of one observation's draws is the same as drawing
    each observation alone from the continuing generator, and the chunk size bounds the network's batch."""
    name, inputs, est = case
    x = random_x(INPUTS[inputs][1], 2, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(8)
    both = est.draw(x, 4, g, max_batch_size=4).samples
    g = torch.Generator().manual_seed(8)
    alone = [est.draw(x[i:i + 1] if torch.is_tensor(x) else {k: v[i:i + 1] for k, v in x.items()}, 4, g).samples
             for i in range(2)]
    assert torch.equal(both, torch.cat(alone))
    sizes = []
    original = est.standardized_sample
    est.standardized_sample = lambda context, *a, **k: sizes.append(len(context)) or original(context, *a, **k)
    est.draw(x, 5, max_batch_size=3)
    assert max(sizes) <= 3 and sum(sizes) == 10


def test_state_dict_and_sampling_settings_round_trip(case):
    name, inputs, est = case
    x = random_x(INPUTS[inputs][1], 2, torch.Generator().manual_seed(9))
    est.configure_sampling("predict", num_samples=7, max_batch_size=5)
    checkpoint = {"state_dict": est.state_dict()}
    est.on_save_checkpoint(checkpoint)
    fresh = build(name, inputs, seed=1)  # other weights and statistics until loaded
    fresh.load_state_dict(checkpoint["state_dict"])
    fresh.on_load_checkpoint(checkpoint)
    assert fresh.sampling["predict"] == est.sampling["predict"]
    draw = lambda e: e.draw_at("predict", x, generator=torch.Generator().manual_seed(10)).samples  # noqa: E731
    assert torch.equal(draw(fresh), draw(est)) and draw(est).shape[1] == 7


def test_log_prob_where_the_method_has_one(case):
    name, inputs, est = case
    theta_shape, x_shape, _ = INPUTS[inputs]
    theta, x = torch.randn(3, *theta_shape), random_x(x_shape, 3, torch.Generator().manual_seed(11))
    if name == "cmpe":
        with pytest.raises(NotImplementedError, match="no tractable density"):
            est.log_prob(theta, x)
        return
    log_prob = est.log_prob(theta, x)
    assert log_prob.shape == (3,) and log_prob.isfinite().all()
    assert torch.equal(log_prob, est.log_prob(theta, x))  # no noise in the density
    # the standardization's change of variables: shifting and scaling theta's statistics shifts log q by log|scale|
    scaled = build(name, inputs)
    scaled.load_state_dict(est.state_dict())
    scaled.theta_standardizer.mean.mul_(2)
    scaled.theta_standardizer.std.mul_(2)
    expected = log_prob - torch.log(torch.tensor(2.0)) * est.theta_dim
    assert torch.allclose(scaled.log_prob(2 * theta, x), expected, atol=1e-4)


def test_compile_backbone_needs_a_preconditioned_backbone():
    from cmpe_lightning.estimators.base import compile_backbones

    flow = CouplingFlowPosteriorEstimator(2, 3, compile_backbone=True)
    with pytest.raises(InputError, match="compile_backbone compiles the network behind"):
        compile_backbones(flow)
