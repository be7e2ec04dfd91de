"""Exact (QuTiP) references of a :class:`~twoqs_jax.CavityModel`: spins and Fock-truncated modes.

Space: the spin sites in QuTiP's ``jmat`` basis (as :mod:`.operators`), then one Fock space
of ``cutoff_k`` levels (``0 .. cutoff_k - 1``) per mode. ``H`` and the jumps are those of the
model's docstring (hbar = 1, standard Lindblad form); mode ``k`` adds the collapse operators
``sqrt(loss_k) a_k`` and ``sqrt(gain_k) a_k^+``.

Fock cutoff. Unless given (``tq.Exact(cutoff=...)``), each mode's cutoff is chosen from the
state and the parameters, from an estimate of the largest occupation the dynamics can reach,

    n_coh = |alpha_0|^2 + 4 |eta|^2 / d + (sum_i S_i |G_ki|)^2 / (2 d),
    n_th = n_th,0 + gain / (loss - gain),        d = omega^2 + (loss - gain)^2 / 4,

(the initial displacement; a coherent drive's steady amplitude ``|eta|^2/d`` with a factor 4
for the transient; the spins acting as a drive of amplitude at most
``sum_i S_i |G_ki| / sqrt 2``; the initial and the bath's thermal occupations), as
``cutoff = ceil(n_coh + 6 sqrt(n_coh) + 8 + 17 n_th)`` (Poisson tails for the coherent part;
a thermal distribution's tail ``(n/(n+1))^N`` falls below 1e-7 at ``N ~ 16 (n + 1/2)``). The
choice is
then *checked*: the population of the top Fock level (the largest over the saved times) is
returned in ``stats["fock_top_population"]``; above ``FOCK_TOP_TOLERANCE`` the result carries
``stats["cutoff_ok"] = False`` and a ``RuntimeWarning`` (raise ``cutoff``). Mode gain at or
above the loss has no steady occupation and is refused.

Memory guard: the cost model of :mod:`.cost` on the combined ladders (a mode is one more
ladder with offsets -1, 0, +1), checked before anything is built.
"""

import math
import time
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .._model.cavity import SQRT2, check_cavity, resolve_cavity
from .._observables import MODE_PRIMITIVES, dims_of, evaluate, needed_primitives
from .._optional import require
from .._solution import Solution
from .cost import cost_of_structure, offset_structure
from .observables import EXACT_PRIMITIVES, moment_operators, primitives
from .operators import AXES, collapse_operators, spin_coherent_ket, spin_lengths

if TYPE_CHECKING:
    import qutip
else:  # imported on first use of the exact references: an optional dependency
    qutip = require("qutip", "exact references (tq.Exact, tq.exact)")

FOCK_TOP_TOLERANCE = 1e-6
"""Largest accepted population of a mode's top Fock level (else warn and flag)."""


def _mode_arrays(model):
    return {
        k: np.asarray(getattr(model, k))
        for k in ("frequency", "drive", "kerr", "loss", "gain", "coupling")
    }


def choose_cutoffs(model, state=None, cutoff=None) -> list[int]:
    """Fock cutoffs per mode (the module docstring), or ``cutoff`` (an int for every mode)."""
    p = _mode_arrays(model)
    M = model.n_modes
    for k in range(M):
        if p["gain"][k] > 0 and p["gain"][k] >= p["loss"][k]:
            raise ValueError(
                f"mode {k} has `gain`={p['gain'][k]} >= `loss`={p['loss'][k]}: its occupation "
                "grows without bound and no Fock cutoff holds it."
            )
    if cutoff is not None:
        return [int(cutoff)] * M
    spins = np.asarray(spin_lengths(model.spins)) if model.spins is not None else np.zeros(0)
    out = []
    for k in range(M):
        kap = p["loss"][k] - p["gain"][k]
        d = p["frequency"][k] ** 2 + kap**2 / 4
        d = d if d > 0 else 1e-300
        g = np.sqrt(np.sum(p["coupling"][k] ** 2, axis=(-2, -1)))  # (n,)
        n_coh = (
            (abs(complex(state.alpha[k])) ** 2 if state is not None else 0.0)
            + 4 * abs(p["drive"][k]) ** 2 / d
            + float(np.sum(spins * g)) ** 2 / (2 * d)
        )
        n_th = (float(state.n_thermal[k]) if state is not None else 0.0) + (
            p["gain"][k] / kap if kap > 0 else 0.0
        )
        n_coh, n_th = min(n_coh, 1e6), min(n_th, 1e6)
        out.append(int(math.ceil(n_coh + 6 * math.sqrt(n_coh) + 8 + 17 * n_th)))
    return out


