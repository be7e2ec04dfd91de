"""Second-order (Gaussian) cumulant equations, derived automatically for any SpinModel.

Variables: means ``m_a = <S_a>`` and symmetric covariances
``C_ab = <(S_a S_b + S_b S_a)/2> - m_a m_b`` of all ``D = 3n`` generators ``S_a = S_i^alpha``
(``a = 3 i + alpha``), within and between sites. Conventions: hbar = 1, standard Lindblad
rates, unnormalised spin components.

Derivation, by structure (no matrices, valid at any S). For each target ``A`` (an ``S_a`` or
a symmetrised ``(S_a S_b + S_b S_a)/2``) and each model term, the exact Heisenberg-picture
adjoint Lindbladian is written as a polynomial in ordered words of generators,

    i (H A - A H)   and   L^+ A L - (L^+ L A + A L^+ L) / 2,

with ``L = S^- = S_x - i S_y``, ``S^+`` or ``S_z``. Every ordered word is then rewritten
exactly as a sum of *symmetrised* words (the average over all orderings) using only the
commutation relations ``[S_i^a, S_j^b] = i delta_ij eps_abc S_i^c``; the symmetric
degree-4 parts cancel identically, leaving symmetric words of degree <= 3. The only
approximation is the Gaussian closure of the symmetric third moments (third cumulants zero):

    <Sym(S_a S_b S_c)> = m_a m_b m_c + m_a C_bc + m_b C_ac + m_c C_ab.

The coefficients are linear in the model's parameters, so the derivation runs once per graph
structure (cached), producing sparse tables; the vector field gathers and sums them, so it is
jit/vmap/grad-friendly in the parameters. The total spin ``S_i^2`` commutes with everything,
so ``sum_alpha <(S_i^alpha)^2>`` is conserved exactly by the closed equations too.

Initial spin coherent states: ``m_i = S_i n_i``, ``C_ii = (S_i/2)(1 - n_i n_i^T)``, no
cross-site covariance.
"""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_in
from .._solution import Solution
from .meanfield import _check_model, _down, default_solver, initial_vectors, integrate, save_times

_EPS = np.zeros((3, 3, 3))
for _a, _b, _c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
    _EPS[_a, _b, _c], _EPS[_b, _a, _c] = 1.0, -1.0


def _comm_letters(x: int, y: int):
    """``[S_x, S_y]`` for letters ``x = 3 i + a``: ``(coefficient, letter)`` or ``None``."""
    i, a = divmod(x, 3)
    j, b = divmod(y, 3)
    if i != j or a == b:
        return None
    c = 3 - a - b
    return 1j * _EPS[a, b, c], 3 * i + c


@functools.lru_cache(maxsize=None)
def _symmetrise(word: tuple) -> tuple:
    """Exact expansion of an ordered word into symmetrised words (sorted letter tuples).

    ``w = Sym(w) - (1/k!) sum_pi (pi(w) - w)``; each ``pi(w) - w`` is a sum of adjacent swaps,
    ``...yx... - ...xy... = ...[y, x]...``, words of degree ``k - 1``, expanded recursively.
    """
    k = len(word)
    out = {tuple(sorted(word)): 1.0 + 0j}
    if k <= 1:
        return tuple(out.items())
    lower = {}
    for perm in itertools.permutations(range(k)):
        cur = list(range(k))  # positions in `word`
        for p in range(k):
            q = cur.index(perm[p])
            while q > p:  # move element left by adjacent swaps
                xi, yi = cur[q - 1], cur[q]
                com = _comm_letters(word[yi], word[xi])  # u' - u = prefix [y, x] suffix
                if com is not None:
                    coef, letter = com
                    w = (
                        tuple(word[t] for t in cur[: q - 1])
                        + (letter,)
                        + tuple(word[t] for t in cur[q + 1 :])
                    )
                    lower[w] = lower.get(w, 0.0) + coef
                cur[q - 1], cur[q] = yi, xi
                q -= 1
    fact = math.factorial(k)
    for w, c in lower.items():
        for sw, sc in _symmetrise(w):
            out[sw] = out.get(sw, 0.0) - c * sc / fact
    return tuple(out.items())


def _mul(p, q):
    out = {}
    for w1, c1 in p.items():
        for w2, c2 in q.items():
            out[w1 + w2] = out.get(w1 + w2, 0.0) + c1 * c2
    return out


def _add(p, q, scale=1.0):
    out = dict(p)
    for w, c in q.items():
        out[w] = out.get(w, 0.0) + scale * c
    return out


def _reduce(poly):
    out = {}
    for w, c in poly.items():
        if c == 0:
            continue
        for sw, sc in _symmetrise(w):
            out[sw] = out.get(sw, 0.0) + c * sc
    return {w: c for w, c in out.items() if abs(c) > 1e-12}


