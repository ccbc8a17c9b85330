"""The jittered lattice of the tumor spheroid model and its Delaunay neighbourhoods.

Sites sit at ``(i + u, j + u')`` with ``u, u' ~ U[0, 1)`` on a ``size x size`` grid; the jitter comes from a
fixed seed, so every run shares the same space (only the run's own seed varies). Two sites are
neighbours when they share an edge of the Delaunay triangulation (about 6 per site).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

LATTICE_SEED = 20170101  # the jitter is a property of the model's space, not of a run


@dataclass(frozen=True)
class Lattice:
    """Site positions (lattice units) and neighbour lists in CSR form.

    Attributes:
        positions: ``(n, 2)`` site coordinates.
        grid: ``(n, 2)`` the sites' integer indices ``(i, j)`` before the jitter (float, for the kernels).
        neighbour_offsets: ``(n + 1,)``; the neighbours of site ``s`` are
            ``neighbours[neighbour_offsets[s]:neighbour_offsets[s + 1]]``.
        neighbours: concatenated neighbour indices.
        on_edge: ``(n,)`` True for sites of the outermost rows and columns.
        size: sites per side.
    """

    positions: np.ndarray
    grid: np.ndarray
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
    jitter = np.random.default_rng(LATTICE_SEED).random((size * size, 2))
    grid = np.stack([i.ravel(), j.ravel()], axis=1).astype(np.float64)
    positions = grid + jitter
    triangles = Delaunay(positions).simplices
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    both_directions = np.concatenate([edges, edges[:, ::-1]])
    order = np.lexsort((both_directions[:, 1], both_directions[:, 0]))
    source, target = both_directions[order].T
    offsets = np.zeros(size * size + 1, dtype=np.int64)
    np.add.at(offsets, source + 1, 1)
    on_edge = (i.ravel() == 0) | (j.ravel() == 0) | (i.ravel() == size - 1) | (j.ravel() == size - 1)
    return Lattice(positions, grid, np.cumsum(offsets), target.astype(np.int64), on_edge, size)
