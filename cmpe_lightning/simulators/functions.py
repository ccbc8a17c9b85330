"""A simulator made of plain functions: a prior distribution and a forward model, without writing a class."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Distribution

from ..utils.imports import import_object
from ..utils.structure import Batch, ShapeSpec, normalize_shape, shape_of
from .base import Simulator
from .priors import as_vector_distribution


class FunctionSimulator(Simulator):
    """The :class:`Simulator` of a prior distribution and a function ``simulate(theta[, rng]) -> x``.

    The function may work on numpy arrays or torch tensors (``backend``), on one parameter vector at a time
    or on a batch (``vectorized``), and return an array or a dict of named arrays (several outputs). Its
    randomness is made reproducible either way: a function with a second argument gets a random generator
    (``numpy.random.Generator`` or ``torch.Generator``) to draw from; a function without one runs with the
    global numpy and torch seeds set from the simulator's generator (and restored afterwards).

    Args:
        prior: a ``torch.distributions.Distribution`` over the parameters (such as :class:`BoxUniform`), a
            function without arguments that returns one, or the import path of either (``"my_model.prior"``).
            A batch of independent scalar distributions counts as one vector-valued prior.
        simulator: the forward model, or its import path (``"my_model.simulate"``, found in the working
            folder). Vectorized: ``(num, theta_dim) -> (num, *x_shape)``; per run: ``(theta_dim,) -> x_shape``.
        x_shape: the shape of one observation (or a dict of named shapes); ``None`` simulates one prior draw
            to find it.
        backend: ``"numpy"`` (float64 arrays in, arrays out) or ``"torch"`` (float32 tensors in and out).
        vectorized: whether ``simulator`` takes a batch of parameter vectors.

    Example:
        >>> import numpy as np
        >>> from cmpe_lightning.simulators import BoxUniform
        >>> def simulate(theta, rng):  # one run: 10 noisy observations of a line
        ...     return theta[0] + theta[1] * np.linspace(0, 1, 10) + 0.1 * rng.standard_normal(10)
        >>> sim = FunctionSimulator(BoxUniform([-1, -1], [1, 1]), simulate, backend="numpy", vectorized=False)
        >>> sim.theta_dim, sim.x_shape
        (2, (10,))
        >>> theta, x = sim.sample_joint(4, torch.Generator().manual_seed(0))
        >>> theta.shape, x.shape, x.dtype
        (torch.Size([4, 2]), torch.Size([4, 10]), torch.float32)

    YAML::

        data:
          class_path: cmpe_lightning.SimulationDataModule
          init_args:
            simulator:
              class_path: cmpe_lightning.FunctionSimulator
              init_args:
                prior: {class_path: cmpe_lightning.BoxUniform, init_args: {low: [-1, -1], high: [1, 1]}}
                simulator: my_model.simulate    # my_model.py in the working folder
                backend: numpy
                vectorized: false
    """

    def __init__(
        self,
        prior: Distribution | Callable[[], Distribution] | str,
        simulator: Callable[..., Any] | str,
        x_shape: int | Sequence[int] | dict[str, Sequence[int]] | None = None,
        backend: Literal["numpy", "torch"] = "torch",
        vectorized: bool = True,
    ):
        if backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}.")
        self.prior, self.simulator, self.backend, self.vectorized = prior, simulator, backend, vectorized
        self.prior_distribution = as_vector_distribution(_resolve_prior(prior))
        self.function = import_object(simulator) if isinstance(simulator, str) else simulator
        if not callable(self.function):
            raise ValueError(f"simulator must be a function or its import path, got {simulator!r}.")
        self.takes_rng = _positional_arguments(self.function) >= 2
        self.theta_dim = int(self.prior_distribution.event_shape[0])
        if x_shape is None:
            theta = self.sample_prior(1, torch.Generator().manual_seed(0))
            x_shape = shape_of(self._call(theta, torch.Generator().manual_seed(0)))
        self.x_shape: ShapeSpec = normalize_shape(x_shape)

    def sample_prior(self, num: int, generator: torch.Generator) -> Tensor:
        with _seeded(generator):
            theta = self.prior_distribution.sample((num,))
        return theta.to(device=generator.device, dtype=torch.float32)

    def log_prob_prior(self, theta: Tensor) -> Tensor:
        """The prior's log density of ``theta`` ``(num, theta_dim)``: ``-inf`` outside its support, never an error."""
        prior = self.prior_distribution
        inside = prior.support.check(theta)
        inside = inside.all(-1) if inside.ndim == theta.ndim else inside
        safe = torch.where(inside[:, None], theta, prior.sample((len(theta),)).to(theta))
        return prior.log_prob(safe).masked_fill(~inside, -torch.inf)

    def simulate(self, theta: Tensor, generator: torch.Generator) -> Batch:
        self.check_theta(theta)
        x = self._call(theta, generator)
        self.check_x(x)
        return x

    def _call(self, theta: Tensor, generator: torch.Generator) -> Batch:
        """Runs the user's function on ``theta`` and returns float32 tensors on the generator's device."""
        if self.backend == "numpy":
            args = theta.detach().cpu().double().numpy()
            rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator, device=generator.device)))
        else:
            args, rng = theta, generator
        extra = (rng,) if self.takes_rng else ()
        with _seeded(generator, enabled=not self.takes_rng):
            if self.vectorized:
                out = _as_tensors(self.function(args, *extra), generator.device)
            else:
                runs = [_as_tensors(self.function(row, *extra), generator.device) for row in args]
                out = _stack(runs)
        if (got := len(out) if isinstance(out, Tensor) else len(next(iter(out.values())))) != len(theta):
            raise ValueError(f"{_name(self.function)} returned {got} observations for {len(theta)} parameter vectors"
                             f" (vectorized={self.vectorized}: is that the right setting?).")
        return out

    def __repr__(self) -> str:
        return f"FunctionSimulator({_name(self.function)}, theta_dim={self.theta_dim}, x_shape={self.x_shape})"


