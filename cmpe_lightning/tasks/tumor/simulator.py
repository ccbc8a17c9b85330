"""The tumor spheroid growth model (Jagiella et al., 2017) of the CMPE paper's fifth experiment.

A two-dimensional, stochastic, agent-based model: cells on a jittered 100 x 100 lattice with Delaunay
neighbourhoods divide (an 11-stage cycle), push their neighbours outward to make room, turn quiescent
away from the rim or where the extracellular matrix (ECM) is scarce, and produce and degrade ECM.
The rules follow the model as the reference ``tumor2d`` package behaves (summarised in the project's
``docs/tumor-model.md``); the code is written from those rules, with the hot loops compiled by Numba
(:mod:`.kernels`, imported on the first run so that importing this module does not load Numba).

Where the summary of the rules left room, the reference's source (``ICB-DCM/tumor2d``) decided: the
lattice is the reference's own (:mod:`.lattice`); every search for a free site goes through one stencil
of index offsets, the hop shells of the run's centre (wrapping across row ends, as the reference's does);
a cell with a free neighbour takes the found site directly, others push along a greedy path up to its
first free site; the division distance is the ``floor``-ed squared distance of jittered positions; the
profiles' depth is measured from the free sites next to the spheroid (and from the neighbours of cells on
the domain's edge), averaged over hourly snapshots from 408 h to 432 h. The ECM of an interval between
events is produced by the cells present during it; the simulation stops at 480 h, the last output (the
reference runs to 500 h, which changes no output). The validation against the reference's runs is in
``docs/tumor_validation`` (``python -m benchmarks.tumor.validation``).

References:
    | Parallelization and High-Performance Computing Enables Automated Statistical Inference of
    | Multi-scale Models (Jagiella et al., 2017, Cell Systems)
    | https://doi.org/10.1016/j.cels.2016.12.002
    | Consistency Models for Scalable and Fast Simulation-Based Inference (Schmitt et al., 2024)
    | https://arxiv.org/abs/2312.05440
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ...simulators.base import Simulator
from ...utils.errors import InputError
from .lattice import Lattice, jittered_lattice, search_stencil

PARAMETER_NAMES = (
    "division_rate",
    "division_depth",
    "initial_spheroid_radius",
    "initial_quiescent_cell_fraction",
    "ecm_production_rate",
    "ecm_degradation_rate",
    "ecm_division_threshold",
)
# uniform priors of the log10 parameters, in the order of PARAMETER_NAMES
PRIOR_LOW = np.array([-3.0, 1.0, 0.0, -5.0, -5.0, -5.0, -5.0])
PRIOR_HIGH = np.array([-1.0, 3.0, 1.2, 0.0, 0.0, 0.0, 0.0])
BOUND_TOLERANCE = 1e-6  # float32 prior draws may round just past a bound
REFERENCE_LOG10_THETA = np.log10([4.17e-2, 100.0, 12.0, 0.75, 5e-3, 8e-4, 1e-2])

NUM_DAYS = 20  # growth curve at 24, 48, ..., 480 h
PROFILE_HOURS = range(408, 433)  # tumor2d: snapshots at 408, 409, ..., 432 h (while t // 24 == 17), written at 432 h
PROFILE_BINS = 1000  # 1-um bins
ECM_TIME_STEP = 0.01  # h, the explicit Euler step of the ECM
OUTPUT_SHAPES = {
    "growth_curve": (NUM_DAYS,),
    "extra_cellular_matrix_profile": (PROFILE_BINS,),
    "proliferation_profile": (PROFILE_BINS,),
}


class SimulationTimeout(RuntimeError):
    """A run exceeded its wall-time limit and was stopped."""


def check_log10_theta(log10_theta) -> np.ndarray:
    """The 7 log10 parameters as a float array, or a clear error for a wrong shape, NaN or a value off the prior."""
    theta = np.asarray(log10_theta, dtype=np.float64)
    if theta.shape != (len(PARAMETER_NAMES),):
        raise InputError(f"log10_theta must have shape (7,) in the order {PARAMETER_NAMES}, got shape {theta.shape}.")
    for name, value, low, high in zip(PARAMETER_NAMES, theta, PRIOR_LOW, PRIOR_HIGH):
        if not np.isfinite(value) or not low - BOUND_TOLERANCE <= value <= high + BOUND_TOLERANCE:
            raise InputError(f"log10 {name} = {value} is outside the prior's support [{low}, {high}].")
    return theta.clip(PRIOR_LOW, PRIOR_HIGH)


@dataclass
class TumorState:
    """The mutable state of one run: cells, their sites and stages, the proliferating list and the ECM."""

    lattice: Lattice
    params: np.ndarray  # kernels.RATE, DEPTH, PRODUCTION, DEGRADATION, ECM_THRESHOLD, DT
    counts: np.ndarray = field(init=False)  # cells, proliferating cells, occupied sites, stamp

    def __post_init__(self) -> None:
        n = self.lattice.num_sites
        self.counts = np.zeros(4, dtype=np.int64)
        self.occupant = np.full(n, -1, dtype=np.int64)
        self.first_site = np.full(n, -1, dtype=np.int64)
        self.second_site = np.full(n, -1, dtype=np.int64)
        self.stage = np.zeros(n, dtype=np.int64)
        self.state = np.zeros(n, dtype=np.int64)
        self.proliferating = np.zeros(n, dtype=np.int64)
        self.list_position = np.full(n, -1, dtype=np.int64)
        self.ecm = np.zeros(n)
        self.ecm_step = np.zeros(n, dtype=np.int64)
        self.production = np.zeros(n)
        self.stamp = np.zeros(n, dtype=np.int64)
        self.found = np.zeros(n, dtype=np.int64)
        self.path = np.zeros(n, dtype=np.int64)
        self.border = np.zeros(n, dtype=np.int64)
        self.stencil_start = np.zeros(1, dtype=np.int64)
        self.stencil = np.zeros(0, dtype=np.int64)

    def place_initial_cells(self, radius: float, quiescent_fraction: float, rng: np.random.Generator) -> None:
        """Fills the disc of ``radius`` around the run's centre with cells and builds the search stencil.

        As in ``tumor2d``: the centre is a random neighbour of the site nearest the domain's middle, the
        stencil holds its hop shells, and each initial cell proliferates with probability
        ``(1 - q0) * exp(-d / L)``, ``d`` to a free site of the nearest stencil shell (see
        :func:`.kernels.keep_probability`), once all initial cells are placed.
        """
        from . import kernels

        lattice = self.lattice
        positions = lattice.positions
        middle = (positions.min(0) + positions.max(0)) / 2
        central = int(np.argmin(np.linalg.norm(positions - middle, axis=1)))
        neighbours = lattice.neighbours[lattice.neighbour_offsets[central]:lattice.neighbour_offsets[central + 1]]
        centre = int(rng.choice(neighbours))
        self.stencil_start, self.stencil = search_stencil(lattice, centre, kernels.MAX_HOPS)
        sites = np.flatnonzero(np.linalg.norm(positions - positions[centre], axis=1) < radius)
        self.occupant[sites] = np.arange(len(sites))
        keep = np.array([
            kernels.keep_probability(site, positions, self.occupant, self.stencil_start, self.stencil, self.found,
                                     self.params)
            for site in sites
        ])
        keep *= 1 - quiescent_fraction
        proliferating = rng.random(len(sites)) < keep
        for cell, (site, divides) in enumerate(zip(sites, proliferating)):
            self.first_site[cell], self.occupant[site] = site, cell
            self.state[cell] = kernels.PROLIFERATING if divides else kernels.QUIESCENT
            if divides:
                self.counts[1] = kernels.add_proliferating(cell, self.proliferating, self.list_position, self.counts[1])
        self.counts[0] = self.counts[2] = len(sites)
        for site in sites:
            kernels.start_production(site, 0, lattice.neighbour_offsets, lattice.neighbours, self.ecm, self.ecm_step,
                                     self.production, self.params)

    def advance(self, t: float, t_stop: float) -> float:
        from . import kernels

        lattice = self.lattice
        return kernels.advance(
            t, t_stop, self.counts, self.params, lattice.positions, lattice.neighbour_offsets, lattice.neighbours,
            self.stencil_start, self.stencil, self.occupant, self.first_site, self.second_site, self.stage,
            self.state, self.proliferating, self.list_position, self.ecm, self.ecm_step, self.production,
            self.found, self.path,
        )

    def find_border(self) -> int:
        from . import kernels

        lattice = self.lattice
        return kernels.border_sites(self.occupant, lattice.neighbour_offsets, lattice.neighbours, lattice.on_edge,
                                    self.border)

    def find_depth_reference(self) -> int:
        from . import kernels

        lattice = self.lattice
        self.counts[3] += 1
        return kernels.depth_reference_sites(self.occupant, lattice.neighbour_offsets, lattice.neighbours,
                                             lattice.on_edge, self.stamp, self.counts[3], self.border)


def simulate_tumor(log10_theta, seed: int, max_wall_time_s: float | None = None) -> dict[str, np.ndarray]:
    """Simulates the tumor spheroid model once.

    Args:
        log10_theta: the 7 log10 parameters, in the order of :data:`PARAMETER_NAMES`, inside the prior's support.
        seed: the run's seed (a non-negative int); the same seed gives the same outputs.
        max_wall_time_s: stop the run with :class:`SimulationTimeout` after this many seconds (None: no limit).

    Returns:
        ``growth_curve`` (20,): spheroid radius (um) at the end of days 1 to 20;
        ``extra_cellular_matrix_profile`` (1000,): mean ECM per cell against distance to the rim (1-um bins);
        ``proliferation_profile`` (1000,): fraction of proliferating cells against distance to the rim.

    Example:
        >>> out = simulate_tumor([-1.5, 2.0, 0.5, -1.0, -2.0, -2.0, -3.0], seed=1)
        >>> {name: a.shape for name, a in out.items()}
        {'growth_curve': (20,), 'extra_cellular_matrix_profile': (1000,), 'proliferation_profile': (1000,)}
    """
    from . import kernels  # Numba compiles (or loads its cache) on the first run, not at import

    theta = 10.0 ** check_log10_theta(log10_theta)
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise InputError(f"seed must be a non-negative integer below 2**63, got {seed!r}.")
    rate, depth, radius, quiescent_fraction, production, degradation, threshold = theta
    params = np.array([rate, depth, production, degradation, threshold, ECM_TIME_STEP])
    state = TumorState(jittered_lattice(100), params)
    kernels.seed_rng(int(seed) % 2**32)
    state.place_initial_cells(radius, quiescent_fraction, np.random.default_rng(seed))

    growth = np.zeros(NUM_DAYS)
    ecm_sum, proliferating_sum, count = np.zeros(PROFILE_BINS), np.zeros(PROFILE_BINS), np.zeros(PROFILE_BINS)
    start, t = time.monotonic(), 0.0
    for hour in range(1, 24 * NUM_DAYS + 1):
        t = state.advance(t, float(hour))
        if hour % 24 == 0:
            num_border = state.find_border()
            growth[hour // 24 - 1] = kernels.spheroid_radius(state.lattice.positions, state.border, num_border)
        if hour in PROFILE_HOURS:
            num_border = state.find_depth_reference()
            kernels.accumulate_profiles(
                state.counts[0], state.first_site, state.state, state.lattice.positions, state.border, num_border,
                int(hour / ECM_TIME_STEP), state.ecm, state.ecm_step, state.production, params,
                ecm_sum, proliferating_sum, count,
            )
        if max_wall_time_s is not None and time.monotonic() - start > max_wall_time_s:
            raise SimulationTimeout(
                f"Tumor run with log10_theta={np.round(np.log10(theta), 4).tolist()}, seed={seed} stopped at {hour} h"
                f" of {24 * NUM_DAYS} h after {time.monotonic() - start:.1f} s (limit {max_wall_time_s} s)."
            )
    seen = count > 0
    return {
        "growth_curve": growth,
        "extra_cellular_matrix_profile": np.divide(ecm_sum, count, out=np.zeros(PROFILE_BINS), where=seen),
        "proliferation_profile": np.divide(proliferating_sum, count, out=np.zeros(PROFILE_BINS), where=seen),
    }


class TumorSpheroid(Simulator):
    """The tumor model as a :class:`Simulator`: uniform prior on the 7 log10 parameters, costly runs.

    Observations are dicts of the three named outputs (``x_shape`` is :data:`OUTPUT_SHAPES`), from ``simulate``
    as from a pre-simulated bank (``cmpe-simulate``), which stores them by name; training uses a bank.

    Args:
        max_wall_time_s: seconds after which one run is stopped with :class:`SimulationTimeout`.

    Example:
        >>> sim = TumorSpheroid()
        >>> sim.sample_prior(3, torch.Generator().manual_seed(0)).shape
        torch.Size([3, 7])
    """

    theta_dim = len(PARAMETER_NAMES)
    x_shape = OUTPUT_SHAPES

    def __init__(self, max_wall_time_s: float | None = 600.0):
        if max_wall_time_s is not None and max_wall_time_s <= 0:
            raise InputError(f"max_wall_time_s must be positive or None, got {max_wall_time_s}.")
        self.max_wall_time_s = max_wall_time_s

    @property
    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(OUTPUT_SHAPES)

    def sample_prior(self, num: int, generator: torch.Generator) -> Tensor:
        low, high = (torch.as_tensor(b, dtype=torch.float32, device=generator.device) for b in (PRIOR_LOW, PRIOR_HIGH))
        return low + (high - low) * torch.rand(num, self.theta_dim, generator=generator, device=generator.device)

    def simulate_run(self, theta: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        return simulate_tumor(theta, seed, self.max_wall_time_s)

    def simulate(self, theta: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        self.check_theta(theta)
        seeds = torch.randint(2**31, (len(theta),), generator=generator, device=generator.device).tolist()
        runs = [self.simulate_run(row, seed) for row, seed in zip(theta.cpu().double().numpy(), seeds)]
        return {name: torch.as_tensor(np.stack([run[name] for run in runs]), dtype=torch.float32, device=theta.device)
                for name in OUTPUT_SHAPES}
