"""Exact master-equation references built from a :class:`SpinModel` with QuTiP.

Independent of the phase-space code: the Hamiltonian and jumps are assembled from the
model arrays with ``qutip.jmat`` (basis ``m = S .. -S``), the master equation is the standard
Lindblad form with ``c_ops = sqrt(rate) L``, and observables carry the shared names of
``twoqs_jax._solution``.
"""

import numpy as np
import qutip

AX = "xyz"


def _site_ops(spins):
    dims = [int(round(2 * s)) + 1 for s in spins]
    ops = []
    for i, s in enumerate(spins):
        row = []
        for a in AX:
            parts = [qutip.qeye(d) for d in dims]
            parts[i] = qutip.jmat(float(s), a)
            row.append(qutip.tensor(*parts) if len(parts) > 1 else parts[0])
        ops.append(row)
    return ops


def build(model):
    """``(H, c_ops, site_ops)`` of a (single, unbatched) model."""
    spins = np.asarray(model.spin, float)
    S = _site_ops(spins)
    f = np.asarray(model.field, float)
    H = 0 * S[0][0]
    for i in range(len(spins)):
        for a in range(3):
            if f[i, a]:
                H += f[i, a] * S[i][a]
    J = np.asarray(model.coupling, float)
    for e, (i, j) in enumerate(np.asarray(model.edges)):
        for a in range(3):
            for b in range(3):
                if J[e, a, b]:
                    if i == j:
                        H += J[e, a, b] * 0.5 * (S[i][a] * S[j][b] + S[j][b] * S[i][a])
                    else:
                        H += J[e, a, b] * S[i][a] * S[j][b]
    c_ops = []
    for i in range(len(spins)):
        sp = S[i][0] + 1j * S[i][1]
        for rate, L in (
            (model.decay[i], sp.dag()),
            (model.gain[i], sp),
            (model.dephasing[i], S[i][2]),
        ):
            if float(rate) > 0:
                c_ops.append(np.sqrt(float(rate)) * L)
    return H, c_ops, S


def coherent(spins, theta, phi):
    """Product of spin coherent states ``exp(-i phi S_z) exp(-i theta S_y) |S, S>``."""
    kets = []
    for s, th, ph in zip(np.asarray(spins), np.asarray(theta), np.asarray(phi)):
        d = int(round(2 * s)) + 1
        up = qutip.basis(d, 0)
        U = (-1j * float(ph) * qutip.jmat(float(s), "z")).expm() * (
            -1j * float(th) * qutip.jmat(float(s), "y")
        ).expm()
        kets.append(U * up)
    return qutip.tensor(*kets) if len(kets) > 1 else kets[0]


def observables(rho, S, spin0):
    """Shared-name observables of one density matrix."""
    n = len(S)

    def ev(op):
        return complex(qutip.expect(op, rho))

    out = {}
    for a in AX:
        out[f"S{a}"] = np.array([ev(S[i]["xyz".index(a)]).real for i in range(n)])
        out[f"S{a}2"] = np.array([ev(S[i]["xyz".index(a)] ** 2).real for i in range(n)])
        out[f"var{a}"] = out[f"S{a}2"] - out[f"S{a}"] ** 2
    for a, b in ("xy", "xz", "yz"):
        ia, ib = "xyz".index(a), "xyz".index(b)
        out[f"S{a}S{b}"] = np.array(
            [ev(0.5 * (S[i][ia] * S[i][ib] + S[i][ib] * S[i][ia])).real for i in range(n)]
        )
    sp = [S[i][0] + 1j * S[i][1] for i in range(n)]
    out["SpSm"] = np.array([[ev(sp[i] * sp[j].dag()) for j in range(n)] for i in range(n)])
    out["SzSz"] = np.array([[ev(S[i][2] * S[j][2]).real for j in range(n)] for i in range(n)])
    vxx, vyy = out["varx"][0], out["vary"][0]
    cxy = out["SxSy"][0] - out["Sx"][0] * out["Sy"][0]
    lam = 0.5 * (vxx + vyy) - np.sqrt(0.25 * (vxx - vyy) ** 2 + cxy**2)
    out["xi2"] = np.array(2 * spin0 * lam / out["Sz"][0] ** 2)
    return out


def _pure_dephasing(model):
    return (
        model.n_sites == 1
        and not np.any(np.asarray(model.field))
        and model.n_edges == 0
        and not np.any(np.asarray(model.decay))
        and not np.any(np.asarray(model.gain))
    )


def solve(model, state, times):
    """Exact observables at ``times``: dict name -> array ``(T, ...)``.

    Pure collective dephasing is solved in closed form (the master equation is stiff for
    large S): ``rho_{mm'}(t) = rho_{mm'}(0) exp(-kappa (m - m')^2 t / 2)``.
    """
    H, c_ops, S = build(model)
    psi0 = coherent(model.spin, state.theta, state.phi)
    if _pure_dephasing(model):
        rho0 = (psi0 * psi0.dag()).full()
        d = rho0.shape[0]
        m = float(model.spin[0]) - np.arange(d)
        kappa = float(model.dephasing[0])
        out = []
        for t in np.asarray(times, float):
            rho = rho0 * np.exp(-kappa * (m[:, None] - m[None, :]) ** 2 * t / 2)
            out.append(observables(qutip.Qobj(rho), S, float(model.spin[0])))
        return {k: np.stack([p[k] for p in out]) for k in out[0]}
    res = qutip.mesolve(
        H,
        psi0,
        np.asarray(times, float),
        c_ops,
        options={"store_states": True, "nsteps": 100_000},
    )
    per_t = [observables(r, S, float(model.spin[0])) for r in res.states]
    return {k: np.stack([p[k] for p in per_t]) for k in per_t[0]}


def steady(model):
    """Exact steady-state observables (no time axis)."""
    H, c_ops, S = build(model)
    rho = qutip.steadystate(H, c_ops)
    return observables(rho, S, float(model.spin[0]))
