r"""Mean field and second-order cumulants of a :class:`~twoqs_jax.CavityModel` (spins + modes).

Conventions: hbar = 1, standard Lindblad rates; quadratures ``x = (a + a^+)/sqrt 2``,
``p = -i (a - a^+)/sqrt 2`` (``[x, p] = i``); the model's ``H`` and jumps as in
:mod:`twoqs_jax._model.cavity`.

**Mean field** (leading order: every product factorised at the means). Variables: the unit
spin vectors ``y_i = <S_i>/S_i`` ``(n, 3)`` and the quadrature means ``u_k = (<x_k>, <p_k>)``
``(M, 2)``. With the classical energy ``H_cl(s, u) = H_cl,spins(s) + sum_k [omega_k |alpha_k|^2
+ sqrt 2 (Re eta_k x_k + Im eta_k p_k) + K_k |alpha_k|^4] + sum G[k,i,q,a] u_kq s_ia``,
``|alpha|^2 = (x^2 + p^2)/2``, ``s = S y``:

    dy_i/dt = (1/S_i) grad_{y_i} H_cl x y_i + (spin dissipators, as for a SpinModel),
    dx_k/dt = dH_cl/dp_k - (loss_k - gain_k) x_k / 2,
    dp_k/dt = -dH_cl/dx_k - (loss_k - gain_k) p_k / 2.

(Check: ``H = omega a^+ a`` gives ``d<a>/dt = -i omega <a>``; loss ``kappa`` damps ``<a>`` at
``kappa/2``.) Mode moments are those of a coherent state: ``<a^+a> = |<a>|^2``, ``g2 = 1``.

**Cumulants** (second order): the machinery of :mod:`.cumulants` on letters ``S_i^alpha`` and
``x_k, p_k``; every term's exact Heisenberg-picture action is written in symmetrised words
(``[x_k, p_k] = i``), then symmetric moments of degree 3 and 4 (Kerr) are closed with zero
third and fourth cumulants (a Gaussian Wigner function):
``<Sym(abcd)> = m_a m_b m_c m_d + sum_6 C m m + C_ab C_cd + C_ac C_bd + C_ad C_bc``.
Initial state: spin coherent states and displaced thermal modes
(``m = sqrt 2 (Re alpha, Im alpha)``, ``C = (n_th + 1/2) 1``).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._model.cavity import SQRT2, check_cavity, resolve_cavity
from .._observables import dims_of, evaluate
from .._solution import Solution
from .cumulants import (
    MODE_BASE,
    _add,
    _lowered_jumps,
    _mul,
    _reduce,
    _terms,
    coherent_moments,
    primitives_from_moments,
)
from .meanfield import (
    MEANFIELD_PRIMITIVES,
    classical_energy,
    integrate,
    meanfield_vector_field,
    ode_grid,
    primitives_from_vectors,
)

_J = np.array([[0.0, 1.0], [-1.0, 0.0]])


# ---------------------------------------------------------------------------- mean field
def _mode_energy(model, u):
    x, p = u[:, 0], u[:, 1]
    n = 0.5 * (x**2 + p**2)
    drive = SQRT2 * (jnp.real(model.drive) * x + jnp.imag(model.drive) * p)
    return jnp.sum(model.frequency * n + drive + model.kerr * n**2)


def _coupling_energy(model, y, u):
    s = model.spins.spin[:, None] * y
    return jnp.einsum("kiqa,kq,ia->", model.coupling, u, s)


def cavity_meanfield_field(model, state):
    """``d(y, u)/dt`` of the mean-field equations (module docstring)."""
    y, u = state
    damp = 0.5 * (model.loss - model.gain)[:, None] * u
    if model.spins is None:
        du = jax.grad(_mode_energy, argnums=1)(model, u) @ _J.T - damp
        return y, du

    def energy(y, u):
        return (
            classical_energy(model.spins, y)
            + _mode_energy(model, u)
            + _coupling_energy(model, y, u)
        )

    gy = jax.grad(_coupling_energy, argnums=1)(model, y, u) / model.spins.spin[:, None]
    dy = meanfield_vector_field(model.spins, y) + jnp.cross(gy, y)
    du = jax.grad(energy, argnums=1)(y, u) @ _J.T - damp
    return dy, du


def _mode_prims_coherent(u):
    a = (np.asarray(u)[..., 0] + 1j * np.asarray(u)[..., 1]) / SQRT2
    n = np.abs(a) ** 2
    return {"a": a, "ada": n, "aa": a * a, "adadaa": n * n}


def _initial(model, state):
    spins = model.spins
    y0 = jnp.zeros((0, 3)) if spins is None else state.spins.bloch_vectors()
    u0 = SQRT2 * jnp.stack([jnp.real(state.alpha), jnp.imag(state.alpha)], axis=-1)
    return y0, u0


def _finish(name, model, prims, observables, times, window, stats):
    if window is not None:
        prims = {k: np.mean(np.asarray(v)[window], axis=0) for k, v in prims.items()}
    spin = np.asarray(model.spins.spin, dtype=float) if model.spins is not None else np.zeros(0)
    if times is not None:
        spin = spin[None, :]
    mean = evaluate(observables, prims, spin)
    lead = ("time",) if times is not None else ()
    dims = {o.name: dims_of(o, lead) for o in observables}
    return Solution(method=name, times=times, mean=mean, sem={}, stats=stats, dims=dims)


def _solve(field, model, y0, saveat, method, options):
    ts, times, window = ode_grid(saveat)
    throw = True if options is None else options.throw
    ys, steps = integrate(
        field,
        model,
        y0,
        ts,
        solver=method.solver,
        rtol=method.rtol,
        atol=method.atol,
        max_steps=method.max_steps,
        throw=throw,
    )
    stats = {
        "solver": type(method.solver).__name__,
        "rtol": method.rtol,
        "atol": method.atol,
        "num_steps": np.asarray(steps).tolist(),
    }
    return ys, times, window, stats


def _steady_state_needs_state(saveat, state):
    from .._saveat import SteadyState

    if isinstance(saveat, SteadyState) and state is None:
        raise ValueError(
            "the mean-field and cumulant steady states of a CavityModel are time averages "
            "from an initial state: pass a tq.CavityState."
        )


def solve_cavity_meanfield(model, state, saveat, method, observables=None, options=None):
    """Mean-field backend of :func:`twoqs_jax.solve` for a :class:`CavityModel`."""
    _steady_state_needs_state(saveat, state)
    check_cavity(model, state)
    observables = resolve_cavity(observables, model, "mean-field", MEANFIELD_PRIMITIVES)
    y0 = _initial(model, state)
    (ys, us), times, window, stats = _solve(
        cavity_meanfield_field, model, y0, saveat, method, options
    )
    prims = _mode_prims_coherent(us)
    if model.spins is not None:
        prims.update(primitives_from_vectors(model.spins.spin, ys))
    return _finish("meanfield", model, prims, observables, times, window, stats)


# ---------------------------------------------------------------------------- cumulants
def _x(k):
    return MODE_BASE + 2 * k


def _p(k):
    return MODE_BASE + 2 * k + 1


def _a(k, dagger=False):
    s = -1.0 if dagger else 1.0
    return {(_x(k),): 1 / SQRT2 + 0j, (_p(k),): s * 1j / SQRT2}


def _number(k):
    return {(_x(k), _x(k)): 0.5 + 0j, (_p(k), _p(k)): 0.5 + 0j, (): -0.5 + 0j}


def _owner(letter):
    return ("mode", (letter - MODE_BASE) // 2) if letter >= MODE_BASE else letter // 3


def _mode_terms(n_sites, M, k0, kerr):
    """Mode terms ``(param_index, kind, op, owners)`` after the spin terms (index ``k0``)."""
    terms, k = [], k0
    for m in range(M):
        own = {("mode", m)}
        terms.append((k, "H", _number(m), own))  # frequency
        terms.append((k + 1, "H", {(_x(m),): SQRT2 + 0j}, own))  # Re eta
        terms.append((k + 2, "H", {(_p(m),): SQRT2 + 0j}, own))  # Im eta
        k += 3
        if kerr:
            nn = _mul(_number(m), _number(m))
            terms.append((k, "H", _add(nn, _number(m), -1.0), own))
            k += 1
        a, ad = _a(m), _a(m, True)
        terms.append((k, "D", [(1.0, a, a)], own))  # loss
        terms.append((k + 1, "D", [(1.0, ad, ad)], own))  # gain
        k += 2
        for i in range(n_sites):
            for letter in (_x(m), _p(m)):
                for al in range(3):
                    terms.append((k, "H", {(letter, 3 * i + al): 1.0 + 0j}, {i, ("mode", m)}))
                    k += 1
    return terms, k


@functools.lru_cache(maxsize=16)
def _cavity_tables(n_sites, M, edges_key, slots, kerr):
    edges = [tuple(e) for e in edges_key]
    spin_terms, k0 = _terms(n_sites, edges, slots) if n_sites else ([], 0)
    mode_terms, n_params = _mode_terms(n_sites, M, k0, kerr)
    letters = [3 * i + a for i in range(n_sites) for a in range(3)]
    letters += [MODE_BASE + j for j in range(2 * M)]
    index = {lt: j for j, lt in enumerate(letters)}
    D = len(letters)
    targets = [((a,), {(letters[a],): 1.0 + 0j}) for a in range(D)]
    targets += [
        ((a, b), _add({(letters[a], letters[b]): 0.5 + 0j}, {(letters[b], letters[a]): 0.5 + 0j}))
        for a in range(D)
        for b in range(a, D)
    ]
    entries = {d: [] for d in range(5)}
    for t, (idx, A) in enumerate(targets):
        owners = {_owner(letters[a]) for a in idx}
        for k, kind, op, towners in spin_terms + mode_terms:
            if not owners & set(towners):
                continue
            if kind == "H":
                poly = _add(_mul(op, A), _mul(A, op), -1.0)
                poly = {w: 1j * c for w, c in poly.items()}
            else:
                poly = {}
                for coef, L1, L2 in op:
                    L1d = {w[::-1]: np.conj(c) for w, c in L1.items()}
                    LdL = _mul(L1d, L2)
                    part = _add(_mul(_mul(L1d, A), L2), _mul(LdL, A), -0.5)
                    part = _add(part, _mul(A, LdL), -0.5)
                    poly = _add(poly, part, coef)
            for w, c in _reduce(poly).items():
                if len(w) > 4:
                    raise AssertionError(f"degree-{len(w)} symmetric word {w} did not cancel")
                if abs(c.imag) > 1e-10:
                    raise AssertionError(f"complex coefficient {c} for a Hermitian target")
                entries[len(w)].append((k, t, tuple(index[x] for x in w), c.real))
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


def _structure(model):
    """``(tables, spin_params)`` for the model's structure."""
    n, M = model.n_sites, model.n_modes
    if model.spins is not None:
        slots, jparams = _lowered_jumps(model.spins)
        edges = tuple(map(tuple, model.spins.edges.tolist()))
        sp = jnp.concatenate([model.spins.field.ravel(), model.spins.coupling.ravel(), *jparams])
    else:
        slots, edges, sp = (), (), jnp.zeros(0)
    kerr = model.has_kerr
    return _cavity_tables(n, M, edges, slots, kerr), sp, kerr


