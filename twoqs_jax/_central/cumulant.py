"""Mean field and cumulant expansions of the central spin / Tavis-Cummings models (Diffrax).

The closed equations come from :mod:`twoqs_jax._central.closure` (generated from the master
equation, any order). Here they are integrated with ``diffrax.diffeqsolve`` (Tsit5, adaptive,
float64 when x64 is on; complex moments are carried as ``(re, im)`` pairs) and their steady
states are found by ``optimistix.root_find`` (Newton), started from the end of a relaxation
run. Symmetry-broken closures (mean field, ``u1=False``) can have lasing solutions that rotate
at a frequency ``omega_L``: every moment of U(1) charge ``q`` goes as ``exp(i q omega_L t)``
(charge +1 for ``s+``/``a^+``). Their steady state is solved in the rotating frame, with
``omega_L`` an unknown and the phase fixed by ``Im <s0+> = 0`` (``Im <a> = 0``).

Conventions: hbar = 1, standard Lindblad rates, Pauli matrices (see
:mod:`twoqs_jax._central.model`).
"""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from .._checks import check_int
from .._solution import Solution
from .closure import charge, closed_equations, conj_key
from .model import CentralSpinModel, TavisCummingsModel

# Observable names (shared with the exact solver) -> moment keys.
_SPIN_NAMES = {
    "sz0": ("z", ()),
    "sp0": ("p", ()),
    "szn": ("I", ("z",)),
    "spn": ("I", ("p",)),
    "c_smn": ("p", ("m",)),
    "spn_smm": ("I", ("m", "p")),
    "szn_szm": ("I", ("z", "z")),
    "cz_szn": ("z", ("z",)),
    "cz_spn_smm": ("z", ("m", "p")),
    "c_smn_szm": ("p", ("m", "z")),
}
_CAVITY_NAMES = {
    "n": ((1, 1), ()),
    "a": ((0, 1), ()),
    "szn": ((0, 0), ("z",)),
    "spn": ((0, 0), ("p",)),
    "c_smn": ((1, 0), ("m",)),
    "spn_smm": ((0, 0), ("m", "p")),
    "szn_szm": ((0, 0), ("z", "z")),
    "cz_szn": ((1, 1), ("z",)),
    "cz_spn_smm": ((1, 1), ("m", "p")),
    "c_smn_szm": ((1, 0), ("m", "z")),
}


def _is_cavity(model):
    if isinstance(model, TavisCummingsModel):
        return True
    if isinstance(model, CentralSpinModel):
        return False
    raise ValueError(
        f"`model` must be a CentralSpinModel or TavisCummingsModel, got {type(model)}."
    )


def param_vector(model):
    """``(h_z, w_x, eps, g, gN, kappa, kappa_up, Gamma_down, Gamma_up, N)``: PARAMS and N."""
    h_z = model.omega if _is_cavity(model) else model.omega / 2 + model.w_z
    vals = [
        h_z,
        model.w_x,
        model.eps,
        model.g,
        model.g * model.N,
        model.kappa,
        model.kappa_up,
        model.Gamma_down,
        model.Gamma_up,
        float(model.N),
    ]
    return jnp.stack([jnp.asarray(v, dtype=jnp.result_type(float)) for v in vals])