def _offsets(model, cutoffs):
    """Offset vectors of ``H`` and the Liouvillian on the ladders (sites, then modes)."""
    n, M = model.n_sites, model.n_modes
    p = _mode_arrays(model)
    if model.spins is not None:
        h_s, l_s = offset_structure(model.spins)
    else:
        h_s, l_s = set(), set()
    zm = (0,) * M
    h = {v + zm for v in h_s}
    liou = {v[:n] + zm + v[n:] + zm for v in l_s}

    def e(k, o):  # a mode offset vector
        v = [0] * (n + M)
        v[n + k] = o
        return tuple(v)

    axis_offsets = {0: (1, -1), 1: (1, -1), 2: (0,)}
    for k in range(M):
        h.add(e(k, 0))
        if p["drive"][k] != 0:
            h |= {e(k, 1), e(k, -1)}
        for i in range(n):
            for a in range(3):
                if np.any(p["coupling"][k, i, :, a] != 0):
                    for o in axis_offsets[a]:
                        for om in (1, -1):
                            v = list(e(k, om))
                            v[i] += o
                            h.add(tuple(v))
        for rate, o in ((p["loss"][k], -1), (p["gain"][k], 1)):
            if rate > 0:
                liou.add(e(k, o) + e(k, o))
    zero = (0,) * (n + M)
    left = h | {zero}
    liou |= {v + zero for v in left} | {zero + v for v in left}
    return h, liou


def check_cavity_cost(model, kind, cutoffs, max_memory=None, **kwargs):
    """The memory guard (``ValueError`` before anything is built)."""
    from .cost import DEFAULT_MAX_MEMORY, _fmt_bytes

    dims = [int(round(2 * s)) + 1 for s in (spin_lengths(model.spins) if model.spins else [])]
    dims += list(cutoffs)
    h, liou = _offsets(model, cutoffs)
    cost = cost_of_structure(kind, dims, h, liou, **kwargs)
    limit = DEFAULT_MAX_MEMORY if max_memory is None else max_memory
    if cost.memory > limit:
        raise ValueError(
            f"exact {kind} refused: local dimensions {dims} (spins, then Fock cutoffs {cutoffs}) "
            f"give Hilbert dimension {cost.hilbert_dim} and Liouvillian dimension "
            f"{cost.liouville_dim}; estimated peak memory {_fmt_bytes(cost.memory)} exceeds the "
            f"limit `max_memory` = {_fmt_bytes(limit)}. Use fewer spins, a smaller `cutoff`, "
            "or the mean-field / cumulant solvers."
        )
    return cost


def _embed(local, index, dims):
    factors = [qutip.qeye(d, dtype="csr") for d in dims]
    factors[index] = local.to("csr")
    return qutip.tensor(*factors).to("csr") if len(dims) > 1 else local.to("csr")