def _resolve_prior(prior: Any) -> Distribution:
    spec = prior
    if isinstance(prior, str):
        prior = import_object(prior)
    if not isinstance(prior, Distribution) and callable(prior):
        prior = prior()
    if not isinstance(prior, Distribution):
        raise ValueError(f"prior must be a torch.distributions.Distribution, a function returning one or the import"
                         f" path of either; got {spec!r} ({type(prior).__name__}).")
    return prior


def _positional_arguments(function: Callable) -> int:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(p.kind in kinds for p in parameters)


class _seeded:
    """Sets numpy's and torch's global seeds from ``generator`` for a block, and restores them after it."""

    def __init__(self, generator: torch.Generator, enabled: bool = True):
        self.generator, self.enabled = generator, enabled

    def __enter__(self):
        if self.enabled:
            seed = int(torch.randint(2**31 - 1, (1,), generator=self.generator, device=self.generator.device))
            self.numpy_state, self.torch_state = np.random.get_state(), torch.random.get_rng_state()
            np.random.seed(seed)
            torch.manual_seed(seed)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            np.random.set_state(self.numpy_state)
            torch.random.set_rng_state(self.torch_state)


def _as_tensors(value: Any, device: torch.device) -> Batch:
    if isinstance(value, dict):
        return {str(k): _as_tensors(v, device) for k, v in value.items()}
    try:
        return torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor) else value,
                               dtype=torch.float32, device=device)
    except (TypeError, ValueError) as error:
        raise ValueError(f"A simulator function must return arrays or tensors (or a dict of them), got"
                         f" {type(value).__name__}: {error}") from error


def _stack(runs: list[Batch]) -> Batch:
    if isinstance(runs[0], dict):
        return {name: torch.stack([run[name] for run in runs]) for name in runs[0]}
    return torch.stack(runs)


def _name(function: Callable) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
