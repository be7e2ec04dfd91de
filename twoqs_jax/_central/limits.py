"""Emergent limits of the central spin model (paper 004, Carollo, PRL 131, 227102).

For ``g = g0 / sqrt(N)`` (Theorem 1) the central spin plus the bath fluctuation
``a_N = S_- / sqrt(eps_bar N)`` (``S_- = sum_k s_k^-``) become, as ``N -> infinity``, an open
Jaynes-Cummings model (Eq. 9)::

    H = H_tau + g0 sqrt(eps_bar) (tau_- a^+ + tau_+ a),
    D = gamma_down D[tau_-] + gamma_up D[tau_+] + kappa_down D[a] + kappa_up D[a^+],

with ``eps_bar = (Gamma_down - Gamma_up)/(Gamma_down + Gamma_up) > 0`` (bath below inversion),
``kappa_down = Gamma_up + Gamma_down + Gamma_up / eps_bar``, ``kappa_up = Gamma_up / eps_bar``
and the boson starting thermal with ``<a^+ a> = Gamma_up / (eps_bar (Gamma_up + Gamma_down))``
(Proposition 1; the bath starts in its free steady state). Here ``H_tau = (omega/2 + w_z) tau_z
+ w_x tau_x`` (004 uses ``omega = 0``), the satellite splitting ``eps`` must be 0 (004's bath
has no Hamiltonian) and the central rates are ``kappa`` (= 004's gamma_down) and
``kappa_up`` (gamma_up). Quadrature ``q_N = (a_N + a_N^+)/sqrt 2 = sqrt(2/(eps_bar N)) J_x``.

For ``g = g0 / N`` (Theorem 2) the central spin sees the mean bath field:
``H_mf(t) = H_tau + g0 (m_-(t) tau_+ + m_+(t) tau_-)`` with ``m_-(t) = <s^->(t)`` of a free
satellite, ``m_-(t) = m_-(0) exp(-(i eps + Gamma_T / 2) t)``.
"""

import diffrax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike

from .._optional import require
from .._solution import Solution
from .model import CentralSpinModel


def emergent_jc_parameters(model: CentralSpinModel) -> dict:
    """Parameters of the emergent Jaynes-Cummings model (004 Eqs. 5-9) for ``g = g0/sqrt(N)``."""
    gu, gd = float(model.Gamma_up), float(model.Gamma_down)
    if not gd > gu:
        raise ValueError(
            f"the bosonic limit needs Gamma_down > Gamma_up (eps_bar > 0), got "
            f"Gamma_up = {gu!r}, Gamma_down = {gd!r}."
        )
    if float(model.eps) != 0:
        raise ValueError(
            f"paper 004's bath has no Hamiltonian: `eps` must be 0, got {float(model.eps)!r}."
        )
    eb = (gd - gu) / (gd + gu)
    g0 = float(model.g) * np.sqrt(model.N)
    out = {
        "eps_bar": eb,
        "g0": g0,
        "g_jc": g0 * np.sqrt(eb),
        "kappa_down": gu + gd + gu / eb,
        "kappa_up": gu / eb,
        "n_thermal": gu / (eb * (gu + gd)),
    }
    return {k: float(v) for k, v in out.items()}


def _quadrature_moments(q1, q2, q3, q4):
    mu = q1
    Q2 = q2 - mu**2
    Q4 = q4 - 4 * q3 * mu + 6 * q2 * mu**2 - 3 * mu**4
    return Q2, Q4


def central_quadrature(sol: Solution, model: CentralSpinModel) -> dict:
    """``<q_N>``, ``<Q_N^2>``, ``<Q_N^4>`` (``Q = q - <q>``) from the exact ``Jx`` moments."""
    eb = emergent_jc_parameters(model)["eps_bar"]
    c = np.sqrt(2 / (eb * model.N))
    q = [c**k * np.asarray(sol[f"Jx{k if k > 1 else ''}"]) for k in (1, 2, 3, 4)]
    Q2, Q4 = _quadrature_moments(*q)
    return {"q": q[0], "Q2": Q2, "Q4": Q4}