def build(model, cutoffs):
    """``(site_ops, modes, H, c_ops, dims)``: full-space operators of the model."""
    spins = spin_lengths(model.spins) if model.spins is not None else []
    dims = [int(round(2 * s)) + 1 for s in spins] + list(cutoffs)
    site_ops = [
        {a: _embed(qutip.jmat(s, a), i, dims) for a in ("x", "y", "z", "+", "-")}
        for i, s in enumerate(spins)
    ]
    n = len(spins)
    modes = [_embed(qutip.destroy(N), n + k, dims) for k, N in enumerate(cutoffs)]
    p = _mode_arrays(model)
    h = 0 * modes[0]
    if model.spins is not None:
        sm = model.spins
        field = np.asarray(sm.field, dtype=float)
        for i in range(n):
            for a, ax in enumerate(AXES):
                if field[i, a] != 0:
                    h = h + float(field[i, a]) * site_ops[i][ax]
        coupling = np.asarray(sm.symmetric_coupling, dtype=float)
        for e, (i, j) in enumerate(sm.edges):
            for a, ax in enumerate(AXES):
                for b, bx in enumerate(AXES):
                    if coupling[e, a, b] != 0:
                        h = h + float(coupling[e, a, b]) * (
                            site_ops[int(i)][ax] * site_ops[int(j)][bx]
                        )
    for k, a in enumerate(modes):
        ad = a.dag()
        quad = (ad + a) / SQRT2, -1j * (a - ad) / SQRT2
        if p["frequency"][k] != 0:
            h = h + float(p["frequency"][k]) * (ad * a)
        if p["drive"][k] != 0:
            eta = complex(p["drive"][k])
            h = h + eta * ad + np.conj(eta) * a
        if p["kerr"][k] != 0:
            h = h + float(p["kerr"][k]) * (ad * ad * a * a)
        for i in range(n):
            for q in range(2):
                for b, bx in enumerate(AXES):
                    g = p["coupling"][k, i, q, b]
                    if g != 0:
                        h = h + float(g) * (quad[q] * site_ops[i][bx])
    h = 0.5 * (h + h.dag())
    c_ops = collapse_operators(model.spins, _ops=site_ops) if model.spins is not None else []
    for k, a in enumerate(modes):
        if p["loss"][k] > 0:
            c_ops.append(float(np.sqrt(p["loss"][k])) * a)
        if p["gain"][k] > 0:
            c_ops.append(float(np.sqrt(p["gain"][k])) * a.dag())
    return site_ops, modes, h.to("csr"), c_ops, dims


def initial_rho(model, state, cutoffs, dims):
    """The product initial state (spin coherent kets, displaced thermal mode states)."""
    parts = []
    if model.spins is not None:
        th = np.asarray(state.spins.theta, dtype=float)
        ph = np.asarray(state.spins.phi, dtype=float)
        for i, s in enumerate(spin_lengths(model.spins)):
            ket = qutip.Qobj(spin_coherent_ket(s, th[i], ph[i]).reshape(-1, 1))
            parts.append(ket.proj())
    for k, N in enumerate(cutoffs):
        D = qutip.displace(N, complex(state.alpha[k]))
        nth = float(state.n_thermal[k])
        base = qutip.thermal_dm(N, nth) if nth > 0 else qutip.fock_dm(N, 0)
        parts.append(D * base * D.dag())
    rho = qutip.tensor(*parts) if len(parts) > 1 else parts[0]
    return qutip.Qobj(rho.full(), dims=[dims, dims])


def mode_operators(modes, observables) -> dict:
    """Operators of the mode primitives the observables need, ``(name, k)`` -> ``Qobj``."""
    need = [p for p in needed_primitives(observables) if p in MODE_PRIMITIVES]
    out = {}
    for k, a in enumerate(modes):
        ad = a.dag()
        ops = {"a": a, "ada": ad * a, "aa": a * a, "adadaa": ad * ad * a * a}
        for name in need:
            out[(name, k)] = ops[name]
    return out


def _top_projectors(modes, cutoffs, n_sites, dims):
    out = {}
    for k, N in enumerate(cutoffs):
        out[("top", k)] = _embed(qutip.fock_dm(N, N - 1), n_sites + k, dims)
    return out


def _assemble(model, base, observables, lead):
    """Observables from the base moments (spins via :mod:`.observables`, modes here)."""
    spin_obs = [o for o in observables if not set(o.needs) & set(MODE_PRIMITIVES)]
    prims = {}
    if model.spins is not None and spin_obs:
        prims.update(primitives(model.spins, base, spin_obs, lead))
    for name in needed_primitives(observables):
        if name in MODE_PRIMITIVES:
            v = np.stack([np.asarray(base[(name, k)]) for k in range(model.n_modes)], axis=-1)
            prims[name] = v if name in ("a", "aa") else np.real(v)
    spin = (
        np.asarray(spin_lengths(model.spins), dtype=float)
        if model.spins is not None
        else np.zeros(0)
    )
    return evaluate(observables, prims, spin)