def _params(model, sp, kerr):
    cols = []
    for m in range(model.n_modes):
        cols += [model.frequency[m], jnp.real(model.drive[m]), jnp.imag(model.drive[m])]
        if kerr:
            cols.append(model.kerr[m])
        cols += [model.loss[m], model.gain[m]]
        cols.append(model.coupling[m].reshape(-1))
    flat = [jnp.reshape(c, (-1,)) for c in cols]
    return jnp.concatenate([sp, *flat])


def gaussian_moment(w, m, C):
    """``<Sym(prod_j X_{w_j})>`` of a Gaussian (zero third and fourth cumulants); ``w``
    ``(E, d)`` index arrays, ``d <= 4``.
    """
    d = w.shape[1]
    if d == 0:
        return jnp.ones(w.shape[0], m.dtype)
    if d == 1:
        return m[w[:, 0]]
    if d == 2:
        a, b = w[:, 0], w[:, 1]
        return C[a, b] + m[a] * m[b]
    if d == 3:
        a, b, c = w[:, 0], w[:, 1], w[:, 2]
        return m[a] * m[b] * m[c] + m[a] * C[b, c] + m[b] * C[a, c] + m[c] * C[a, b]
    a, b, c, e = w[:, 0], w[:, 1], w[:, 2], w[:, 3]
    ma, mb, mc, me = m[a], m[b], m[c], m[e]
    return (
        ma * mb * mc * me
        + C[a, b] * mc * me
        + C[a, c] * mb * me
        + C[a, e] * mb * mc
        + C[b, c] * ma * me
        + C[b, e] * ma * mc
        + C[c, e] * ma * mb
        + C[a, b] * C[c, e]
        + C[a, c] * C[b, e]
        + C[a, e] * C[b, c]
    )


