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
    """Squared Euclidean distance of sites ``a`` and ``b`` (jittered ``positions`` or integer ``grid`` indices)."""
    dx = positions[a, 0] - positions[b, 0]
    dy = positions[a, 1] - positions[b, 1]
    return dx * dx + dy * dy


@njit(cache=True)
def free_sites_of_nearest_shell(start, occupant, offsets, neighbours, stamp, stamp_value, queue, found):
    """Breadth-first search around ``start``: writes the free sites of the nearest shell (in hops, at most
    ``MAX_HOPS``) that has any into ``found`` and returns their number (0: none within reach).

    ``stamp`` marks visited sites with ``stamp_value`` (a fresh value per call, so it is never cleared).
    """
    stamp[start] = stamp_value
    queue[0] = start
    shell_start, shell_end, tail = 0, 1, 1
    for _ in range(MAX_HOPS):
        num_found = 0
        for q in range(shell_start, shell_end):
            site = queue[q]
            for e in range(offsets[site], offsets[site + 1]):
                other = neighbours[e]
                if stamp[other] != stamp_value:
                    stamp[other] = stamp_value
                    queue[tail] = other
                    tail += 1
                    if occupant[other] < 0:
                        found[num_found] = other
                        num_found += 1
        if num_found > 0 or tail == shell_end:
            return num_found
        shell_start, shell_end = shell_end, tail
    return 0


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
    """``cell`` takes a second site on the way to the free ``target``, pushing the cells in between.

    The path is greedy: each step goes to the neighbour closest to ``target`` (greedy routing always
    reaches its target on a Delaunay triangulation). Cells on the path move one site outward, and the
    mother takes the first site of the path. Returns that site.
    """
    length, site = 0, first_site[cell]
    while site != target:
        best, best_distance = -1, np.inf
        for e in range(offsets[site], offsets[site + 1]):
            other = neighbours[e]
            d = squared_distance(positions, other, target)
            if d < best_distance:
                best, best_distance = other, d
        path[length] = best
        length += 1
        site = best
    for i in range(length - 1, 0, -1):  # from the free end, so no cell is overwritten
        move_occupant(path[i - 1], path[i], occupant, first_site, second_site)
    second_site[cell] = path[0]
    occupant[path[0]] = cell
    return path[0]


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
    t, t_stop, counts, params, positions, grid, offsets, neighbours, occupant, first_site, second_site, stage,
    state, proliferating, list_position, ecm, ecm_step, production, stamp, queue, found, path,
):
    """Runs the exact-time stochastic simulation from ``t`` to ``t_stop`` (hours) and returns ``t_stop``.

    ``counts`` holds ``[number of cells, number of proliferating cells, occupied sites, search stamp]``.
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
            counts[3] += 1
            num_free = free_sites_of_nearest_shell(
                first_site[cell], occupant, offsets, neighbours, stamp, counts[3], queue, found
            )
            if num_free == 0:
                state[cell] = ARRESTED
                counts[1] = remove_proliferating(cell, proliferating, list_position, counts[1])
                continue
            target = found[np.random.randint(num_free)]
            grow_into(cell, target, positions, occupant, offsets, neighbours, first_site, second_site, path)
            start_production(target, step, offsets, neighbours, ecm, ecm_step, production, params)
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
        counts[3] += 1
        num_free = free_sites_of_nearest_shell(
            first_site[daughter], occupant, offsets, neighbours, stamp, counts[3], queue, found
        )
        if num_free > 0:
            free = found[np.random.randint(num_free)]
            squared = math.floor(squared_distance(grid, first_site[daughter], free))
        else:
            squared = NO_FREE_SITE_SQUARED_DISTANCE
        keep = math.exp(-math.sqrt(squared) * MICROMETRES_PER_LATTICE_UNIT / params[DEPTH])
        if not stays_proliferating(first_site[cell], keep, step, ecm, ecm_step, production, params):
            state[cell] = QUIESCENT
            counts[1] = remove_proliferating(cell, proliferating, list_position, counts[1])
        if stays_proliferating(first_site[daughter], keep, step, ecm, ecm_step, production, params):
            state[daughter] = PROLIFERATING
            counts[1] = add_proliferating(daughter, proliferating, list_position, counts[1])
        else:
            state[daughter] = QUIESCENT


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
    """Adds one snapshot to the profiles: each cell at distance ``d`` (um) from the nearest rim site adds its
    ECM and its proliferation indicator to the 1-um bins in ``[d - 16.8, d)``."""
    num_bins = len(count)
    for cell in range(num_cells):
        site = first_site[cell]
        nearest = np.inf
        for b in range(num_border):
            nearest = min(nearest, squared_distance(positions, site, border[b]))
        d = math.sqrt(nearest) * MICROMETRES_PER_LATTICE_UNIT
        update_ecm(site, step, ecm, ecm_step, production, params)
        is_proliferating = 1.0 if state[cell] == PROLIFERATING else 0.0
        for k in range(max(0, math.ceil(d - CELL_DIAMETER)), min(num_bins, math.ceil(d))):
            ecm_sum[k] += ecm[site]
            proliferating_sum[k] += is_proliferating
            count[k] += 1