def solve_emergent_jc(
    model: CentralSpinModel,
    t: ArrayLike | None = None,
    *,
    rho_central: ArrayLike | None = None,
    n_max: int = 40,
    fock_threshold: float = 1e-8,
) -> Solution:
    """The open Jaynes-Cummings model of 004 Eq. 9 (QuTiP, Fock cut-off ``n_max``).

    Args:
        model: the finite-N central spin model whose ``g sqrt(N)`` defines ``g0``.
        t: ``(T,)`` times, or ``None`` for the stationary state.
        rho_central: ``(2, 2)`` initial central state (index 0 = up); default up. The boson
            starts thermal with ``n_thermal``.
        n_max: Fock cut-off; a RuntimeWarning names the top-level population if it exceeds
            ``fock_threshold``.

    Returns:
        :class:`Solution` (method ``"jc_limit"``) with ``sz0``, ``sp0``, ``n``, ``q``, ``Q2``,
        ``Q4`` (and ``Q4_gauss = 3 Q2^2``).
    """
    import warnings

    qt = require("qutip", "tq.central.solve_emergent_jc")
    p = emergent_jc_parameters(model)
    d = n_max + 1
    a = qt.tensor(qt.qeye(2), qt.destroy(d))
    tm = qt.tensor(qt.sigmam(), qt.qeye(d))
    H = (
        (float(model.omega) / 2 + float(model.w_z)) * qt.tensor(qt.sigmaz(), qt.qeye(d))
        + float(model.w_x) * qt.tensor(qt.sigmax(), qt.qeye(d))
        + p["g_jc"] * (tm * a.dag() + tm.dag() * a)
    )
    jumps = [
        (float(model.kappa), tm),
        (float(model.kappa_up), tm.dag()),
        (p["kappa_down"], a),
        (p["kappa_up"], a.dag()),
    ]
    c_ops = [np.sqrt(r) * op for r, op in jumps if r > 0]
    q = (a + a.dag()) / np.sqrt(2)
    ops = [
        qt.tensor(qt.sigmaz(), qt.qeye(d)),
        tm.dag(),
        a.dag() * a,
        q,
        q * q,
        q * q * q,
        q * q * q * q,
        qt.tensor(qt.qeye(2), qt.fock_dm(d, n_max)),
    ]
    if t is None:
        states = [qt.steadystate(H, c_ops, method="direct")]
    else:
        rc = qt.Qobj(np.asarray(rho_central if rho_central is not None else np.diag([1.0, 0.0])))
        rho0 = qt.tensor(rc, qt.thermal_dm(d, p["n_thermal"]))
        states = qt.mesolve(
            H, rho0, np.asarray(t), c_ops, options={"atol": 1e-11, "rtol": 1e-9}
        ).states
    vals = [np.array([qt.expect(o, s) for s in states]) for o in ops]
    if t is None:
        vals = [v[0] for v in vals]
    top = np.max(np.abs(vals[-1]))
    if top > fock_threshold:
        warnings.warn(
            f"Fock cut-off n_max = {n_max} may be too small: top-level population "
            f"{top:.3g} > {fock_threshold:g}.",
            RuntimeWarning,
            stacklevel=2,
        )
    Q2, Q4 = _quadrature_moments(*[np.real(v) for v in vals[3:7]])
    mean = {
        "sz0": np.real(vals[0]),
        "sp0": vals[1],
        "n": np.real(vals[2]),
        "q": np.real(vals[3]),
        "Q2": Q2,
        "Q4": Q4,
        "Q4_gauss": 3 * Q2**2,
        "p_top": np.real(vals[-1]),
    }
    times = None if t is None else np.asarray(t)
    return Solution("jc_limit", times, mean, {}, {**p, "n_max": n_max})


def solve_weak_coupling_limit(
    model: CentralSpinModel,
    t: ArrayLike,
    *,
    rho_central: ArrayLike,
    rho_sat: ArrayLike,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> Solution:
    """Central spin in the weak-coupling limit ``g = g0/N`` (paper 004, Theorem 2).

    ``H_mf(t) = H_tau + g0 (m_- tau_+ + h.c.)``.

    ``g0 = g N``; ``m_-(t) = <s^->_0 exp(-(i eps + Gamma_T/2) t)`` of the free satellites
    (initial single-satellite state ``rho_sat``, ``(2, 2)``). Integrated with Diffrax (Tsit5).

    Returns:
        :class:`Solution` (method ``"meanfield_theorem2"``) with ``sz0`` and ``sp0``.
    """
    g0 = float(model.g) * model.N
    gt = float(model.Gamma_up + model.Gamma_down)
    eps = float(model.eps)
    hz = float(model.omega) / 2 + float(model.w_z)
    rs = np.asarray(rho_sat, dtype=complex)
    m0 = complex(rs[0, 1])  # <s^-> = Tr(rho s^-) = rho[up, down] (s^- = |down><up|)
    sz = jnp.array([[1, 0], [0, -1]], dtype=complex)
    sx = jnp.array([[0, 1], [1, 0]], dtype=complex)
    sp = jnp.array([[0, 1], [0, 0]], dtype=complex)
    sm = sp.T
    rates = [(float(model.kappa), sm), (float(model.kappa_up), sp)]

    def f(t, x, args):
        rho = (x[:4] + 1j * x[4:]).reshape(2, 2)
        mm = m0 * jnp.exp(-(1j * eps + gt / 2) * t)
        H = hz * sz + float(model.w_x) * sx + g0 * (mm * sp + jnp.conj(mm) * sm)
        d = -1j * (H @ rho - rho @ H)
        for r, L in rates:
            LdL = L.conj().T @ L
            d = d + r * (L @ rho @ L.conj().T - 0.5 * (LdL @ rho + rho @ LdL))
        d = d.ravel()
        return jnp.concatenate([d.real, d.imag])

    rc = jnp.asarray(rho_central, dtype=complex).ravel()
    ts = jnp.asarray(t, dtype=float)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(f),
        diffrax.Tsit5(),
        ts[0],
        ts[-1],
        None,
        jnp.concatenate([rc.real, rc.imag]),
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=100_000,
    )
    rho = np.asarray(sol.ys[:, :4] + 1j * sol.ys[:, 4:]).reshape(-1, 2, 2)
    mean = {"sz0": (rho[:, 0, 0] - rho[:, 1, 1]).real, "sp0": rho[:, 1, 0]}
    return Solution("meanfield_theorem2", np.asarray(t), mean, {}, {"g0": float(g0)})