def cavity_cumulant_field(model, state):
    """``d(m, C)/dt`` of the second-order cumulant equations of a :class:`CavityModel`."""
    m, C = state
    D = m.shape[0]
    (tables, n_targets, _, pairs), sp, kerr = _structure(model)
    p = _params(model, sp, kerr)
    rates = jnp.zeros(n_targets, dtype=m.dtype)
    for _, (k, t, w, c) in tables.items():
        if k.size == 0:
            continue
        e = gaussian_moment(w, m, C)
        rates = rates + jax.ops.segment_sum(c * p[k] * e, t, num_segments=n_targets)
    dm = rates[:D]
    dM2 = jnp.zeros((D, D), dtype=m.dtype).at[pairs[:, 0], pairs[:, 1]].set(rates[D:])
    dM2 = dM2 + jnp.triu(dM2, 1).T
    dC = dM2 - dm[:, None] * m[None, :] - m[:, None] * dm[None, :]
    return dm, dC


def _initial_moments(model, state):
    n = model.n_sites
    if model.spins is not None:
        v = state.spins.bloch_vectors()
        v = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
        ms, Cs = coherent_moments(model.spins.spin, v)
    else:
        ms, Cs = jnp.zeros(0), jnp.zeros((0, 0))
    mm = SQRT2 * jnp.stack([jnp.real(state.alpha), jnp.imag(state.alpha)], axis=-1).reshape(-1)
    var = jnp.repeat(state.n_thermal + 0.5, 2)
    D = 3 * n + mm.shape[0]
    m = jnp.concatenate([ms, mm])
    C = jnp.zeros((D, D)).at[: 3 * n, : 3 * n].set(Cs)
    C = C.at[jnp.arange(3 * n, D), jnp.arange(3 * n, D)].set(var)
    return m, C


