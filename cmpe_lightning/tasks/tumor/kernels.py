"""Numba-compiled inner loops of the tumor spheroid model (rules in ``docs``: see :mod:`.tumor`).

The state of a run lives in a few flat numpy arrays (:class:`TumorState` in :mod:`.tumor` owns them);
these kernels mutate it in place. Randomness comes from Numba's own Mersenne Twister, seeded once per
run by :func:`seed_rng`, so a run is reproducible as long as a process runs one simulation at a time.

The extracellular matrix (ECM) follows the model's explicit Euler scheme (step ``dt``) exactly, but lazily:
between two changes of a site's neighbourhood its production rate is constant, and ``m`` Euler steps of
``E <- E + dt (P - k E)`` have the closed form ``a^m E + P (1 - a^m) / k`` with ``a = 1 - k dt``. A site is
brought up to date only when its production changes or its ECM is read, instead of updating all 10 000
sites 50 000 times per run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

MICROMETRES_PER_LATTICE_UNIT = 13.54  # 16.8 um x 0.806
CELL_DIAMETER = 16.8  # um
RADIUS_SCALE = 0.8 * 16.8  # um per lattice unit in the growth curve's radius
MAX_HOPS = 10  # the search for a free site stops after this many shells
GROWTH_EVENT = 10  # the 10th cell-cycle event grows the cell into a second site ...
DIVISION_EVENT = 11  # ... and the 11th splits it off as a daughter
BACKGROUND_RATE = 1.0 / 24.0  # per hour
NO_FREE_SITE_SQUARED_DISTANCE = 200.0
QUIESCENT, PROLIFERATING, ARRESTED = 0, 1, 2  # ARRESTED: no free site within MAX_HOPS, never divides again

# indices into the float parameter vector
RATE, DEPTH, PRODUCTION, DEGRADATION, ECM_THRESHOLD, DT = range(6)


@njit(cache=True)
def seed_rng(seed: int) -> None:
    np.random.seed(seed)


@njit(cache=True)
def squared_distance(positions, a, b):
    """Squared Euclidean distance of sites ``a`` and ``b`` (lattice units)."""
    dx = positions[a, 0] - positions[b, 0]
    dy = positions[a, 1] - positions[b, 1]
    return dx * dx + dy * dy


@njit(cache=True)
def free_sites_in_stencil(site, occupant, stencil_start, stencil, found):
    """Writes the free sites of the nearest shell of ``site``'s search stencil that has any into ``found`` and
    returns their number (0: none within ``MAX_HOPS`` shells).

    As in ``tumor2d``, the stencil is one set of index offsets for every site, the hop shells of the run's
    central site (:func:`.lattice.search_stencil`), not each site's own neighbourhood. Indices are only checked against
    the lattice's ends, so near the left and right edges an offset wraps into the neighbouring row, as the
    reference's does.
    """
    n = len(occupant)
    for shell in range(len(stencil_start) - 1):
        num_found = 0
        for q in range(stencil_start[shell], stencil_start[shell + 1]):
            other = site + stencil[q]
            if 0 <= other < n and occupant[other] < 0:
                found[num_found] = other
                num_found += 1
        if num_found > 0:
            return num_found
    return 0


@njit(cache=True)
def has_free_neighbour(site, occupant, offsets, neighbours):
    for e in range(offsets[site], offsets[site + 1]):
        if occupant[neighbours[e]] < 0:
            return True
    return False


@njit(cache=True)
def update_ecm(site, step, ecm, ecm_step, production, params):
    """Brings the ECM of ``site`` from its last Euler step to ``step`` (closed form of the Euler steps)."""
    m = step - ecm_step[site]
    if m > 0:
        k, dt = params[DEGRADATION], params[DT]
        log_a = math.log1p(-k * dt)
        decay = math.exp(m * log_a)
        ecm[site] = decay * ecm[site] - production[site] * math.expm1(m * log_a) / k
        ecm_step[site] = step


@njit(cache=True)
def start_production(site, step, offsets, neighbours, ecm, ecm_step, production, params):
    """A cell now occupies ``site``: it and its ``n`` neighbours receive ``p / 2`` and ``p / (2 n)`` of ECM per hour."""
    update_ecm(site, step, ecm, ecm_step, production, params)
    production[site] += 0.5 * params[PRODUCTION]
    n = offsets[site + 1] - offsets[site]
    for e in range(offsets[site], offsets[site + 1]):
        other = neighbours[e]
        update_ecm(other, step, ecm, ecm_step, production, params)
        production[other] += 0.5 * params[PRODUCTION] / n


@njit(cache=True)
def move_occupant(source, target, occupant, first_site, second_site):
    cell = occupant[source]
    occupant[target] = cell
    if first_site[cell] == source:
        first_site[cell] = target
    else:
        second_site[cell] = target


@njit(cache=True)
def grow_into(cell, target, positions, occupant, offsets, neighbours, first_site, second_site, path):
    """``cell`` takes a second site towards the free ``target``; returns the site that became occupied (-1: none).

    A cell with a free neighbour takes ``target`` itself. Otherwise it pushes: the path is greedy (each step
    to the neighbour closest to ``target``) and ends at the first free site on the way, as ``tumor2d``'s
    shift path does; the cells on it move one site outward and the mother takes the path's first site.
    A path that stops getting closer (possible only next to the domain's edge) pushes nothing and returns -1.
    """
    if has_free_neighbour(first_site[cell], occupant, offsets, neighbours):
        second_site[cell] = target
        occupant[target] = cell
        return target
    length, site = 0, first_site[cell]
    distance = squared_distance(positions, site, target)
    while site != target and (length == 0 or occupant[site] >= 0):
        best, best_distance = -1, distance
        for e in range(offsets[site], offsets[site + 1]):
            other = neighbours[e]
            d = squared_distance(positions, other, target)
            if d < best_distance:
                best, best_distance = other, d
        if best < 0:
            return -1
        path[length] = best
        length += 1
        site, distance = best, best_distance
    for i in range(length - 1, 0, -1):  # from the free end, so no cell is overwritten
        move_occupant(path[i - 1], path[i], occupant, first_site, second_site)
    second_site[cell] = path[0]
    occupant[path[0]] = cell
    return path[length - 1]


@njit(cache=True)
def add_proliferating(cell, proliferating, list_position, num_proliferating):
    proliferating[num_proliferating] = cell
    list_position[cell] = num_proliferating
    return num_proliferating + 1


@njit(cache=True)
def remove_proliferating(cell, proliferating, list_position, num_proliferating):
    last = proliferating[num_proliferating - 1]
    proliferating[list_position[cell]] = last
    list_position[last] = list_position[cell]
    list_position[cell] = -1
    return num_proliferating - 1


@njit(cache=True)
def advance(
    t, t_stop, counts, params, positions, offsets, neighbours, stencil_start, stencil, occupant, first_site,
    second_site, stage, state, proliferating, list_position, ecm, ecm_step, production, found, path,
):
    """Runs the exact-time stochastic simulation from ``t`` to ``t_stop`` (hours) and returns ``t_stop``.

    ``counts`` holds ``[number of cells, number of proliferating cells, occupied sites, stamp]``.
    The exponential clock is memoryless, so the waiting time that would cross ``t_stop`` is simply redrawn
    by the next call.
    """
    cycle_rate = 11.0 * params[RATE]
    while True:
        total_rate = BACKGROUND_RATE + counts[1] * cycle_rate
        t += np.random.exponential(1.0 / total_rate)
        if t >= t_stop:
            return t_stop
        pick = np.random.random() * total_rate
        if pick < BACKGROUND_RATE:
            continue
        cell = proliferating[min(int((pick - BACKGROUND_RATE) / cycle_rate), counts[1] - 1)]
        stage[cell] += 1
        if stage[cell] < GROWTH_EVENT:
            continue
        step = int(t / params[DT])
        if stage[cell] == GROWTH_EVENT:
            num_free = free_sites_in_stencil(first_site[cell], occupant, stencil_start, stencil, found)
            filled = -1
            if num_free > 0:
                target = found[np.random.randint(num_free)]
                filled = grow_into(cell, target, positions, occupant, offsets, neighbours, first_site, second_site,
                                   path)
            if filled < 0:
                state[cell] = ARRESTED
                counts[1] = remove_proliferating(cell, proliferating, list_position, counts[1])
                continue
            start_production(filled, step, offsets, neighbours, ecm, ecm_step, production, params)
            counts[2] += 1
            continue
        # division: the second site becomes the daughter; both decide whether to go on proliferating
        daughter = counts[0]
        counts[0] += 1
        first_site[daughter] = second_site[cell]
        second_site[cell] = -1
        occupant[first_site[daughter]] = daughter
        stage[cell] = 0
        stage[daughter] = 0
        keep = keep_probability(first_site[daughter], positions, occupant, stencil_start, stencil, found, params)
        if not stays_proliferating(first_site[cell], keep, step, ecm, ecm_step, production, params):
            state[cell] = QUIESCENT
            counts[1] = remove_proliferating(cell, proliferating, list_position, counts[1])
        if stays_proliferating(first_site[daughter], keep, step, ecm, ecm_step, production, params):
            state[daughter] = PROLIFERATING
            counts[1] = add_proliferating(daughter, proliferating, list_position, counts[1])
        else:
            state[daughter] = QUIESCENT


@njit(cache=True)
def keep_probability(site, positions, occupant, stencil_start, stencil, found, params):
    """``exp(-d / L)``: ``d`` (um) to a random free site of the nearest stencil shell, ``floor``-ed in squared
    lattice units as ``tumor2d`` does (``sqrt(200)`` when none is within reach), ``L`` the division depth."""
    num_free = free_sites_in_stencil(site, occupant, stencil_start, stencil, found)
    squared = NO_FREE_SITE_SQUARED_DISTANCE
    if num_free > 0:
        squared = math.floor(squared_distance(positions, site, found[np.random.randint(num_free)]))
    return math.exp(-math.sqrt(squared) * MICROMETRES_PER_LATTICE_UNIT / params[DEPTH])


@njit(cache=True)
def stays_proliferating(site, keep_probability, step, ecm, ecm_step, production, params):
    """A dividing cell stays in the cycle with probability ``keep_probability`` if its site has enough ECM."""
    update_ecm(site, step, ecm, ecm_step, production, params)
    return np.random.random() < keep_probability and ecm[site] >= params[ECM_THRESHOLD]


@njit(cache=True)
def border_sites(occupant, offsets, neighbours, on_edge, out):
    """Occupied sites with an empty neighbour or on the domain's edge; returns their number."""
    count = 0
    for site in range(len(occupant)):
        if occupant[site] < 0:
            continue
        border = on_edge[site]
        for e in range(offsets[site], offsets[site + 1]):
            border = border or occupant[neighbours[e]] < 0
        if border:
            out[count] = site
            count += 1
    return count


@njit(cache=True)
def depth_reference_sites(occupant, offsets, neighbours, on_edge, stamp, stamp_value, out):
    """The sites the profiles' depth is measured from, as ``tumor2d`` takes them: every free neighbour of an
    occupied site, and every neighbour (free or not) of an occupied site on the domain's edge. Returns their
    number; ``stamp`` (set to ``stamp_value``) keeps each site once."""
    count = 0
    for site in range(len(occupant)):
        if occupant[site] < 0:
            continue
        for e in range(offsets[site], offsets[site + 1]):
            other = neighbours[e]
            if (occupant[other] < 0 or on_edge[site]) and stamp[other] != stamp_value:
                stamp[other] = stamp_value
                out[count] = other
                count += 1
    return count


@njit(cache=True)
def spheroid_radius(positions, border, num_border):
    """``0.8 * 16.8 um`` times the root mean squared distance of the border sites to their centroid."""
    if num_border == 0:
        return 0.0
    cx, cy = 0.0, 0.0
    for b in range(num_border):
        cx += positions[border[b], 0]
        cy += positions[border[b], 1]
    cx /= num_border
    cy /= num_border
    total = 0.0
    for b in range(num_border):
        dx, dy = positions[border[b], 0] - cx, positions[border[b], 1] - cy
        total += dx * dx + dy * dy
    return RADIUS_SCALE * math.sqrt(total / num_border)


@njit(cache=True)
def accumulate_profiles(
    num_cells, first_site, state, positions, border, num_border, step, ecm, ecm_step, production, params,
    ecm_sum, proliferating_sum, count,
):
    """Adds one snapshot to the profiles: each cell at distance ``d`` (um) from the nearest depth reference
    site (:func:`depth_reference_sites`) adds its ECM and its proliferation indicator to the 1-um bins
    ``int(d - 16.8)`` to ``int(d) - 1``, truncated as ``tumor2d``'s C casts truncate."""
    num_bins = len(count)
    for cell in range(num_cells):
        site = first_site[cell]
        nearest = np.inf
        for b in range(num_border):
            nearest = min(nearest, squared_distance(positions, site, border[b]))
        d = math.sqrt(nearest) * MICROMETRES_PER_LATTICE_UNIT
        update_ecm(site, step, ecm, ecm_step, production, params)
        is_proliferating = 1.0 if state[cell] == PROLIFERATING else 0.0
        for k in range(max(0, int(d - CELL_DIAMETER)), min(num_bins, int(d))):
            ecm_sum[k] += ecm[site]
            proliferating_sum[k] += is_proliferating
            count[k] += 1