class CumulantSystem(eqx.Module):
    """Closed moment equations as a JAX function ``dy/dt = f(y, params)`` on complex moments.

    Attributes:
        eq, coef, idx: the term tables of :class:`closure.ClosedEquations` as JAX arrays.
        charges: ``(n,)`` U(1) charge of every moment.
        n: number of moments (``y[0] = 1``).
    """

    eq: jax.Array
    coef: jax.Array
    idx: jax.Array
    charges: jax.Array
    n_sats: jax.Array
    conj: jax.Array
    re_idx: jax.Array
    im_idx: jax.Array
    n: int = eqx.field(static=True)

    def __init__(self, closed):
        self.eq = jnp.asarray(closed.eq)
        self.coef = jnp.asarray(closed.coef)
        self.idx = jnp.asarray(closed.idx)
        self.charges = jnp.asarray([charge(k) for k in closed.keys], dtype=float)
        self.n_sats = jnp.asarray([len(k[1]) for k in closed.keys], dtype=float)
        self.n = len(closed)
        conj = np.array([closed.index[conj_key(k)] for k in closed.keys])
        self.conj = jnp.asarray(conj)
        # Real parametrisation y[conj[i]] = conj(y[i]): real parts of representatives
        # (i <= conj[i], i > 0) and imaginary parts of those with a distinct partner.
        self.re_idx = jnp.asarray([i for i in range(1, self.n) if i <= conj[i]], dtype=int)
        self.im_idx = jnp.asarray([i for i in range(1, self.n) if i < conj[i]], dtype=int)

    def pack(self, y):
        """Real unknowns of a physical (conjugation-symmetric) moment vector."""
        return jnp.concatenate([y.real[self.re_idx], y.imag[self.im_idx]])

    def unpack(self, u):
        """Inverse of :meth:`pack` (``y[0] = 1``)."""
        nr = self.re_idx.size
        y = jnp.zeros(self.n, dtype=jax.lax.complex(u[:0], u[:0]).dtype).at[0].set(1.0)
        y = y.at[self.re_idx].set(u[:nr].astype(y.dtype))
        y = y.at[self.im_idx].add(jax.lax.complex(jnp.zeros_like(u[nr:]), u[nr:]))
        partner = self.conj[self.im_idx]
        return y.at[partner].set(jnp.conj(y[self.im_idx]))

    def pack_residual(self, r):
        """Residual components matching :meth:`pack`."""
        return jnp.concatenate([r.real[self.re_idx], r.imag[self.im_idx]])

    def rhs(self, y, params):
        """Complex time derivative of ``y`` (``y[0]`` is the unit moment, kept at 1).

        ``params[-1]`` is ``N``: moments on more than ``N`` distinct satellites do not exist;
        they enter the physical equations only with the factor ``N - k = 0`` but would form
        an unphysical (possibly growing) subsystem, so they are relaxed to zero instead.
        """
        alive = self.n_sats <= params[-1] + 0.5
        y_raw, y = y, jnp.where(alive, y, 0.0)
        c = self.coef @ params[:-1].astype(self.coef.dtype)
        terms = c * jnp.prod(y[self.idx], axis=1)
        dy = jax.ops.segment_sum(terms, self.eq, num_segments=self.n)
        # dead moments relax to 0 (keeps the Newton Jacobian regular).
        return jnp.where(alive, dy, -y_raw).at[0].set(0.0)


def _to_real(y):
    return jnp.concatenate([y.real, y.imag])


def _to_complex(x, n):
    return jax.lax.complex(x[:n], x[n:])


def initial_moments(closed, rho_central, rho_sat):
    """Moments of a product state ``rho_central (x) rho_sat^{(x) N}`` (numpy, complex ``(n,)``).

    ``rho_central``: ``(2, 2)`` spin density matrix (index 0 = up) or ``(d, d)`` Fock-space
    density matrix of the cavity; ``rho_sat``: ``(2, 2)`` satellite density matrix or its
    up-population ``p_up``.
    """
    rho_c = np.asarray(rho_central, dtype=complex)
    rho_s = np.asarray(rho_sat, dtype=complex)
    if rho_s.ndim == 0:
        rho_s = np.diag([rho_s, 1 - rho_s])
    sat = {"z": np.trace(rho_s @ np.diag([1.0, -1.0])), "p": rho_s[1, 0], "m": rho_s[0, 1]}
    y = np.zeros(len(closed), dtype=complex)
    for i, (c, sats) in enumerate(closed.keys):
        if isinstance(c, tuple):
            d = rho_c.shape[0]
            a = np.diag(np.sqrt(np.arange(1, d)), 1)
            op = np.linalg.matrix_power(a.T, c[0]) @ np.linalg.matrix_power(a, c[1])
            val = np.trace(rho_c @ op)
        else:
            ops = {
                "I": np.eye(2),
                "z": np.diag([1.0, -1.0]),
                "p": np.array([[0, 1], [0, 0]]),
                "m": np.array([[0, 0], [1, 0]]),
            }
            val = np.trace(rho_c @ ops[c])
        for s in sats:
            val = val * sat[s]
        y[i] = val
    return y


def _observables(closed, Y, cavity):
    names = _CAVITY_NAMES if cavity else _SPIN_NAMES
    out = {}
    for name, key in names.items():
        v = closed.evaluate(key, Y)
        v = np.asarray(v)
        if name in ("sz0", "szn", "szn_szm", "cz_szn", "n", "cz_spn_smm", "spn_smm"):
            v = v.real
        out[name] = v
    if not cavity:
        out["p0"] = (1 + out["sz0"]) / 2
    return out


def _system(model, order, u1):
    cavity = _is_cavity(model)
    order = check_int("order", order, minimum=1)
    if u1 is None:
        u1 = order % 2 == 0 and model.u1_symmetric
    if u1 and not model.u1_symmetric:
        raise ValueError(f"`u1=True` needs w_x = 0, got w_x = {model.w_x!r}.")
    if order == 1 and u1:
        raise ValueError(
            "mean field (order=1) with u1=True is trivial (all coherences vanish); use u1=False."
        )
    closed = closed_equations(order, bool(u1), cavity)
    return closed, CumulantSystem(closed), cavity, bool(u1)


