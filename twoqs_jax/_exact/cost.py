"""Memory guard of the exact solvers: estimate the cost from the model, refuse before building.

Everything here is arithmetic on the model's *structure* (spin lengths, which fields,
couplings and rates are nonzero); no operator is built, so a refusal is immediate.

Cost model (bytes; complex128 = 16 B, CSR entry = 16 B value + 8 B index = 24 B):

- ``D = prod_i (2 S_i + 1)`` (Hilbert), ``N = D^2`` (Liouville).
- Sparsity from the *offset structure*: written with ``S^+, S^-, S^z`` every term shifts each
  site's ``m`` by a fixed offset (+1, -1, 0; same-site products: the sum). The number
  ``K_H`` of distinct offset vectors of ``H`` bounds ``nnz(H) <= K_H D``; the Liouvillian
  ``-i(H x 1 - 1 x H^T) + sum_k (L_k x L_k^* - ...)`` has ``K_L`` distinct offset pairs and
  ``nnz(L) <= K_L N``. These bounds are tight up to edge effects of the ``m`` ladders.
- Building ``L`` (QuTiP's ``liouvillian``: ``spre``/``spost`` products and sums) holds about
  4 copies: ``4 * 24 * nnz(L)``.
- ``"evolve"`` (QuTiP ``mesolve``, Verner 7 or zvode Adams): ``L`` (+ a copy inside the
  solver) and 40 state-sized vectors (Runge-Kutta stages or zvode's history up to order 12,
  saving) of ``16 N`` bytes;
  ``method="bdf"``/``"lsoda"`` use zvode/lsoda with a *dense* finite-difference Jacobian:
  ``2 * 16 N^2`` more.
- ``"steady"`` (sparse LU of ``L`` with SuperLU, minimum-degree ordering on ``A + A^T``,
  see :func:`steady_state_rho`): the LU fill-in. One site: ``nnz(LU) = 8 N log2 N`` (the
  ``(m, m')`` grid is two-dimensional; measured 4.1-5.2 N log2 N for every one-site preset up to
  S = 200). ``n >= 2`` sites: the bra and ket ladders form a ``2n``-dimensional grid, of which
  ``L`` connects only an ``r``-dimensional slice (``r`` = rank of the offset pairs; ``r < 2n``
  when a weak U(1) symmetry holds, e.g. flip-flop hopping with gain and loss conserves
  ``M_ket - M_bra``). A slice holds about ``N^(r/2n)`` points and its top separator a fraction
  ``N^(-1/2n)`` of them, so the dense separator blocks give
  ``nnz(LU) = min(N^2, 1.2 N^(1 + (r-1)/(2n)))`` (``1.2 N^(2 - 1/(2n))`` at full rank; measured
  0.2-0.85 of it for the dimer, chain and PT presets, table in docs/derivations/exact.md). Peak = 40 B per
  LU entry (measured 23-28 B: SuperLU's supernodal storage and work space) + building ``L``
  + 20 state vectors.
- ``"spectrum"``: dense ``eigvals`` of ``L`` for ``N <= DENSE_SPECTRUM_MAX`` (``3 * 16 N^2``),
  else a sparse shift-invert factorisation costed as ``"steady"``.
- ``"operators"``: the ``3 n`` full-space site operators and ``H`` (``24 (6 n D + K_H D)``).
- Every estimate adds 64 MiB of fixed overhead (Python and QuTiP temporaries).
"""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .jumps import jump_offsets

if TYPE_CHECKING:
    from .._model.model import SpinModel

GiB = 1024**3
DEFAULT_MAX_MEMORY = 8 * GiB
KINDS = ("operators", "liouvillian", "evolve", "steady", "spectrum")
DENSE_SPECTRUM_MAX = 2500
C_FILL_ONE_SITE = 8.0
C_FILL_SITES = 1.2
_LU_ENTRY = 40  # measured peak bytes per LU nonzero (SuperLU)
_ENTRY = 24  # CSR entry: complex128 value + int64 column index
_AMP = 16  # complex128
_OVERHEAD = 64 * 1024**2  # Python/QuTiP temporaries, dominant only for tiny problems

# S^a = sum_s U[a, s] S^s with s in (+, -, z): S^x = (S^+ + S^-)/2, S^y = (S^+ - S^-)/(2i).
# Working in the ladder basis sees cancellations, e.g. flip-flop 2(S^xS^x + S^yS^y) =
# S^+S^- + S^-S^+ has no S^+S^+ part (offsets (+1, -1) and (-1, +1) only).
_U = np.array([[0.5, 0.5, 0.0], [-0.5j, 0.5j, 0.0], [0.0, 0.0, 1.0]])
_LADDER_OFFSET = (1, -1, 0)