def _terms(n_sites, edges):
    """Model terms: ``(param_index, kind, operator polynomial or jump, sites)``."""
    terms = []
    k = 0
    for i in range(n_sites):
        for a in range(3):
            terms.append((k, "H", {(3 * i + a,): 1.0 + 0j}, {i}))
            k += 1
    for i, j in edges:
        for a in range(3):
            for b in range(3):
                w = (3 * i + a, 3 * j + b)
                op = {w: 1.0 + 0j} if i != j else _add({w: 0.5 + 0j}, {w[::-1]: 0.5 + 0j})
                terms.append((k, "H", op, {int(i), int(j)}))
                k += 1
    for kind_sign in ("decay", "gain", "dephasing"):
        for i in range(n_sites):
            x, y, z = 3 * i, 3 * i + 1, 3 * i + 2
            L = {
                "decay": {(x,): 1.0 + 0j, (y,): -1j},
                "gain": {(x,): 1.0 + 0j, (y,): 1j},
                "dephasing": {(z,): 1.0 + 0j},
            }[kind_sign]
            Ld = {w: np.conj(c) for w, c in L.items()}
            terms.append((k, "L", (L, Ld), {i}))
            k += 1
    return terms, k


@functools.lru_cache(maxsize=32)
def _tables(n_sites: int, edges_key: tuple):
    """Sparse coefficient tables of the closed moment equations for one graph structure."""
    edges = [tuple(e) for e in edges_key]
    D = 3 * n_sites
    targets = [((a,), {(a,): 1.0 + 0j}) for a in range(D)]
    targets += [
        ((a, b), _add({(a, b): 0.5 + 0j}, {(b, a): 0.5 + 0j}))
        for a in range(D)
        for b in range(a, D)
    ]
    terms, n_params = _terms(n_sites, edges)
    entries = {d: [] for d in range(4)}
    for t, (letters, A) in enumerate(targets):
        sites = {x // 3 for x in letters}
        for k, kind, op, tsites in terms:
            if not sites & tsites:
                continue
            if kind == "H":
                poly = _add(_mul(op, A), _mul(A, op), -1.0)
                poly = {w: 1j * c for w, c in poly.items()}
            else:
                L, Ld = op
                LdL = _mul(Ld, L)
                poly = _add(_mul(_mul(Ld, A), L), _mul(LdL, A), -0.5)
                poly = _add(poly, _mul(A, LdL), -0.5)
            for w, c in _reduce(poly).items():
                if len(w) > 3:
                    raise AssertionError(f"degree-{len(w)} symmetric word {w} did not cancel")
                if abs(c.imag) > 1e-10:
                    raise AssertionError(f"complex coefficient {c} for a Hermitian target")
                entries[len(w)].append((k, t, w, c.real))
    out = {}
    for d, rows in entries.items():
        out[d] = (
            np.array([r[0] for r in rows], dtype=np.int32),
            np.array([r[1] for r in rows], dtype=np.int32),
            np.array([r[2] for r in rows], dtype=np.int32).reshape(len(rows), d),
            np.array([r[3] for r in rows], dtype=float),
        )
    pairs = np.array([(a, b) for a in range(D) for b in range(a, D)], dtype=np.int32)
    return out, len(targets), n_params, pairs


def _params(model):
    return jnp.concatenate(
        [model.field.ravel(), model.coupling.ravel(), model.decay, model.gain, model.dephasing]
    )


def cumulant_vector_field(model, state):
    """``d(m, C)/dt`` of the Gaussian cumulant equations; ``state = (m (D,), C (D, D))``."""
    m, C = state
    D = m.shape[0]
    tables, n_targets, _, pairs = _tables(model.n_sites, tuple(map(tuple, model.edges.tolist())))
    p = _params(model)
    rates = jnp.zeros(n_targets, dtype=m.dtype)
    for d, (k, t, w, c) in tables.items():
        if k.size == 0:
            continue
        if d == 0:
            e = 1.0
        elif d == 1:
            e = m[w[:, 0]]
        elif d == 2:
            a, b = w[:, 0], w[:, 1]
            e = C[a, b] + m[a] * m[b]
        else:
            a, b, cc = w[:, 0], w[:, 1], w[:, 2]
            e = m[a] * m[b] * m[cc] + m[a] * C[b, cc] + m[b] * C[a, cc] + m[cc] * C[a, b]
        rates = rates + jax.ops.segment_sum(c * p[k] * e, t, num_segments=n_targets)
    dm = rates[:D]
    dM2 = jnp.zeros((D, D), dtype=m.dtype).at[pairs[:, 0], pairs[:, 1]].set(rates[D:])
    dM2 = dM2 + jnp.triu(dM2, 1).T
    dC = dM2 - dm[:, None] * m[None, :] - m[:, None] * dm[None, :]
    return dm, dC


def coherent_moments(spin, vectors):
    """``(m, C)`` of a product of spin coherent states along unit ``vectors`` ``(n, 3)``."""
    n = vectors.shape[0]
    m = (spin[:, None] * vectors).reshape(-1)
    blocks = (spin[:, None, None] / 2) * (jnp.eye(3) - vectors[:, :, None] * vectors[:, None, :])
    C = jnp.zeros((3 * n, 3 * n), dtype=m.dtype)
    for i in range(n):
        C = C.at[3 * i : 3 * i + 3, 3 * i : 3 * i + 3].set(blocks[i])
    return m, C


def moments_to_observables(spin, m, C) -> dict:
    """Shared observables from means ``m`` ``(..., D)`` and covariances ``C`` ``(..., D, D)``."""
    n = spin.shape[0]
    mm = m.reshape(*m.shape[:-1], n, 3)
    M2 = C + m[..., :, None] * m[..., None, :]
    M2s = M2.reshape(*M2.shape[:-2], n, 3, n, 3)
    diag = jnp.diagonal(M2s, axis1=-4, axis2=-2)  # (..., 3, 3, n): same-site blocks
    cov = jnp.diagonal(C.reshape(*C.shape[:-2], n, 3, n, 3), axis1=-4, axis2=-2)
    out = {"Sx": mm[..., 0], "Sy": mm[..., 1], "Sz": mm[..., 2]}
    for (a, b), name in (
        ((0, 0), "Sx2"),
        ((1, 1), "Sy2"),
        ((2, 2), "Sz2"),
        ((0, 1), "SxSy"),
        ((0, 2), "SxSz"),
        ((1, 2), "SySz"),
    ):
        out[name] = diag[..., a, b, :]
    for a, name in ((0, "varx"), (1, "vary"), (2, "varz")):
        out[name] = cov[..., a, a, :]
    xx, yy = M2s[..., :, 0, :, 0], M2s[..., :, 1, :, 1]
    xy, yx = M2s[..., :, 0, :, 1], M2s[..., :, 1, :, 0]
    # <S_i^+ S_j^-> = <SxSx> + <SySy> - i <Sx_i Sy_j> + i <Sy_i Sx_j>, ordered products; on
    # one site the symmetric parts cancel and the commutators add <S_z>.
    spsm = xx + yy - 1j * xy + 1j * yx
    spsm = spsm + jnp.eye(n) * mm[..., None, :, 2]
    out["SpSm"] = spsm
    out["SzSz"] = M2s[..., :, 2, :, 2]
    # squeezing of site 0 perpendicular to z: 2S min_phi Var(S_phi) / <S_z>^2
    vx, vy, cxy = cov[..., 0, 0, 0], cov[..., 1, 1, 0], cov[..., 0, 1, 0]
    vmin = 0.5 * (vx + vy) - jnp.sqrt(0.25 * (vx - vy) ** 2 + cxy**2)
    out["xi2"] = 2 * spin[0] * vmin / mm[..., 0, 2] ** 2
    return out


def solve_cumulants(
    model,
    state=None,
    *,
    order: int = 2,
    t_final=None,
    times=None,
    n_save: int = 201,
    solver=None,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    max_steps: int = 1_000_000,
    throw: bool = True,
):
    """Solve the second-order (Gaussian) cumulant equations of ``model`` with Diffrax.

    Exact moment equations from the commutation algebra, third cumulants set to zero (module
    docstring). hbar = 1, standard Lindblad rates. They carry the leading 1/S corrections
    to mean field (means converge to exact results like 1/S^2 where mean field goes like
    1/S) and reduce to the Holstein-Primakoff (linearised boson) result around a polarised
    state.

    Args:
        model: the :class:`SpinModel`.
        state: initial :class:`SpinCoherentState` or ``(n, 3)`` unit vectors; default all down.
        order: cumulant order; only ``2`` is implemented.
        t_final, times, n_save, solver, rtol, atol, max_steps, throw: as
            :func:`solve_meanfield`.

    Returns:
        ``Solution(method="cumulant2")`` with means, second moments, variances, ``SpSm``,
        ``SzSz`` and ``xi2``; ``stats["covariance"]`` is not stored (use
        :func:`cumulant_vector_field` for the raw ``(m, C)``).

    Example:
        >>> sol = tq.solve_cumulants(tq.one_axis_twisting(50, g=1.0), tq.spin_down(), t_final=2.0)
        >>> sol["xi2"][-1]  # squeezed below 1
    """
    _check_model(model)
    check_in("order", order, (2,))
    ts = save_times(times, t_final, n_save)
    y0 = initial_vectors(model, state if state is not None else _down(model.n_sites))
    y0 = y0 / jnp.linalg.norm(y0, axis=-1, keepdims=True)
    m0, C0 = coherent_moments(model.spin, y0)
    sol = integrate(
        cumulant_vector_field,
        model,
        (m0, C0),
        ts,
        solver=solver,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        throw=throw,
    )
    m, C = sol.ys
    mean = moments_to_observables(model.spin, m, C)
    stats = {
        "solver": type(solver or default_solver()).__name__,
        "rtol": rtol,
        "atol": atol,
        "num_steps": int(sol.stats["num_steps"]),
        "order": order,
    }
    return Solution(method="cumulant2", times=ts, mean=mean, sem={}, stats=stats)