def _method(order, u1):
    return "meanfield" if order == 1 else f"cumulant{order}" + ("" if u1 else "_sb")


@eqx.filter_jit
def _relax(system, params, y0, t_relax, g_idx, rtol, atol, max_steps, solver, tol=1e-9):
    """Integrate until the rotating-frame residual is below ``tol`` (or ``t_relax``).

    The residual is measured in the frame rotating at ``omega_L = Im(d<s0+>/dt / <s0+>)`` and
    relative to the largest parameter (``g N`` or ``kappa`` at large N).
    """
    n = system.n

    def f(t, x, args):
        return _to_real(system.rhs(_to_complex(x, n), args))

    def cond(t, x, args, **kwargs):
        y = _to_complex(x, n)
        r = system.rhs(y, args)
        if g_idx is None:
            wl = 0.0
        else:
            yg = y[g_idx]
            wl = jnp.where(jnp.abs(yg) > 1e-8, jnp.imag(r[g_idx] / jnp.where(yg == 0, 1, yg)), 0.0)
        # relative to the fastest rate: the residual of a converged state scales with it.
        scale = jnp.max(jnp.abs(args[:-1]))
        rot = jax.lax.complex(jnp.zeros_like(system.charges), wl * system.charges)  # i wl q
        return jnp.max(jnp.abs(r - rot * y)) < tol * scale

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(f),
        solver,
        t0=0.0,
        t1=t_relax,
        dt0=None,
        y0=_to_real(y0),
        args=params,
        saveat=diffrax.SaveAt(t1=True),
        event=diffrax.Event(cond),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    return _to_complex(sol.ys[-1], n), sol.ts[-1]


@eqx.filter_jit
def _integrate(system, params, y0, ts, rtol, atol, max_steps, solver):
    n = system.n

    def f(t, x, args):
        return _to_real(system.rhs(_to_complex(x, n), args))

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(f),
        solver,
        t0=ts[0],
        t1=ts[-1],
        dt0=None,
        y0=_to_real(y0),
        args=params,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    return jax.vmap(lambda x: _to_complex(x, n))(sol.ys)


def _default_initial(model, closed, cavity):
    # Central ground state; satellites in their free steady state, with a small coherence so
    # that symmetry-broken closures can leave the unstable symmetric point.
    p_up = (
        model.Gamma_up / (model.Gamma_up + model.Gamma_down)
        if (float(model.Gamma_up) + float(model.Gamma_down)) > 0
        else 0.0
    )
    p_up = float(p_up)
    seed = 0.0 if closed.u1 else 0.05 * np.sqrt(max(p_up * (1 - p_up), 1e-4))
    rho_s = np.array([[p_up, seed], [seed, 1 - p_up]])
    rho_c = np.diag([1.0] + [0.0] * 3) if cavity else np.diag([0.0, 1.0])
    if cavity and not closed.u1:
        rho_c = np.zeros((4, 4), complex)
        rho_c[0, 0], rho_c[0, 1], rho_c[1, 0], rho_c[1, 1] = 0.99, 0.05, 0.05, 0.01
    return initial_moments(closed, rho_c, rho_s)


def solve_central_cumulant(
    model,
    order: int = 2,
    t=None,
    *,
    u1=None,
    initial=None,
    t_relax: float = 2000.0,
    rtol: float = 1e-9,
    atol: float = 1e-11,
    max_steps: int = 1_000_000,
    root_tol: float = 1e-11,
    solver=None,
    throw: bool = True,
) -> Solution:
    """Mean field (``order=1``) or cumulant expansion of order ``M`` (paper 002 Secs. III, V).

    Args:
        model: :class:`CentralSpinModel` or :class:`TavisCummingsModel`.
        order: closure order ``M``; moments of more than ``M`` operators are factorised by
            setting their joint cumulant to zero.
        t: ``(T,)`` saving times for dynamics, or ``None`` for the steady state.
        u1: drop U(1)-breaking moments (paper 002 Eqs. 10-11, App. A). Default: True for even
            orders when ``w_x = 0``, False for odd orders (mean field needs symmetry breaking;
            third order with ``u1=False`` is paper 002 App. C).
        initial: ``(rho_central, rho_sat)`` product state (see :func:`initial_moments`);
            default: central ground state, satellites at their free steady state with a small
            coherence seed for symmetry-broken closures.
        t_relax: longest relaxation before the Newton polish of the steady state (the run
            stops earlier once the rotating-frame residual is below 1e-9).
        rtol, atol: Diffrax PID tolerances. root_tol: Newton tolerance.
        solver: a Diffrax ODE solver (default Tsit5).
        throw: raise if the Newton polish fails (else return the relaxed state, stats say).

    Returns:
        :class:`Solution` (method ``"meanfield"``, ``"cumulantM"`` or ``"cumulantM_sb"``) with
        the observable names of :func:`solve_central_exact` and, for a steady state,
        ``stats["omega_L"]`` (rotating-frame frequency of a lasing solution).
    """
    closed, system, cavity, u1 = _system(model, order, u1)
    params = param_vector(model)
    y0 = (
        initial_moments(closed, *initial)
        if initial is not None
        else _default_initial(model, closed, cavity)
    )
    y0 = jnp.asarray(y0)
    if t is not None:
        ts = jnp.asarray(t, dtype=float)
        Y = np.asarray(
            _integrate(system, params, y0, ts, rtol, atol, max_steps, _pick_solver(solver, model))
        )
        return Solution(
            _method(order, u1),
            np.asarray(t),
            _observables(closed, Y, cavity),
            {},
            {"n_moments": system.n, "order": order, "u1": u1},
        )
    y, stats = _steady(
        system,
        closed,
        params,
        y0,
        cavity,
        t_relax,
        rtol,
        atol,
        max_steps,
        root_tol,
        throw,
        _pick_solver(solver, model),
    )
    stats.update(n_moments=system.n, order=order, u1=u1)
    return Solution(
        _method(order, u1), None, _observables(closed, np.asarray(y), cavity), {}, stats
    )


