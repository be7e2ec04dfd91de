"""Exact finite-N steady states, purity, negativity and symmetry-resolved Liouvillian gaps.

Brute force in the full ``d^N`` Hilbert space (no permutation-invariant reduction): the
Liouvillian of 001 Eq 3 is a sparse ``d^{2N} x d^{2N}`` matrix (SciPy), built from the
single-particle matrices of :func:`spin_matrices` with ``kron`` (particle 0 is the leftmost
factor; basis index ``k = m + j`` per particle). Column-stacking vectorisation,
``vec(A X B) = (B^T kron A) vec(X)``:

    Lsuper = -i (1 kron H - H^T kron 1)
             + sum_k kappa_k (L_k^* kron L_k - 1/2 1 kron L_k^+ L_k - 1/2 (L_k^+ L_k)^T kron 1),

with ``kappa = gamma_I/j`` for each ``L^(i)`` and ``kappa = gamma_C/(N j)`` for ``L_C``.
Set ``OPENBLAS_NUM_THREADS=1`` on small shared machines.

Z2 x Z2 symmetry (001 Sec II): ``Pi_1(A) = U A U^+`` with ``U = exp(i pi J_z)`` and the
antiunitary ``Pi_2(A) = W A^* W^+`` with ``W = exp(-i pi J_z / 2)`` (for real ``l_m``). The
sign in ``W`` is chosen so that ``<J_x>_{Pi_2[rho]} = <J_y>_rho`` as 001 states; 001 prints
``W = exp(+i pi J_z/2)``, which gives ``<J_x> -> -<J_y>`` instead (that map is ``Pi_1 Pi_2``,
also a symmetry, and would swap the labels of the sectors (-1, +1) and (-1, -1)). An
antilinear map has no linear eigenspaces, so the sectors are those of the linear involution
``P_2 = Pi_2 o dagger``, ``P_2(A) = W A^T W^+``, which also commutes with the Liouvillian
(``dagger`` does) and equals ``Pi_2`` on Hermitian matrices (so the steady state has
``p_2 = +1``). Both maps act on ``|a><b|`` as phases (and ``a <-> b``), so sectors are found
exactly by index bookkeeping.
"""

import math
import warnings
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numpy.typing import ArrayLike

from .._checks import check_int
from .model import QuditLMG, spin_matrices

#: Default memory limit (bytes) of the brute-force solvers, the package's one convention.
DEFAULT_MAX_MEMORY = 8 * 1024**3


