"""A simulator made of plain functions: a prior distribution and a forward model, without writing a class."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Distribution

from ..utils.errors import InputError
from ..utils.imports import import_object
from ..utils.structure import Batch, ShapeSpec, map_structure, normalize_shape, shape_of
from .base import Simulator, found_shape
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
        x_shape: the shape of one observation (or a dict of named shapes); ``None`` takes the shape found by the
            trial call at construction (two prior draws), which also checks the function: a function that fails
            there, returns ``None``, a single number or shapes that differ between runs, or disagrees with a given
            ``x_shape``, is an error that names it, what it was given and what is expected.
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
            raise InputError(f"backend must be 'numpy' or 'torch', got {backend!r}.")
        self.prior, self.simulator, self.backend, self.vectorized = prior, simulator, backend, vectorized
        self.prior_distribution = as_vector_distribution(_resolve_prior(prior))
        self.function = import_object(simulator) if isinstance(simulator, str) else simulator
        if not callable(self.function):
            raise InputError(f"simulator must be a function or its import path, got {simulator!r}.")
        self.takes_rng = _positional_arguments(self.function) >= 2
        self.theta_dim = int(self.prior_distribution.event_shape[0])
        found = self._probe()
        if x_shape is not None and normalize_shape(x_shape) != found:
            raise InputError(f"{self.origin} returns observations of shape {found} (one run, found on a trial call),"
                             f" but x_shape is {normalize_shape(x_shape)}: correct x_shape, or leave it out to use the"
                             f" found one.")
        self.x_shape: ShapeSpec = found

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
        self.check_simulated(x, len(theta))
        return x

    @property
    def origin(self) -> str:
        """The user's function, ``module.name``."""
        return _name(self.function)

    def _probe(self) -> ShapeSpec:
        """The shape of one observation, from a trial call on two prior draws made at construction; a function that
        fails there gets one paragraph naming it, what it was given and, where another setting works, that setting."""
        theta = self.sample_prior(2, torch.Generator().manual_seed(0))
        try:
            x = self._call(theta, torch.Generator().manual_seed(0))
        except SimulatorOutputError:
            raise
        except Exception as error:  # noqa: BLE001 -- the user's function: any failure is explained, with its cause
            given = ("a float64 numpy array" if self.backend == "numpy" else "a float32 torch tensor") + (
                f" of shape {(2, self.theta_dim) if self.vectorized else (self.theta_dim,)}")
            prior = type(self.prior_distribution).__name__
            raise InputError(
                f"{self.origin} failed on a trial call at set-up, given theta as {given} (drawn from the prior {prior},"
                f" theta_dim {self.theta_dim}; backend: {self.backend}, vectorized: {str(self.vectorized).lower()}):"
                f" {type(error).__name__}: {error}. {self._hint(theta, error)}"
            ) from error
        shape = shape_of(x)
        for part in (shape.values() if isinstance(shape, dict) else [shape]):
            if not part or 0 in part:
                one = "shape (num, 1)" if self.vectorized else "[value]"
                raise SimulatorOutputError(
                    f"{self.origin} returned {found_shape(x)} for 2 parameter vectors: observations of shape {part},"
                    f" which hold no axis of values; return {one} for one number per run.")
        return normalize_shape(shape)

    def _hint(self, theta: Tensor, error: Exception) -> str:
        """What to change, found by trying the other backend and vectorized settings on the same draws."""
        settings = self.backend, self.vectorized
        other = "torch" if self.backend == "numpy" else "numpy"
        trials = [(other, self.vectorized), (self.backend, not self.vectorized), (other, not self.vectorized)]
        for backend, vectorized in trials:
            self.backend, self.vectorized = backend, vectorized
            try:
                self._call(theta, torch.Generator().manual_seed(0))
                works = True
            except Exception:  # noqa: BLE001 -- this setting fails too
                works = False
            finally:
                self.backend, self.vectorized = settings
            if works:
                return (f"It runs with backend: {backend} and vectorized: {str(vectorized).lower()}: set those"
                        f" ({'numpy arrays' if backend == 'numpy' else 'torch tensors'} in and out,"
                        f" {'a batch of parameter vectors' if vectorized else 'one parameter vector'} per call).")
        if isinstance(error, IndexError):
            return (f"The prior draws {self.theta_dim} parameters: does the function read more (a prior of fewer"
                    f" dimensions than the model has parameters)? Give the prior one dimension per parameter.")
        return "Check that the function runs on such a theta, and that the prior has one dimension per parameter."

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
                out = self._as_tensors(self.function(args, *extra), generator.device, f"{len(theta)} parameter vectors")
            else:
                one = "one parameter vector"
                out = self._stack([self._as_tensors(self.function(row, *extra), generator.device, one) for row in args])
        got = [len(t) if t.ndim else 0 for t in (out.values() if isinstance(out, dict) else [out])]
        if set(got) != {len(theta)}:
            raise SimulatorOutputError(
                f"{self.origin} returned {got[0] if len(set(got)) == 1 else got} observations for {len(theta)}"
                f" parameter vectors (vectorized={self.vectorized}: is that the right setting?).")
        return out

    def _as_tensors(self, value: Any, device: torch.device, given: str) -> Batch:
        """The function's return value as float32 tensors, or an error naming the function and what it returned."""
        if isinstance(value, dict):
            return {str(k): self._as_tensors(v, device, given) for k, v in value.items()}
        known = f" with x_shape {self.x_shape}" if hasattr(self, "x_shape") else ""  # unknown in the trial call
        layout = "(num, *x_shape)" if self.vectorized else "x_shape"
        expected = f"an array or tensor (or a dict of them) of shape {layout}{known}"
        if value is None:
            raise SimulatorOutputError(f"{self.origin} returned None for {given}; it must return {expected}. Is a"
                                       f" `return` missing?")
        try:
            tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor) else value,
                                     dtype=torch.float32, device=device)
        except (TypeError, ValueError) as error:
            raise SimulatorOutputError(f"{self.origin} returned {type(value).__name__} for {given} ({error}); it must"
                                       f" return {expected}.") from error
        if tensor.ndim == 0:
            one = "shape (num, 1)" if self.vectorized else "[value]"
            raise SimulatorOutputError(f"{self.origin} returned a single number ({float(tensor):.4g}) for {given}; it"
                                       f" must return {expected} ({one} for one number per run).")
        return tensor

    def _stack(self, runs: list[Batch]) -> Batch:
        """One batch of the runs of a per-run function, or an error naming it where their shapes differ."""
        shapes = [map_structure(lambda t: tuple(t.shape), run) for run in runs]
        if any(shape != shapes[0] for shape in shapes):
            other = next(shape for shape in shapes if shape != shapes[0])
            raise SimulatorOutputError(f"{self.origin} returned observations of shape {shapes[0]} on one call and"
                                       f" {other} on another; every run must return the same shape.")
        if isinstance(runs[0], dict):
            return {name: torch.stack([run[name] for run in runs]) for name in runs[0]}
        return torch.stack(runs)

    def __repr__(self) -> str:
        return f"FunctionSimulator({_name(self.function)}, theta_dim={self.theta_dim}, x_shape={self.x_shape})"


def _resolve_prior(prior: Any) -> Distribution:
    spec = prior
    if isinstance(prior, str):
        prior = import_object(prior)
    if not isinstance(prior, Distribution) and callable(prior):
        prior = prior()
    if not isinstance(prior, Distribution):
        raise InputError(f"prior must be a torch.distributions.Distribution, a function returning one or the import"
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


class SimulatorOutputError(InputError):
    """A user's simulator function returned something unusable (the message says what and names the function)."""


def _name(function: Callable) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