@dataclass(frozen=True)
class ExactCost:
    """Estimated size and peak memory of an exact computation.

    Attributes:
        kind: what is estimated (``"operators"``, ``"liouvillian"``, ``"evolve"``,
            ``"steady"``, ``"spectrum"``).
        hilbert_dim: ``D = prod_i (2 S_i + 1)``.
        liouville_dim: ``N = D^2``.
        nnz_hamiltonian: upper bound on the nonzeros of ``H``.
        nnz_liouvillian: upper bound on the nonzeros of the Liouvillian.
        memory: estimated peak memory in bytes.
    """

    kind: str
    hilbert_dim: int
    liouville_dim: int
    nnz_hamiltonian: int
    nnz_liouvillian: int
    memory: int

    def __str__(self):
        return (
            f"{self.kind}: Hilbert dimension {self.hilbert_dim}, Liouvillian dimension "
            f"{self.liouville_dim} (nnz <= {self.nnz_liouvillian:.3g}), estimated peak memory "
            f"{_fmt_bytes(self.memory)}"
        )


def _fmt_bytes(b: float) -> str:
    if b >= GiB:
        return f"{b / GiB:.3g} GiB"
    return f"{b / 1024**2:.3g} MiB"


def offset_structure(model) -> tuple[set, set]:
    """Distinct offset vectors of ``H`` (tuples of length n) and of ``L`` (length 2n).

    Only nonzero fields, couplings and rates contribute. No operator is built.
    """
    n = model.n_sites
    zero = (0,) * n
    field = np.asarray(model.field, dtype=float)
    coupling = np.asarray(model.symmetric_coupling, dtype=float)

    def vectors(parts):  # parts: {site: offsets}
        out = [list(zero)]
        for site, offs in parts.items():
            out = [v[:site] + [v[site] + o] + v[site + 1 :] for v in out for o in offs]
        return {tuple(v) for v in out}

    h = set()
    tol = 1e-14
    for i in range(n):
        f = field[i] @ _U
        for s_, off in enumerate(_LADDER_OFFSET):
            if abs(f[s_]) > tol * (1 + np.abs(field[i]).max()):
                h |= vectors({i: (off,)})
    for e, (i, j) in enumerate(np.asarray(model.edges)):
        i, j = int(i), int(j)
        c = _U.T @ coupling[e] @ _U
        for s_, off_s in enumerate(_LADDER_OFFSET):
            for t_, off_t in enumerate(_LADDER_OFFSET):
                if abs(c[s_, t_]) <= tol * (1 + np.abs(coupling[e]).max()):
                    continue
                if i == j:
                    h |= vectors({i: (off_s + off_t,)})
                else:
                    h |= vectors({i: (off_s,), j: (off_t,)})
    left = set(h) | {zero}  # H rho and the identity
    sandwich = set()
    for jump in model.jumps:
        for i, offs in jump_offsets(jump):
            # the offset vectors of the terms of L (one site, or a sum over sites)
            terms = (
                [vectors({j: (o,)}).pop() for j, os_ in zip(i, offs) for o in os_]
                if isinstance(i, tuple)
                else [vectors({i: (o,)}).pop() for o in offs]
            )
            for v1 in terms:
                for v2 in terms:
                    left.add(tuple(b - a for a, b in zip(v1, v2)))  # L^+ L rho, rho L^+ L
                    sandwich.add(v1 + v2)
    liou = {v + zero for v in left} | {zero + v for v in left} | sandwich  # L rho L^+
    return h, liou


def offset_rank(liou_offsets) -> int:
    """Dimension ``r`` of the grid slice the Liouvillian connects (rank of its offsets)."""
    vectors = np.array([v for v in liou_offsets if any(v)], dtype=float)
    return int(np.linalg.matrix_rank(vectors)) if vectors.size else 0


def lu_fill(n_sites: int, N: int, rank: int | None = None) -> float:
    """Modelled number of nonzeros of the sparse LU factors of an ``N x N`` Liouvillian.

    ``rank``: dimension of the connected grid slice (default: full, ``2 n_sites``).
    """
    if n_sites == 1:
        return C_FILL_ONE_SITE * N * math.log2(max(N, 2))
    r = 2 * n_sites if rank is None else max(int(rank), 1)
    return min(float(N) ** 2, C_FILL_SITES * float(N) ** (1 + (r - 1) / (2 * n_sites)))


