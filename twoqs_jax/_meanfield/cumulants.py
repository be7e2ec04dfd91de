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
from .._model.jumps import Decay, Dephasing, Gain
from .meanfield import MEANFIELD_PRIMITIVES, _check_model, finish, initial_batch, solve_ode

_EPS = np.zeros((3, 3, 3))
for _a, _b, _c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
    _EPS[_a, _b, _c], _EPS[_b, _a, _c] = 1.0, -1.0


MODE_BASE = 1 << 20
"""Letters ``>= MODE_BASE`` are bosonic quadratures: ``MODE_BASE + 2 k + q`` is
``x_k = (a_k + a_k^+)/sqrt 2`` (``q = 0``) or ``p_k = -i (a_k - a_k^+)/sqrt 2`` (``q = 1``),
``[x_k, p_k] = i`` (used by :mod:`twoqs_jax._meanfield.cavity`)."""


def _comm_letters(x: int, y: int):
    """``[X, Y]`` of two letters: ``(coefficient, letters)`` or ``None`` when they commute.

    Spin letters ``x = 3 i + a`` give ``[S_i^a, S_i^b] = i eps_abc S_i^c`` (one letter);
    quadrature letters (``>= MODE_BASE``) give ``[x_k, p_k] = i`` (no letter).
    """
    if x >= MODE_BASE or y >= MODE_BASE:
        if x < MODE_BASE or y < MODE_BASE or (x - MODE_BASE) // 2 != (y - MODE_BASE) // 2:
            return None
        if x == y:
            return None
        return (1j if x < y else -1j), ()
    i, a = divmod(x, 3)
    j, b = divmod(y, 3)
    if i != j or a == b:
        return None
    c = 3 - a - b
    return 1j * _EPS[a, b, c], (3 * i + c,)


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
                    coef, letters = com
                    w = (
                        tuple(word[t] for t in cur[: q - 1])
                        + letters
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


def ladder_polynomials(site: int) -> dict:
    """``S^-, S^+, S^z`` of ``site`` as polynomials ``{word: coefficient}`` in the letters
    ``3 site + (0, 1, 2)`` (``S^pm = S_x pm i S_y``).
    """
    x, y, z = 3 * site, 3 * site + 1, 3 * site + 2
    return {
        "-": {(x,): 1.0 + 0j, (y,): -1j},
        "+": {(x,): 1.0 + 0j, (y,): 1j},
        "z": {(z,): 1.0 + 0j},
    }


def _frozen(poly: dict) -> tuple:
    return tuple(sorted(poly.items()))


def dissipator_slot(site: int | tuple[int, ...], products) -> tuple:
    """A hashable cumulant slot on ``site``: ``products`` is a sequence of
    ``(coefficient, L_left, L_right)`` with polynomial operators; the slot stands for
    ``sum coefficient (L_left^+ A L_right - {L_left^+ L_right, A}/2)`` (times its parameter).
    The sum must be Hermitian-preserving, so its moment equations have real coefficients.
    ``site`` is a site index, or a tuple of the sites the operators act on (a jump
    correlated across sites, :mod:`twoqs_jax._jumps.correlated`).
    """
    site = tuple(int(s) for s in site) if isinstance(site, tuple) else int(site)
    return (site, tuple((complex(c), _frozen(a), _frozen(b)) for c, a, b in products))


@functools.singledispatch
def cumulant_dissipator(jump, n_sites: int):
    """``(slots, params)`` of one jump Module for the cumulant equations: ``slots`` a tuple of
    :func:`dissipator_slot` (structure, hashable: the tables are derived once per structure)
    and ``params`` an array with one (traceable) parameter per slot. Register every jump
    type once.
    """
    raise ValueError(
        f"the cumulant equations do not support the jump {type(jump).__name__} (no "
        "registration in twoqs_jax._meanfield.cumulants.cumulant_dissipator)."
    )


def _single(kind):
    def lower(jump, n_sites):
        slots = tuple(
            dissipator_slot(i, ((1.0, ladder_polynomials(i)[kind], ladder_polynomials(i)[kind]),))
            for i in range(n_sites)
        )
        return slots, jump.rate

    return lower


cumulant_dissipator.register(Decay, _single("-"))
cumulant_dissipator.register(Gain, _single("+"))
cumulant_dissipator.register(Dephasing, _single("z"))


def _terms(n_sites, edges, slots):
    """Model terms: ``(param_index, kind, operator polynomial or jump products, sites)``."""
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
    for site, products in slots:
        prods = [(c, dict(a), dict(b)) for c, a, b in products]
        terms.append((k, "D", prods, set(site) if isinstance(site, tuple) else {site}))
        k += 1
    return terms, k


@functools.lru_cache(maxsize=32)
def _tables(n_sites: int, edges_key: tuple, slots: tuple = ()):
    """Sparse coefficient tables of the closed moment equations for one model structure
    (graph and jump slots).
    """
    edges = [tuple(e) for e in edges_key]
    D = 3 * n_sites
    targets = [((a,), {(a,): 1.0 + 0j}) for a in range(D)]
    targets += [
        ((a, b), _add({(a, b): 0.5 + 0j}, {(b, a): 0.5 + 0j}))
        for a in range(D)
        for b in range(a, D)
    ]
    terms, n_params = _terms(n_sites, edges, slots)
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
                poly = {}
                for coef, L1, L2 in op:  # coef (L1^+ A L2 - {L1^+ L2, A} / 2)
                    L1d = {w[::-1]: np.conj(c) for w, c in L1.items()}
                    LdL = _mul(L1d, L2)
                    part = _add(_mul(_mul(L1d, A), L2), _mul(LdL, A), -0.5)
                    part = _add(part, _mul(A, LdL), -0.5)
                    poly = _add(poly, part, coef)
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


def _lowered_jumps(model):
    """``(slots, params)`` of all jumps of ``model`` (registry :func:`cumulant_dissipator`)."""
    slots, params = (), []
    for jump in model.jumps:
        s, p = cumulant_dissipator(jump, model.n_sites)
        slots += tuple(s)
        params.append(jnp.asarray(p).reshape(-1))
    return slots, params


def _params(model):
    _, params = _lowered_jumps(model)
    return jnp.concatenate([model.field.ravel(), model.coupling.ravel(), *params])


def model_tables(model):
    """:func:`_tables` for the structure of ``model`` (graph and jumps)."""
    slots, _ = _lowered_jumps(model)
    return _tables(model.n_sites, tuple(map(tuple, model.edges.tolist())), slots)


def cumulant_vector_field(model, state):
    """``d(m, C)/dt`` of the Gaussian cumulant equations; ``state = (m (D,), C (D, D))``."""
    m, C = state
    D = m.shape[0]
    tables, n_targets, _, pairs = model_tables(model)
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
    blocks = (spin[:, None, None] / 2) * (
        jnp.eye(3, dtype=vectors.dtype)[None] - vectors[:, :, None] * vectors[:, None, :]
    )
    C = jnp.zeros((3 * n, 3 * n), dtype=m.dtype)
    for i in range(n):
        C = C.at[3 * i : 3 * i + 3, 3 * i : 3 * i + 3].set(blocks[i])
    return m, C


def primitives_from_moments(spin, m, C) -> dict:
    """Primitive moments from means ``m`` ``(..., D)`` and covariances ``C`` ``(..., D, D)``."""
    m, C = np.asarray(m), np.asarray(C)
    n = np.shape(spin)[-1]
    mm = m.reshape(*m.shape[:-1], n, 3)
    M2 = C + m[..., :, None] * m[..., None, :]
    M2s = M2.reshape(*M2.shape[:-2], n, 3, n, 3)
    diag = np.diagonal(M2s, axis1=-4, axis2=-2)  # (..., 3, 3, n): same-site blocks
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
    xx, yy = M2s[..., :, 0, :, 0], M2s[..., :, 1, :, 1]
    xy, yx = M2s[..., :, 0, :, 1], M2s[..., :, 1, :, 0]
    # <S_i^+ S_j^-> = <SxSx> + <SySy> - i <Sx_i Sy_j> + i <Sy_i Sx_j>, ordered products; on
    # one site the symmetric parts cancel and the commutators add <S_z>.
    spsm = xx + yy - 1j * xy + 1j * yx
    spsm = spsm + np.eye(n) * mm[..., None, :, 2]
    out["SpSm"] = spsm
    out["SzSz"] = M2s[..., :, 2, :, 2]
    return out


def solve_cumulant_ode(model, state, saveat, method, observables=None, options=None):
    """Second-order cumulant backend of :func:`twoqs_jax.solve` (module docstring).

    Exact moment equations from the commutation algebra, third cumulants set to zero. They
    carry the leading 1/S corrections to mean field (means converge to exact results like
    1/S^2 where mean field goes like 1/S) and reduce to the Holstein-Primakoff (linearised
    boson) result around a polarised state. Initial state: a product of spin coherent
    states (unit vectors are normalised).
    """
    from .._observables import resolve

    _check_model(model)
    check_in("order", method.order, (2,))
    if method.u1 is not None:
        raise ValueError("`u1` is an option of the central-spin models, not of a SpinModel.")
    model.validate()
    observables = resolve(observables, model.n_sites, "cumulant", MEANFIELD_PRIMITIVES)
    y0, state_batched = initial_batch(model, state)
    y0 = y0 / jnp.linalg.norm(y0, axis=-1, keepdims=True)
    batched = model.spin.ndim == 2
    if batched:
        m0, C0 = jax.vmap(coherent_moments, in_axes=(0, 0 if state_batched else None))(
            model.spin, y0
        )
        state_batched = True
    else:
        m0, C0 = coherent_moments(model.spin, y0)
    ys, times, steps, window = solve_ode(
        cumulant_vector_field, model, (m0, C0), saveat, method, options, batched, state_batched
    )
    prims = primitives_from_moments(model.spin, *ys)
    stats = {
        "solver": type(method.solver).__name__,
        "rtol": method.rtol,
        "atol": method.atol,
        "num_steps": steps,
        "order": method.order,
    }
    return finish("cumulant2", prims, observables, model, times, window, stats)
