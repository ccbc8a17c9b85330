"""The jittered lattice of the tumor spheroid model and its Delaunay neighbourhoods.

Sites sit at ``(i + u, j + u')`` with ``u, u' ~ U[0, 1)`` on a ``size x size`` grid. The jitter is the one of
``tumor2d``: C's ``rand()`` (glibc's generator) right after ``srand(0)``, ``u`` before ``u'``, stored as float
and re-read with 6 significant digits; so every run, ours and the reference's, shares the same space (only
a run's own seed varies). This reproduces the reference's full-domain radius, 768.653556 um, to all printed
digits (a lattice from another seed gives 768.38). Two sites are
neighbours when they share an edge of the Delaunay triangulation (about 6 per site). As in ``tumor2d``, the
triangulation includes four frame points outside the corners and drops their triangles: a bare triangulation
has long edges along the convex hull (up to 68 lattice units) that would let a search of 10 hops run
along the domain's edge and round its corners.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


def glibc_rand(seed: int, num: int) -> np.ndarray:
    """The first ``num`` values of glibc's ``rand()`` after ``srand(seed)`` (its additive feedback generator).

    Example:
        >>> glibc_rand(1, 3).tolist()  # what C's rand() returns after srand(1) on Linux
        [1804289383, 846930886, 1681692777]
    """
    state = [seed or 1]  # glibc treats seed 0 as 1
    for _ in range(30):
        state.append(16807 * state[-1] % 2147483647)
    state += state[:3]
    for i in range(34, 344 + num):
        state.append((state[i - 31] + state[i - 3]) & 0xFFFFFFFF)
    return np.array(state[344:], dtype=np.int64) >> 1


@dataclass(frozen=True)
class Lattice:
    """Site positions (lattice units) and neighbour lists in CSR form.

    Attributes:
        positions: ``(n, 2)`` site coordinates.
        neighbour_offsets: ``(n + 1,)``; the neighbours of site ``s`` are
            ``neighbours[neighbour_offsets[s]:neighbour_offsets[s + 1]]``.
        neighbours: concatenated neighbour indices.
        on_edge: ``(n,)`` True for sites within one mean site spacing of the bounding box of the positions
            (``tumor2d``'s domain border: the outermost rows and columns, and a few jittered sites next to them).
        size: sites per side.
    """

    positions: np.ndarray
    neighbour_offsets: np.ndarray
    neighbours: np.ndarray
    on_edge: np.ndarray
    size: int

    @property
    def num_sites(self) -> int:
        return len(self.positions)

    def site(self, i: int, j: int) -> int:
        return i * self.size + j


@functools.lru_cache(maxsize=4)
def jittered_lattice(size: int = 100) -> Lattice:
    """The model's space: ``size**2`` jittered sites with Delaunay neighbours (cached per process).

    Example:
        >>> lattice = jittered_lattice(20)
        >>> lattice.num_sites, round(np.diff(lattice.neighbour_offsets).mean())
        (400, 6)
    """
    from scipy.spatial import Delaunay  # scipy comes with scikit-learn; imported lazily, used once

    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    jitter = glibc_rand(0, 2 * size * size).reshape(-1, 2) / 2147483648.0  # tumor2d's myRandE(1.)
    grid = np.stack([i.ravel(), j.ravel()], axis=1).astype(np.float64)
    positions = np.array([float(f"{v:e}") for v in (grid + jitter).astype(np.float32).ravel()]).reshape(-1, 2)
    low, high = positions.min(0), positions.max(0)
    frame = np.array([[low[0] - 1, low[1] - 1], [high[0] + 1, low[1] - 1], [low[0] - 1, high[1] + 1],
                      [high[0] + 1, high[1] + 1]])
    triangles = Delaunay(np.concatenate([positions, frame])).simplices
    triangles = triangles[(triangles < size * size).all(axis=1)]
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    both_directions = np.concatenate([edges, edges[:, ::-1]])
    order = np.lexsort((both_directions[:, 1], both_directions[:, 0]))
    source, target = both_directions[order].T
    offsets = np.zeros(size * size + 1, dtype=np.int64)
    np.add.at(offsets, source + 1, 1)
    thickness = np.sqrt(np.prod(high - low) / (size * size))
    on_edge = ((positions < low + thickness) | (positions > high - thickness)).any(axis=1)
    return Lattice(positions, np.cumsum(offsets), target.astype(np.int64), on_edge, size)


def search_stencil(lattice: Lattice, centre: int, hops: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``tumor2d``'s search stencil: the hop shells 1 to ``hops`` of ``centre`` as index offsets.

    Returns ``(start, offsets)``: shell ``g`` (0-based) holds ``offsets[start[g]:start[g + 1]]``. Every cell
    searches for free sites through these offsets of its own index, so the reach is that of an interior site
    (about 11 to 13 lattice units) everywhere.

    Example:
        >>> lattice = jittered_lattice(30)
        >>> start, offsets = search_stencil(lattice, lattice.site(15, 15), hops=2)
        >>> start.tolist(), offsets[:start[1]].tolist()  # this jittered site has 4 neighbours: (14, 14), (14, 15), ...
        ([0, 4, 14], [-31, -30, -1, 1])
    """
    offsets_, neighbours = lattice.neighbour_offsets, lattice.neighbours
    seen, shell, shells = {centre}, [centre], []
    for _ in range(hops):
        shell = sorted({int(u) for s in shell for u in neighbours[offsets_[s]:offsets_[s + 1]]} - seen)
        seen.update(shell)
        shells.append(np.array(shell, dtype=np.int64) - centre)
    start = np.cumsum([0] + [len(s) for s in shells]).astype(np.int64)
    return start, np.concatenate(shells)
