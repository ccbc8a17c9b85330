"""The tumor spheroid simulator: contract, invariants of the model rules, and a few runs against the reference."""

from pathlib import Path

import numpy as np
import pytest
import torch

from cmpe_lightning.tasks.tumor import kernels
from cmpe_lightning.tasks.tumor.simulator import (
    PRIOR_HIGH,
    PRIOR_LOW,
    REFERENCE_LOG10_THETA,
    SimulationTimeout,
    TumorSpheroid,
    simulate_tumor,
)
from cmpe_lightning.tasks.tumor.lattice import jittered_lattice

REFERENCE_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tumor2d"
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
    assert degree.min() >= 3 and 5.5 < degree.mean() < 6.0  # planar triangulation: mean degree just under 6
    assert lattice.on_edge.sum() == 4 * 30 - 4


def test_free_site_search_finds_the_nearest_shell():
    lattice = jittered_lattice(30)
    occupant = np.full(lattice.num_sites, -1, dtype=np.int64)
    centre = lattice.site(15, 15)
    ring = lattice.neighbours[lattice.neighbour_offsets[centre]:lattice.neighbour_offsets[centre + 1]]
    occupant[centre], occupant[ring] = 0, 1  # the first shell is full
    stamp, queue, found = (np.zeros(lattice.num_sites, dtype=np.int64) for _ in range(3))
    n = kernels.free_sites_of_nearest_shell(centre, occupant, lattice.neighbour_offsets, lattice.neighbours,
                                            stamp, 1, queue, found)
    second_shell = {int(u) for s in ring for u in lattice.neighbours[lattice.neighbour_offsets[s]:lattice.neighbour_offsets[s + 1]]}
    second_shell -= set(ring.tolist()) | {centre}
    assert n > 0 and set(found[:n].tolist()) == second_shell


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
    low, high = reference["growth_curve"].min(0), reference["growth_curve"].max(0)
    spread = reference["growth_curve"].std(0)
    # every run stays within the reference's range widened by 3 sd, on the first ten days
    assert np.all(growth[:, :10] > low[:10] - 3 * spread[:10]) and np.all(growth[:, :10] < high[:10] + 3 * spread[:10])
    # the ECM profile is close; the proliferation profile is known to be steeper than the reference's (about
    # 0.36 against 0.26 at the rim over 100 runs, see the validation script), so it only has to be of its size
    for name, tolerance in [("extra_cellular_matrix_profile", 0.25), ("proliferation_profile", 0.6)]:
        ours = np.stack([r[name] for r in runs])[:, :300].mean(0)
        theirs = reference[name][:, :300].mean(0)
        assert np.abs(ours - theirs).mean() < tolerance * np.abs(theirs).mean()
