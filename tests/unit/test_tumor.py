"""The tumor spheroid simulator: contract, invariants of the model rules, and a few runs against the reference."""

from pathlib import Path

import numpy as np
import pytest
import torch

from cmpe_lightning.tasks.tumor import kernels
from cmpe_lightning.tasks.tumor.lattice import jittered_lattice, search_stencil
from cmpe_lightning.tasks.tumor.simulator import (
    PRIOR_HIGH,
    PRIOR_LOW,
    REFERENCE_LOG10_THETA,
    SimulationTimeout,
    TumorSpheroid,
    simulate_tumor,
)

REFERENCE_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "tumor2d"
SMALL = np.array([-1.5, 2.0, 0.3, -1.0, -2.0, -2.0, -3.0])  # a small, quick tumor
NO_DIVISION = np.array([-1.5, 2.0, 0.8, 0.0, -2.0, -2.0, -3.0])  # q0 = 1: no cell ever proliferates


def test_outputs_shapes_and_ranges():
    out = simulate_tumor(SMALL, seed=3)
    assert {k: v.shape for k, v in out.items()} == {
        "growth_curve": (20,), "extra_cellular_matrix_profile": (1000,), "proliferation_profile": (1000,)
    }
    assert np.all(out["growth_curve"] > 0)
    assert np.all(out["extra_cellular_matrix_profile"] >= 0)
    assert np.all((out["proliferation_profile"] >= 0) & (out["proliferation_profile"] <= 1))
    assert out["extra_cellular_matrix_profile"][-100:].sum() == 0  # a small tumor's profile ends in real zeros


def test_deterministic_for_a_seed_and_random_across_seeds():
    a, b, c = simulate_tumor(SMALL, 5), simulate_tumor(SMALL, 5), simulate_tumor(SMALL, 6)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a[key], c[key]) for key in a)


def test_without_proliferation_the_spheroid_keeps_its_initial_disc():
    out = simulate_tumor(NO_DIVISION, seed=0)
    growth = out["growth_curve"]
    assert np.all(growth == growth[0])
    radius = 10 ** NO_DIVISION[2]  # lattice units; the border's RMS radius lies just inside the disc
    assert 0.8 * 16.8 * (radius - 1.5) < growth[0] < 0.8 * 16.8 * radius
    assert out["proliferation_profile"].sum() == 0


@pytest.mark.parametrize("bad, match", [
    (np.zeros(6), "shape"),
    (np.where(np.arange(7) == 2, np.nan, SMALL), "initial_spheroid_radius"),
    (np.where(np.arange(7) == 0, -0.5, SMALL), "division_rate = -0.5 is outside"),
])
def test_bad_parameters_get_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        simulate_tumor(bad, seed=0)


def test_bad_seed_and_time_limit():
    with pytest.raises(ValueError, match="seed"):
        simulate_tumor(SMALL, seed=-1)
    with pytest.raises(SimulationTimeout, match="stopped at"):
        simulate_tumor(REFERENCE_LOG10_THETA, seed=0, max_wall_time_s=1e-9)


def test_lazy_ecm_equals_explicit_euler_steps():
    params = np.array([0.04, 100.0, 5e-3, 0.3, 0.01, 0.01])
    ecm, step, production = np.array([0.2]), np.array([0]), np.array([7e-3])
    kernels.update_ecm(0, 1234, ecm, step, production, params)
    value = 0.2
    for _ in range(1234):
        value += params[kernels.DT] * (production[0] - params[kernels.DEGRADATION] * value)
    assert ecm[0] == pytest.approx(value, rel=1e-10)
    assert step[0] == 1234


def test_lattice_neighbourhoods_are_symmetric_delaunay_graphs():
    lattice = jittered_lattice(30)
    offsets, neighbours = lattice.neighbour_offsets, lattice.neighbours
    edges = {(s, int(u)) for s in range(lattice.num_sites) for u in neighbours[offsets[s]:offsets[s + 1]]}
    assert all((u, s) in edges for s, u in edges)
    degree = np.diff(offsets)
    assert degree.min() >= 2 and 5.5 < degree.mean() < 6.0  # planar triangulation: mean degree just under 6
    source = np.repeat(np.arange(lattice.num_sites), degree)
    length = np.linalg.norm(lattice.positions[source] - lattice.positions[neighbours], axis=1)
    assert length.max() < 30 / 3  # the frame points keep the hull's longest edges out (26 units without them)
    outermost = (lattice.positions.astype(int) % 29 == 0).any(axis=1)  # rows and columns 0 and 29
    assert lattice.on_edge[outermost].all() and lattice.on_edge.sum() < 1.05 * outermost.sum()