def _cutoff_stats(top, cutoffs) -> dict:
    top = [float(t) for t in top]
    ok = all(t <= FOCK_TOP_TOLERANCE for t in top)
    if not ok:
        warnings.warn(
            f"the Fock cutoff of the exact solver may truncate the modes: top-level "
            f"populations {top} exceed {FOCK_TOP_TOLERANCE:g} (cutoffs {cutoffs}); the result "
            "is flagged (stats['cutoff_ok'] = False). Raise tq.Exact(cutoff=...).",
            RuntimeWarning,
            stacklevel=4,
        )
    return {"fock_cutoffs": list(cutoffs), "fock_top_population": top, "cutoff_ok": ok}


def solve_cavity_exact(model, state, saveat, method, observables=None, options=None):
    """Exact backend of :func:`twoqs_jax.solve` for a :class:`CavityModel`."""
    from .._saveat import SaveAt, SteadyState
    from .solve import _check_times, _direct_steady_state, _ode_options

    steady = isinstance(saveat, SteadyState)
    check_cavity(model, None if steady else state, need_state=not steady)
    observables = resolve_cavity(observables, model, "exact", EXACT_PRIMITIVES)
    cutoffs = choose_cutoffs(model, None if steady else state, method.cutoff)
    opts = _ode_options(method.options)
    kind = "steady" if steady else "evolve"
    cost = check_cavity_cost(model, kind, cutoffs, method.max_memory, method=opts["method"])
    t0 = time.perf_counter()
    site_ops, modes, h, c_ops, dims = build(model, cutoffs)
    L = qutip.liouvillian(h, c_ops).to("csr")
    ops = moment_operators(site_ops, observables) if site_ops else {}
    ops.update(mode_operators(modes, observables))
    ops.update(_top_projectors(modes, cutoffs, model.n_sites, dims))
    keys = list(ops)
    stats = {"hilbert_dim": cost.hilbert_dim, "memory_estimate": cost.memory}
    if isinstance(saveat, SaveAt):
        t = _check_times(saveat.ts)
        opts["store_states"] = False
        rho0 = initial_rho(model, state, cutoffs, dims)
        res = qutip.mesolve(L, rho0, t, e_ops=[ops[k] for k in keys], options=opts)
        base = {k: np.asarray(v) for k, v in zip(keys, res.expect)}
        lead, times = (len(t),), t
        stats["solver"] = f"qutip.mesolve ({opts['method']})"
    elif isinstance(saveat, SteadyState):
        Ls = L.data.as_scipy().tocsr()
        x, _ = _direct_steady_state(Ls, "MMD_AT_PLUS_A", 0.1, True)
        scale = float(np.max(np.abs(Ls.data)))
        residual = float(np.max(np.abs(Ls @ x))) / scale
        if not residual <= 1e-8:
            x, _ = _direct_steady_state(Ls, "COLAMD", 1.0, False)
            residual = float(np.max(np.abs(Ls @ x))) / scale
        if not residual <= 1e-8:
            raise RuntimeError(
                f"no unique steady state of the CavityModel (relative residual {residual:.3g})."
            )
        D = int(np.prod(dims))
        rho = x.reshape(D, D, order="F")
        rho = 0.5 * (rho + rho.conj().T)
        rho = qutip.Qobj(rho / np.trace(rho).real, dims=[dims, dims])
        base = {k: np.asarray(qutip.expect(op, rho)) for k, op in ops.items()}
        lead, times = (), None
        stats.update(solver="scipy splu", residual=residual)
    else:
        raise ValueError(f"`saveat` must be a tq.SaveAt or tq.SteadyState, got {saveat!r}.")
    top = [np.max(np.real(base[("top", k)])) for k in range(model.n_modes)]
    stats.update(_cutoff_stats(top, cutoffs))
    stats["wall_time"] = time.perf_counter() - t0
    mean = _assemble(model, base, observables, lead)
    dims_out = {o.name: dims_of(o, ("time",) if times is not None else ()) for o in observables}
    return Solution(method="exact", times=times, mean=mean, sem={}, stats=stats, dims=dims_out)
