"""The tasks of sbibm (Lueckmann et al., 2021) as simulators, with their ten observations and reference posteriors.

Needs the optional extra: ``pip install -e ".[sbibm]"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor

from ..simulators.base import Simulator
from ..utils.errors import InputError

# the tasks whose simulators run in Python; lotka_volterra and sir solve ODEs in Julia (sbibm's diffeqtorch)
PYTHON_TASKS = ("bernoulli_glm", "bernoulli_glm_raw", "gaussian_linear", "gaussian_linear_uniform",
                "gaussian_mixture", "slcp", "slcp_distractors", "two_moons")
JULIA_TASKS = ("lotka_volterra", "sir")
NUM_OBSERVATIONS = 10  # sbibm's observations 1..10, each with 10 000 reference posterior samples


class SBIBMTask(Simulator):
    """An sbibm task: its prior, its simulator, its ten observations and their reference posterior samples.

    ``sample_prior`` and ``simulate`` run sbibm's own code (pyro distributions, which draw from torch's global
    generator) inside a fork of the global generator seeded from ``generator``, so that draws stay a function of
    the generator, as the simulator contract asks. The test set (:meth:`test_observations`) is sbibm's observations
    ``1..num`` with their true parameters, and :meth:`sample_reference_posterior` returns sbibm's stored reference
    samples (the first ``num_samples`` of 10 000, as sbibm's own scripts take them) for those observations only.

    Args:
        name: one of :data:`PYTHON_TASKS`; ``lotka_volterra`` and ``sir`` need Julia (sbibm's ``diffeqtorch``)
            and are refused with that reason.

    References:
        | Benchmarking Simulation-Based Inference (Lueckmann et al., 2021)
        | https://arxiv.org/abs/2101.04653

    Example:
        >>> task = SBIBMTask("slcp")  # doctest: +SKIP
        >>> theta, x = task.sample_joint(4, torch.Generator().manual_seed(0))  # doctest: +SKIP
        >>> theta.shape, x.shape  # doctest: +SKIP
        (torch.Size([4, 5]), torch.Size([4, 8]))
    """

    def __init__(self, name: str):
        if name in JULIA_TASKS:
            raise InputError(f"SBIBMTask(name={name!r}): sbibm simulates {name} in Julia (diffeqtorch), which this"
                             f" adapter does not drive; the tasks that run in Python are {', '.join(PYTHON_TASKS)}.")
        if name not in PYTHON_TASKS:
            raise InputError(f"SBIBMTask(name={name!r}): not an sbibm task; expected one of {', '.join(PYTHON_TASKS)}.")
        try:
            import sbibm
        except ImportError as error:
            raise InputError(f"SBIBMTask needs sbibm ({error}); install the extra: pip install -e \".[sbibm]\".") \
                from error
        self.name = name
        self.task = sbibm.get_task(name)
        self.theta_dim = self.task.dim_parameters
        self.x_shape = (self.task.dim_data,)
        self._prior = self.task.get_prior()
        self._simulator = self.task.get_simulator()

    def sample_prior(self, num: int, generator: torch.Generator) -> Tensor:
        with seeded_global_generator(generator):
            return self._prior(num_samples=num).to(torch.float32).to(generator.device)

    def simulate(self, theta: Tensor, generator: torch.Generator) -> Tensor:
        self.check_theta(theta)
        with seeded_global_generator(generator), sbibm_files_loadable():
            x = self._simulator(theta.detach().to("cpu", torch.float32))
        return x.to(torch.float32).reshape(len(theta), *self.x_shape).to(generator.device)

    def test_observations(self, num: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """sbibm's observations ``1..num`` and the parameters that generated them."""
        if not 1 <= num <= NUM_OBSERVATIONS:
            raise InputError(f"sbibm's {self.name} has {NUM_OBSERVATIONS} observations with reference posteriors;"
                             f" num_test_observations={num} asks for more (give at most {NUM_OBSERVATIONS}).")
        theta = torch.cat([self.task.get_true_parameters(i) for i in range(1, num + 1)])
        x = torch.cat([self.task.get_observation(i) for i in range(1, num + 1)])
        return theta.to(torch.float32).to(generator.device), x.to(torch.float32).to(generator.device)

    def sample_reference_posterior(self, x: Tensor, num_samples: int, generator: torch.Generator) -> Tensor:
        self.check_x(x)
        references = []
        for row, observation in enumerate(x):
            number = self.observation_number(observation)
            if number is None:
                raise InputError(f"sbibm's {self.name} has reference posterior samples for its {NUM_OBSERVATIONS}"
                                 f" observations only; observation {row} of the test set is not one of them.")
            samples = self.task.get_reference_posterior_samples(number)
            if num_samples > len(samples):
                raise InputError(f"sbibm's {self.name} stores {len(samples)} reference samples per observation;"
                                 f" num_reference_samples={num_samples} asks for more.")
            references.append(samples[:num_samples])
        return torch.stack(references).to(torch.float32).to(generator.device)

    def observation_number(self, observation: Tensor) -> int | None:
        """Which of sbibm's observations ``observation`` is (1-based), or ``None``."""
        for number in range(1, NUM_OBSERVATIONS + 1):
            stored = self.task.get_observation(number).reshape(-1).to(torch.float32)
            if torch.allclose(observation.detach().cpu().reshape(-1), stored, rtol=1e-5, atol=1e-6):
                return number
        return None

    def prior_parameters(self) -> dict[str, np.ndarray]:
        """The prior as numbers, for code without sbibm (the sbi peers of the benchmark): ``prior_kind`` ``uniform``
        with ``prior_low`` and ``prior_high``, or ``normal`` with ``prior_loc`` and ``prior_covariance``."""
        prior = self.task.get_prior_dist()
        base = getattr(prior, "base_dist", prior)  # sbibm's uniform priors are Independent(Uniform)
        if isinstance(base, torch.distributions.Uniform):
            low, high = (np.broadcast_to(v.numpy(), (self.theta_dim,)).astype(np.float32)
                         for v in (base.low, base.high))
            return {"prior_kind": np.str_("uniform"), "prior_low": low, "prior_high": high}
        if isinstance(base, torch.distributions.MultivariateNormal):
            return {"prior_kind": np.str_("normal"), "prior_loc": base.loc.numpy().astype(np.float32),
                    "prior_covariance": base.covariance_matrix.numpy().astype(np.float32)}
        raise InputError(f"sbibm's {self.name} has a prior of type {type(base).__name__}; expected a uniform box or"
                         " a multivariate normal.")

    def __repr__(self) -> str:
        return f"SBIBMTask(name={self.name!r}, theta_dim={self.theta_dim}, x_shape={self.x_shape})"


@contextmanager
def seeded_global_generator(generator: torch.Generator) -> Iterator[None]:
    """Runs code that draws from torch's global CPU generator (sbibm's pyro distributions) with a seed drawn from
    ``generator``, and restores the global generator afterwards."""
    seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextmanager
def sbibm_files_loadable() -> Iterator[None]:
    """Lets ``torch.load`` (whose default is ``weights_only=True`` since torch 2.6) read the pyro distribution that
    sbibm's ``slcp_distractors`` simulator loads from sbibm's own package files at every call, allowing exactly the
    classes that file holds."""
    from pyro.distributions import Chi2, MultivariateStudentT
    from pyro.distributions.torch import Categorical, Independent, MixtureSameFamily

    with torch.serialization.safe_globals([MixtureSameFamily, Categorical, Independent, MultivariateStudentT, Chi2]):
        yield