def test_lattice_is_the_reference_implementations():
    """tumor2d's lattice (glibc rand() after srand(0)): its full-domain radius is 768.653556 um in the reference's
    runs that fill the domain (13 of the 100 runs at the reference parameters)."""
    positions = jittered_lattice(100).positions
    full = np.full(len(positions), 0, dtype=np.int64)
    lattice = jittered_lattice(100)
    border = np.zeros(len(positions), dtype=np.int64)
    num = kernels.border_sites(full, lattice.neighbour_offsets, lattice.neighbours, lattice.on_edge, border)
    assert kernels.spheroid_radius(positions, border, num) == pytest.approx(768.653556, abs=1e-6)
    if REFERENCE_DATA.is_dir():
        final = np.load(REFERENCE_DATA / "default_samples_100reps_refparams.npz")["growth_curve"][:, -1]
        assert np.isclose(final, 768.653556, atol=1e-6).sum() >= 10


def test_free_sites_come_from_the_nearest_shell_of_the_shared_stencil():
    lattice = jittered_lattice(30)
    centre = lattice.site(15, 15)
    start, stencil = search_stencil(lattice, centre)
    occupant = np.full(lattice.num_sites, -1, dtype=np.int64)
    found = np.zeros(lattice.num_sites, dtype=np.int64)
    occupant[centre + stencil[:start[1]]] = 1  # the first shell is full
    n = kernels.free_sites_in_stencil(centre, occupant, start, stencil, found)
    assert n == start[2] - start[1] and set(found[:n].tolist()) == set((centre + stencil[start[1]:start[2]]).tolist())
    # another site searches through the same offsets, not through its own neighbourhood
    other = lattice.site(10, 12)
    occupant[:] = -1
    occupant[other + stencil[:start[1]]] = 1
    n = kernels.free_sites_in_stencil(other, occupant, start, stencil, found)
    assert set(found[:n].tolist()) == set((other + stencil[start[1]:start[2]]).tolist())
    occupant[:] = 1
    assert kernels.free_sites_in_stencil(centre, occupant, start, stencil, found) == 0


def test_growth_pushes_along_a_greedy_path_up_to_the_first_free_site():
    lattice = jittered_lattice(30)
    offsets, neighbours, positions = lattice.neighbour_offsets, lattice.neighbours, lattice.positions
    occupant, first, second, path = (np.full(lattice.num_sites, -1, dtype=np.int64) for _ in range(4))
    row = [lattice.site(15, j) for j in range(5, 25)]
    occupant[:] = 99  # everything occupied but the end of the row
    occupant[row[-1]] = -1
    occupant[row[0]], first[0] = 0, row[0]
    filled = kernels.grow_into(0, row[-1], positions, occupant, offsets, neighbours, first, second, path)
    assert occupant[filled] >= 0 and (occupant < 0).sum() == 0  # the free site got filled, nothing was lost
    assert second[0] in neighbours[offsets[row[0]]:offsets[row[0] + 1]] and occupant[second[0]] == 0
    # a cell with a free neighbour takes the target itself
    occupant[:] = -1
    occupant[row[0]] = 0
    filled = kernels.grow_into(0, row[5], positions, occupant, offsets, neighbours, first, second, path)
    assert filled == row[5] == second[0] and occupant[row[5]] == 0 and (occupant >= 0).sum() == 2


def test_simulator_class_contract():
    sim = TumorSpheroid(max_wall_time_s=120)
    theta = sim.sample_prior(1000, torch.Generator().manual_seed(0))
    assert theta.shape == (1000, 7)
    assert torch.all(theta >= torch.tensor(PRIOR_LOW, dtype=torch.float32))
    assert torch.all(theta <= torch.tensor(PRIOR_HIGH, dtype=torch.float32))
    assert sim.output_shapes["growth_curve"] == (20,)
    x = sim.simulate(torch.tensor(SMALL, dtype=torch.float32)[None], torch.Generator().manual_seed(1))
    assert {name: tuple(part.shape) for name, part in x.items()} == {k: (1, *v) for k, v in sim.x_shape.items()}
    with pytest.raises(ValueError, match="max_wall_time_s"):
        TumorSpheroid(max_wall_time_s=0)


@pytest.mark.skipif(not REFERENCE_DATA.is_dir(), reason="reference data of tumor2d not present")
def test_a_few_runs_at_the_reference_parameters_look_like_the_reference():
    reference = np.load(REFERENCE_DATA / "default_samples_100reps_refparams.npz")
    runs = [simulate_tumor(REFERENCE_LOG10_THETA, seed) for seed in range(3)]
    growth = np.stack([r["growth_curve"] for r in runs])
    # every run lies within 3 sd of the reference's mean on every day (edge phase included)
    z = (growth - reference["growth_curve"].mean(0)) / reference["growth_curve"].std(0)
    assert np.abs(z).max() < 3
    # the mean profile of 3 runs is as close to the reference's 100-run mean as 3 reference runs are to the
    # other 97: at most 0.063 (ECM) and 0.24 (proliferation) relative mean deviation over 33 such triples
    for name, tolerance in [("extra_cellular_matrix_profile", 0.08), ("proliferation_profile", 0.3)]:
        ours = np.stack([r[name] for r in runs])[:, :300].mean(0)
        theirs = reference[name][:, :300].mean(0)
        assert np.abs(ours - theirs).mean() < tolerance * np.abs(theirs).mean()