def estimate_exact_cost(
    model: "SpinModel",
    kind: str = "steady",
    *,
    n_times: int = 0,
    method: str = "vern7",
    dense: bool | None = None,
) -> ExactCost:
    """Estimate Hilbert/Liouville dimensions and peak memory of an exact computation.

    Pure arithmetic on the model structure: nothing is built, so it is instantaneous even
    for models far too large to solve (see the module docstring for the cost model).

    Args:
        model: a concrete :class:`SpinModel`.
        kind: ``"steady"`` (sparse-LU steady state), ``"evolve"`` (``mesolve``),
            ``"spectrum"`` (Liouvillian eigenvalues), ``"liouvillian"`` (building ``L``
            only) or ``"operators"`` (``H`` and the site operators only).
        n_times: number of saved states kept in memory (``"evolve"`` with stored states).
        method: ODE method for ``"evolve"`` (``"bdf"``/``"lsoda"`` add a dense Jacobian).
        dense: ``"spectrum"`` only: dense eigenvalues (default: when ``N <= 2500``) or sparse
            shift-invert.

    Returns:
        :class:`ExactCost` with ``hilbert_dim``, ``liouville_dim``, ``nnz_liouvillian`` and
        ``memory`` (bytes).

    Examples:
        >>> import twoqs_jax as tq
        >>> c = tq.estimate_exact_cost(tq.driven_spin(100, 0.5), "steady")
        >>> c.liouville_dim
        40401
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {list(KINDS)}, got {kind!r}.")
    spins = np.asarray(model.spin, dtype=float)
    dims = [int(round(2 * s)) + 1 for s in spins]
    h, liou = offset_structure(model)
    return cost_of_structure(kind, dims, h, liou, n_times=n_times, method=method, dense=dense)


def cost_of_structure(kind, dims, h, liou, *, n_times=0, method="vern7", dense=None):
    """:class:`ExactCost` of a tensor-product space of local ``dims`` (ladders) whose ``H``
    and Liouvillian have the offset vectors ``h`` and ``liou`` (see the module docstring;
    also used for spins with bosonic modes, :mod:`twoqs_jax._exact.cavity`).
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {list(KINDS)}, got {kind!r}.")
    D = math.prod(dims)
    N = D * D
    n = len(dims)
    k_h, k_l = max(len(h), 1), len(liou)
    nnz_h, nnz_l = k_h * D, k_l * N
    ops = _ENTRY * (6 * n * D + nnz_h)
    build_l = 4 * _ENTRY * nnz_l + ops
    if kind == "operators":
        mem = ops
    elif kind == "liouvillian":
        mem = build_l
    elif kind == "evolve":
        mem = build_l + 2 * _ENTRY * nnz_l + 40 * _AMP * N + n_times * _AMP * N
        if method in ("bdf", "lsoda"):
            mem += 2 * _AMP * N * N
    else:
        lu = _LU_ENTRY * lu_fill(n, N, offset_rank(liou)) + build_l + 20 * _AMP * N
        if kind == "steady":
            mem = lu
        else:  # spectrum: dense eigvals, or shift-invert LU + Arnoldi vectors
            if dense is None:
                dense = N <= DENSE_SPECTRUM_MAX
            mem = build_l + 3 * _AMP * N * N if dense else lu + 60 * _AMP * N
    return ExactCost(kind, D, N, nnz_h, nnz_l, int(mem + _OVERHEAD))


def check_cost(model, kind: str, *, max_memory=None, **kwargs) -> "ExactCost":
    """Estimate the cost and raise ``ValueError`` before anything is built if it is too large.

    Args:
        model: a concrete :class:`SpinModel`.
        kind: see :func:`estimate_exact_cost`.
        max_memory: limit in bytes (default 8 GiB).
    """
    limit = DEFAULT_MAX_MEMORY if max_memory is None else max_memory
    if not (isinstance(limit, (int, float)) and limit > 0 and math.isfinite(limit)):
        raise ValueError(f"`max_memory` must be a positive number of bytes, got {max_memory!r}.")
    cost = estimate_exact_cost(model, kind, **kwargs)
    if cost.memory > limit:
        spins = np.asarray(model.spin, dtype=float).tolist()
        raise ValueError(
            f"exact {kind} refused: spins S = {spins} on {model.n_sites} site(s) give Hilbert "
            f"dimension {cost.hilbert_dim} and Liouvillian dimension {cost.liouville_dim} "
            f"(nnz <= {cost.nnz_liouvillian:.3g}); estimated peak memory "
            f"{_fmt_bytes(cost.memory)} exceeds the limit `max_memory` = {_fmt_bytes(limit)}. "
            "Use a smaller S or fewer sites, raise `max_memory` if the machine has the memory, "
            "or use the TWOQS / mean-field solvers, which scale linearly in the number of sites."
        )
    return cost