def estimate_memory(d: int, n: int) -> int:
    """Peak bytes of the dense steady-state solve: the ``(p_1, p_2) = (+1, +1)`` block of
    about ``d^{2N} / 4`` unknowns as a dense complex matrix and its LU (2 x 16 bytes per
    entry), plus the sparse Liouvillian (``(2N + 3) d^{2N}`` entries of 24 bytes).
    """
    D2 = d ** (2 * n)
    block = max(D2 // 4, 1)
    return int(32 * block**2 + 24 * (2 * n + 3) * D2)


def _check_size(model: QuditLMG, n, max_memory):
    if n is None:
        n = model.n
    if n is None:
        raise ValueError(
            "exact methods need the particle number: pass `n` or build the model with `n=`."
        )
    n = check_int("n", n, minimum=1)
    if any(
        np.asarray(x).dtype in (np.float32, np.complex64)
        for x in (model.V, model.gamma_I, model.gamma_C, model.ladder)
    ):
        warnings.warn(
            "QuditLMG parameters are float32 (jax_enable_x64 is off): the exact "
            "solution is computed in float64 from float32-rounded parameters.",
            stacklevel=3,
        )
    limit = DEFAULT_MAX_MEMORY if max_memory is None else max_memory
    if not (isinstance(limit, int | float) and limit > 0):
        raise ValueError(f"`max_memory` must be a positive number of bytes, got {limit!r}.")
    D = model.d ** (2 * n)
    mem = estimate_memory(model.d, n)
    if mem > limit:
        raise ValueError(
            f"Liouvillian dimension d^(2N) = {model.d}^{2 * n} = {D}: the dense steady-state "
            f"solve needs an estimated {mem / 2**30:.3g} GiB, which exceeds `max_memory` = "
            f"{limit / 2**30:.3g} GiB. Reduce N or d, or raise `max_memory` if memory allows."
        )
    return n


def _site_op(op, i, n, d):
    out = sp.identity(1, dtype=complex, format="csr")
    for k in range(n):
        out = sp.kron(
            out, sp.csr_matrix(op) if k == i else sp.identity(d, format="csr"), format="csr"
        )
    return out


def operators(model: QuditLMG, n=None) -> dict:
    """Sparse many-body operators: ``H``, ``Jx, Jy, Jz, Jp, Jm``, ``L`` (list), ``LC``.

    ``H = V/(2 N j) (J_+^2 + J_-^2)`` (001 Eq 2), ``L[i] = L^(i)``, ``LC = sum_i L^(i)``.
    """
    n = n if n is not None else model.n
    d, j = model.d, model.j
    ops = spin_matrices(d)
    ell = np.asarray(model.ladder).astype(complex)
    Lsingle = np.diag(ell, 1)
    J = {a: sum(_site_op(ops[a], i, n, d) for i in range(n)) for a in ("x", "y", "z", "+", "-")}
    L = [_site_op(Lsingle, i, n, d) for i in range(n)]
    LC = sum(L)
    H = (float(model.V) / (2 * n * j)) * (J["+"] @ J["+"] + J["-"] @ J["-"])
    return {
        "H": H.tocsr(),
        "Jx": J["x"],
        "Jy": J["y"],
        "Jz": J["z"],
        "Jp": J["+"],
        "Jm": J["-"],
        "L": L,
        "LC": LC.tocsr(),
    }


def liouvillian(model: QuditLMG, n: int | None = None, *, max_memory: float | None = None) -> Any:
    """Sparse Liouvillian ``(d^{2N}, d^{2N})`` of 001 Eq 3 (column-stacking, module docstring)."""
    n = _check_size(model, n, max_memory)
    ops = operators(model, n)
    D = model.d**n
    one = sp.identity(D, dtype=complex, format="csr")
    H = ops["H"]
    Lsup = -1j * (sp.kron(one, H) - sp.kron(H.T, one))
    kI = float(model.gamma_I) / model.j
    kC = float(model.gamma_C) / (n * model.j)
    jumps = [(kI, L) for L in ops["L"]] + [(kC, ops["LC"])]
    for kappa, L in jumps:
        if kappa == 0:
            continue
        LdL = (L.conj().T @ L).tocsr()
        Lsup = Lsup + kappa * (
            sp.kron(L.conj(), L) - 0.5 * sp.kron(one, LdL) - 0.5 * sp.kron(LdL.T, one)
        )
    return Lsup.tocsc()


def steady_state(
    model: QuditLMG, n: int | None = None, *, max_memory: float | None = None
) -> np.ndarray:
    """Steady state ``rho_ss`` (dense ``(d^N, d^N)``) of 001 Eq 3.

    The steady state lies in the ``(p_1, p_2) = (+1, +1)`` symmetry sector (001 Sec IV),
    about a quarter of operator space: the Liouvillian block there is solved with one row
    replaced by ``Tr rho = 1`` (unique steady state for ``gamma_I > 0`` and all ``l_m != 0``,
    001 Sec V), by dense LAPACK (the all-to-all coupling makes sparse LU fill in almost
    completely). For complex ``l_m`` (no ``Pi_2``) the full space is used. Refuses
    (``ValueError``) when the estimated memory exceeds ``max_memory`` (bytes, default 8 GiB).
    """
    n = _check_size(model, n, max_memory)
    Ls = liouvillian(model, n, max_memory=max_memory)
    D = model.d**n
    trace_vec = np.zeros(D * D, complex)
    trace_vec[np.arange(D) * (D + 1)] = 1
    if np.all(np.imag(np.asarray(model.ladder)) == 0):
        Q = symmetry_sectors(model, n)[(1, 1)]
        A = (Q.conj().T @ Ls @ Q).toarray()
        tr = np.asarray(Q.T @ trace_vec).ravel()  # Tr(Q x) = trace_vec . (Q x)
    else:
        Q = None
        A = Ls.toarray()
        tr = trace_vec
    A[0, :] = tr
    b = np.zeros(A.shape[0], complex)
    b[0] = 1
    x = scipy.linalg.solve(A, b)
    if Q is not None:
        x = Q @ x
    rho = x.reshape(D, D, order="F")
    return 0.5 * (rho + rho.conj().T)


def expectation(rho, op) -> complex:
    """``Tr(rho op)`` for dense ``rho`` and sparse or dense ``op``."""
    return complex((op @ rho).diagonal().sum()) if sp.issparse(op) else complex(np.trace(op @ rho))


def purity(rho: ArrayLike) -> float:
    """``Tr rho^2`` (001 Fig 7)."""
    rho = np.asarray(rho)
    return float(np.real(np.sum(rho * rho.T)))


def partial_transpose(rho, dims, subsystem_b) -> np.ndarray:
    """Partial transpose of ``rho`` on the factors listed in ``subsystem_b``.

    Args:
        rho: ``(D, D)`` with ``D = prod(dims)``.
        dims: local dimensions of the tensor factors (factor 0 leftmost).
        subsystem_b: indices of the factors to transpose.
    """
    dims = list(dims)
    k = len(dims)
    t = np.asarray(rho).reshape(dims + dims)
    perm = list(range(2 * k))
    for b in subsystem_b:
        perm[b], perm[k + b] = k + b, b
    D = int(np.prod(dims))
    return t.transpose(perm).reshape(D, D)


def negativity(rho: ArrayLike, d: int, n: int, n_a: int | None = None) -> float:
    """Negativity ``sum_{lambda < 0} |lambda|`` of ``rho^{T_B}`` (001 Eq 17).

    The bipartition is the first ``n_a`` particles (default ``ceil(N/2)``) versus the rest.
    """
    n_a = math.ceil(n / 2) if n_a is None else n_a
    if not 1 <= n_a < n:
        raise ValueError(f"`n_a` must be in [1, {n - 1}], got {n_a}.")
    pt = partial_transpose(rho, [d] * n, range(n_a, n))
    ev = np.linalg.eigvalsh(0.5 * (pt + pt.conj().T))
    return float(-ev[ev < 0].sum())


def symmetry_sectors(model: QuditLMG, n=None) -> dict:
    """Orthonormal bases of the four ``(p_1, p_2)`` sectors of operator space (module docstring).

    Returns:
        dict ``(p1, p2) -> sparse (d^{2N}, dim)`` isometry ``Q`` (columns orthonormal);
        the sector block of the Liouvillian is ``Q^+ Lsuper Q``.
    """
    n = n if n is not None else model.n
    if np.iscomplexobj(np.asarray(model.ladder)) and np.any(np.imag(model.ladder) != 0):
        raise ValueError("the Pi_2 symmetry needs real ladder coefficients `ladder`.")
    d = model.d
    D = d**n
    # Total 2 M = 2 sum_i m_i per basis state (integers; m = k - j).
    twoM = np.zeros(1, dtype=np.int64)
    for _ in range(n):
        twoM = (twoM[:, None] + (2 * np.arange(d) - (d - 1))[None, :]).ravel()
    a, b = np.meshgrid(np.arange(D), np.arange(D), indexing="ij")
    a, b = a.ravel(), b.ravel()
    dM = (twoM[a] - twoM[b]) // 2  # M_a - M_b (integer)
    p1 = np.where(dM % 2 == 0, 1, -1)
    col = lambda x, y: x + D * y  # vec index of |x><y| (column stacking)
    # P_2 |a><b| = W |b><a| W^+ = exp(i pi (M_a - M_b)/2) |b><a| for W = exp(-i pi J_z/2).
    phase = np.exp(1j * np.pi * dM / 2)
    sectors = {}
    for s1 in (1, -1):
        for s2 in (1, -1):
            rows, cols, vals = [], [], []
            k = 0
            for x, y, ph, q in zip(a, b, phase, p1):
                if q != s1 or x > y:
                    continue
                if x == y:
                    # |a><a| -> |a><a| (phase 1): only in p2 = +1.
                    if s2 == 1:
                        rows.append(col(x, x))
                        cols.append(k)
                        vals.append(1.0)
                        k += 1
                    continue
                # v = |x><y| + s2 ph |y><x| / sqrt2 is a P_2 eigenvector (eigenvalue s2).
                rows += [col(x, y), col(y, x)]
                cols += [k, k]
                vals += [1 / np.sqrt(2), s2 * ph / np.sqrt(2)]
                k += 1
            sectors[(s1, s2)] = sp.csc_matrix((vals, (rows, cols)), shape=(D * D, k))
    return sectors


def sector_gaps(
    model: QuditLMG,
    n: int | None = None,
    *,
    max_block: int = 4000,
    max_memory: float | None = None,
) -> dict:
    """Gaps ``Delta^{(p1,p2)}`` of 001 Eqs 15-16 from dense eigenvalues of each sector block.

    ``Delta^{(p1,p2)} = -Re lambda_0^{(p1,p2)}`` for ``(p1, p2) != (+1, +1)`` and
    ``Delta^{(+1,+1)} = -Re lambda_1^{(+1,+1)}`` (eigenvalues sorted by ``|Re|``).

    Returns:
        dict ``(p1, p2) -> gap``, plus ``"dims"`` (block sizes) and ``"zero"`` (the
        eigenvalue of smallest modulus in ``(+1, +1)``, ~0). Refuses blocks above ``max_block``.
    """
    n = _check_size(model, n, max_memory)
    Ls = liouvillian(model, n, max_memory=max_memory)
    out = {"dims": {}}
    for key, Q in symmetry_sectors(model, n).items():
        if Q.shape[1] > max_block:
            raise ValueError(
                f"sector {key} has dimension {Q.shape[1]} > `max_block` = "
                f"{max_block}; reduce N or d, or raise `max_block`."
            )
        B = (Q.conj().T @ Ls @ Q).toarray()
        ev = scipy.linalg.eigvals(B)
        ev = ev[np.argsort(np.abs(ev.real))]
        out["dims"][key] = Q.shape[1]
        if key == (1, 1):
            out["zero"] = ev[0]
            out[key] = float(-ev[1].real)
        else:
            out[key] = float(-ev[0].real)
    return out
