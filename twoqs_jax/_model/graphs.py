"""Coupling graphs: which pairs of sites a bilinear term connects, with weights.

A graph is a pair of arrays, ``edges`` (shape ``(m, 2)``, integer site indices) and
``weights`` (shape ``(m,)``), plus the number of sites it lives on. A 100-site ring is two
small arrays, never 100 Python objects. Edges ``(i, i)`` are allowed: they give same-site
(nonlinear) terms such as the ``S_x^2`` of one-axis twisting.
"""

import equinox as eqx
import numpy as np
from numpy.typing import ArrayLike

from .._checks import check_finite, check_int


class Graph(eqx.Module):
    """A weighted set of site pairs.

    Attributes:
        edges: integer array ``(m, 2)``; row ``e`` connects sites ``edges[e, 0]`` and ``edges[e, 1]``.
        weights: float array ``(m,)`` multiplying the coupling on each edge.
        n_sites: number of sites the graph is defined on (static).
    """

    edges: np.ndarray = eqx.field(converter=lambda e: np.asarray(e, dtype=np.int32).reshape(-1, 2))
    weights: np.ndarray = eqx.field(converter=lambda w: np.asarray(w, dtype=float).reshape(-1))
    n_sites: int = eqx.field(static=True)

    def __check_init__(self):
        check_int("n_sites", self.n_sites, minimum=1)
        if self.edges.shape[0] != self.weights.shape[0]:
            raise ValueError(
                f"`weights` must have one entry per edge: {self.edges.shape[0]} edges, "
                f"got {self.weights.shape[0]} weights."
            )
        bad = (self.edges < 0) | (self.edges >= self.n_sites)
        if np.any(bad):
            i = int(np.argwhere(bad)[0, 0])
            raise ValueError(
                f"`edges` has a site index out of range 0..{self.n_sites - 1}: edge {i} = "
                f"{self.edges[i].tolist()}."
            )
        check_finite("weights", self.weights)

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return int(self.edges.shape[0])


def edge_list(edges: ArrayLike, n_sites: int, weights: ArrayLike | None = None) -> Graph:
    """An arbitrary graph from a list of ``(i, j)`` pairs and optional weights (default 1)."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if weights is None:
        weights = np.ones(edges.shape[0])
    weights = np.broadcast_to(np.asarray(weights, dtype=float), (edges.shape[0],))
    return Graph(edges=edges, weights=weights, n_sites=check_int("n_sites", n_sites, 1))


def chain(n_sites: int, periodic: bool = False) -> Graph:
    """Nearest-neighbour chain ``(i, i+1)``; ``periodic=True`` closes it into a ring."""
    n = check_int("n_sites", n_sites, minimum=1)
    pairs = [(i, i + 1) for i in range(n - 1)]
    if periodic and n > 2:
        pairs.append((n - 1, 0))
    elif periodic and n == 2:
        # A ring of two sites has the bond 0-1 twice; we keep one bond of double weight.
        return edge_list([(0, 1)], n, weights=[2.0])
    return edge_list(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), n)


def ring(n_sites: int) -> Graph:
    """Periodic nearest-neighbour chain."""
    return chain(n_sites, periodic=True)


def square_lattice(lx: int, ly: int, periodic: bool = True) -> Graph:
    """Nearest-neighbour ``lx x ly`` square lattice; site ``(x, y)`` has index ``x * ly + y``."""
    lx = check_int("lx", lx, minimum=1)
    ly = check_int("ly", ly, minimum=1)
    pairs = []
    for x in range(lx):
        for y in range(ly):
            i = x * ly + y
            if x + 1 < lx or (periodic and lx > 2):
                pairs.append((i, ((x + 1) % lx) * ly + y))
            if y + 1 < ly or (periodic and ly > 2):
                pairs.append((i, x * ly + (y + 1) % ly))
    return edge_list(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), lx * ly)


def on_site(n_sites: int, sites: ArrayLike | None = None) -> Graph:
    """Same-site 'edges' ``(i, i)`` for nonlinear terms such as ``S_i^x S_i^x``."""
    n = check_int("n_sites", n_sites, minimum=1)
    sites = np.arange(n) if sites is None else np.atleast_1d(np.asarray(sites, dtype=np.int64))
    return edge_list(np.stack([sites, sites], axis=1), n)