@functools.cache
def _mode_primitive_polys():
    """The mode primitives as symmetric words in ``(x, p)`` of one mode (indices 0, 1)."""
    a, ad = _a(0), _a(0, True)
    polys = {
        "a": a,
        "ada": _mul(ad, a),
        "aa": _mul(a, a),
        "adadaa": _mul(_mul(ad, ad), _mul(a, a)),
    }
    return {
        name: [(tuple(x - MODE_BASE for x in w), complex(c)) for w, c in _reduce(p).items()]
        for name, p in polys.items()
    }


def _np_moment(w, m, C):
    """Symmetric moment of a Gaussian with means ``m[..., i]``, covariances ``C[..., i, j]``."""
    if not w:
        return 1.0
    a, rest = w[0], w[1:]
    out = m[..., a] * _np_moment(rest, m, C)
    for j, b in enumerate(rest):
        out = out + C[..., a, b] * _np_moment(rest[:j] + rest[j + 1 :], m, C)
    return out


def _mode_prims_gaussian(m, C, n_sites, M):
    """Mode primitives from Gaussian moments (leading axes allowed)."""
    m, C = np.asarray(m), np.asarray(C)
    off = 3 * n_sites
    out = {}
    for name, terms in _mode_primitive_polys().items():
        cols = []
        for k in range(M):
            sl = slice(off + 2 * k, off + 2 * k + 2)
            mk, Ck = m[..., sl], C[..., sl, sl]
            cols.append(sum(c * _np_moment(w, mk, Ck) for w, c in terms))
        v = np.stack(np.broadcast_arrays(*cols), axis=-1)
        out[name] = v if name in ("a", "aa") else np.real(v)
    return out


def solve_cavity_cumulants(model, state, saveat, method, observables=None, options=None):
    """Second-order cumulant backend of :func:`twoqs_jax.solve` for a :class:`CavityModel`."""
    from .._checks import check_in

    _steady_state_needs_state(saveat, state)
    check_cavity(model, state)
    check_in("order", method.order, (2,))
    if method.u1 is not None:
        raise ValueError("`u1` is an option of the central-spin models, not of a CavityModel.")
    observables = resolve_cavity(observables, model, "cumulant", MEANFIELD_PRIMITIVES)
    m0, C0 = _initial_moments(model, state)
    (ms, Cs), times, window, stats = _solve(
        cavity_cumulant_field, model, (m0, C0), saveat, method, options
    )
    n = model.n_sites
    prims = _mode_prims_gaussian(ms, Cs, n, model.n_modes)
    if model.spins is not None:
        prims.update(
            primitives_from_moments(model.spins.spin, ms[..., : 3 * n], Cs[..., : 3 * n, : 3 * n])
        )
    stats["order"] = method.order
    return _finish("cumulant2", model, prims, observables, times, window, stats)