def _pick_solver(solver, model):
    """Tsit5 unless the user passes a solver (Kvaerno5 helps for very stiff rates)."""
    del model
    return diffrax.Tsit5() if solver is None else solver


def _steady(
    system, closed, params, y0, cavity, t_relax, rtol, atol, max_steps, root_tol, throw, solver
):
    gauge_key = ((1, 0), ()) if cavity else ("p", ())  # charge +1
    g_idx = closed.index.get(gauge_key)
    y_relax, t_end = _relax(
        system, params, y0, float(t_relax), g_idx, rtol, atol, max_steps, solver
    )
    alive = np.asarray(system.n_sats) <= float(params[-1]) + 0.5
    y_relax = jnp.where(alive, y_relax, 0.0)
    lasing = (g_idx is not None) and float(jnp.abs(y_relax[g_idx])) > 1e-6
    if lasing:
        phase = jnp.angle(y_relax[g_idx])
        y_start = y_relax * jnp.exp(
            jax.lax.complex(jnp.zeros_like(system.charges), -system.charges * phase)
        )
        # d<s0+>/dt = i omega_L <s0+> on the limit cycle (charge +1).
        wl0 = jnp.imag(system.rhs(y_start, params)[g_idx] / y_start[g_idx])
        y, wl, ok = _newton_rotating(system, params, y_start, wl0, g_idx, root_tol)
        ref = y_start
    else:
        y, ok = _newton(system, params, y_relax, root_tol)
        wl = jnp.asarray(0.0)
        ref = y_relax
    wl = float(wl)
    resid = float(jnp.max(jnp.abs(system.rhs(y, params) - 1j * wl * system.charges * y)))
    drift = float(jnp.max(jnp.abs(y - ref)))
    if not bool(ok) or resid > 1e-6:
        if throw:
            raise RuntimeError(
                f"steady-state root find failed (residual {resid:.2e}); "
                f"pass throw=False to get the relaxed state."
            )
        y = y_relax
    return y, {
        "t_relaxed": float(t_end),
        "omega_L": wl,
        "residual": resid,
        "newton_vs_relaxed": drift,
        "lasing": bool(lasing),
        "root_found": bool(ok),
    }


@eqx.filter_jit
def _newton(system, params, y_start, tol):
    def fn(u, args):
        return system.pack_residual(system.rhs(system.unpack(u), args))

    sol = optx.root_find(
        fn,
        optx.Newton(rtol=tol, atol=tol),
        system.pack(y_start),
        args=params,
        max_steps=100,
        throw=False,
    )
    return system.unpack(sol.value), sol.result == optx.RESULTS.successful


@eqx.filter_jit
def _newton_rotating(system, params, y_start, wl0, g_idx, tol):
    """Steady state in the frame rotating at the unknown ``omega_L``, gauge ``Im y[g_idx] = 0``."""

    def fn(z, args):
        y = system.unpack(z[:-1])
        r = system.rhs(y, args) - 1j * z[-1] * system.charges * y
        return jnp.concatenate([system.pack_residual(r), y[g_idx].imag[None]])

    z0 = jnp.concatenate([system.pack(y_start), jnp.asarray(wl0)[None]])
    sol = optx.root_find(
        fn, optx.Newton(rtol=tol, atol=tol), z0, args=params, max_steps=100, throw=False
    )
    return system.unpack(sol.value[:-1]), sol.value[-1], sol.result == optx.RESULTS.successful
