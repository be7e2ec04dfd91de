"""Central spin / Tavis-Cummings: model validation, exact permutation-invariant solver against
the full Hilbert space, closed (cumulant) equations against exact results and paper 002.
"""

import jax.numpy as jnp
import numpy as np
import pytest
import qutip as qt

# the cumulant closure engine and the PIQS-like local rates have no public names: checked
# directly, below the public tq.solve(..., tq.Cumulants(order=...)) that wraps them
from twoqs_jax._central.closure import closed_equations, conj_key
from twoqs_jax._central.cumulant import CumulantSystem, param_vector, solve_central_cumulant
from twoqs_jax._central.exact import _local_rates
from twoqs_jax.central import (
    CentralSpinModel,
    ExactCentral,
    TavisCummingsModel,
    emergent_jc_parameters,
    meanfield_analytic,
    quadrature,
    solve_emergent_jc,
    solve_exact,
    solve_weak_coupling_limit,
)


# ----------------------------------------------------------------------------- references
# Full-Hilbert-space reference: the 2^(N+1) (or (n_max+1) 2^N) master equation with plain QuTiP
# tensor products, independent of the permutation-invariant solver under test.
def full_ops(model, n_max=None):
    N = model.N
    spin = isinstance(model, CentralSpinModel)
    dc = 2 if spin else n_max + 1

    # qutip: basis(2, 0) is up for sigmaz(); sigmap() = |0><1| = |up><down|.
    def site(op, k):
        ops = [qt.qeye(dc)] + [qt.qeye(2)] * N
        ops[k] = op
        return qt.tensor(ops)

    if spin:
        c_low = site(qt.sigmam(), 0)
        cz = site(qt.sigmaz(), 0)
        H = (model.omega / 2 + model.w_z) * cz + model.w_x * site(qt.sigmax(), 0)
    else:
        c_low = site(qt.destroy(dc), 0)
        cz = c_low.dag() * c_low
        H = model.omega * cz + model.w_x * (c_low + c_low.dag())
    sm = [site(qt.sigmam(), k) for k in range(1, N + 1)]
    sz = [site(qt.sigmaz(), k) for k in range(1, N + 1)]
    for k in range(N):
        H += model.eps / 2 * sz[k] + model.g * (c_low.dag() * sm[k] + c_low * sm[k].dag())
    c_ops = []
    for rate, op in [(model.kappa, c_low), (model.kappa_up, c_low.dag())]:
        if rate:
            c_ops.append(np.sqrt(rate) * op)
    for k in range(N):
        if model.Gamma_down:
            c_ops.append(np.sqrt(model.Gamma_down) * sm[k])
        if model.Gamma_up:
            c_ops.append(np.sqrt(model.Gamma_up) * sm[k].dag())
    return H, c_ops, dict(c_low=c_low, cz=cz, sm=sm, sz=sz, dc=dc)


def full_observables(model, states, ops):
    """Same names as the exact solver, computed from the full density matrices."""
    N = model.N
    spin = isinstance(model, CentralSpinModel)
    cp = ops["c_low"].dag()
    sm, sz, cz = ops["sm"], ops["sz"], ops["cz"]
    exprs = {"szn": sz[0], "spn": sm[0].dag(), "c_smn": cp * sm[0], "cz_szn": cz * sz[0]}
    if spin:
        exprs["sz0"] = cz
        exprs["sp0"] = cp
    else:
        exprs["n"] = cz
        exprs["a"] = ops["c_low"]
    if N >= 2:
        exprs.update(
            spn_smm=sm[0].dag() * sm[1],
            szn_szm=sz[0] * sz[1],
            cz_spn_smm=cz * sm[0].dag() * sm[1],
            c_smn_szm=cp * sm[0] * sz[1],
        )
    Jx = sum((s + s.dag()) / 2 for s in sm)
    exprs.update(Jx=Jx, Jx2=Jx * Jx, Jx3=Jx * Jx * Jx, Jx4=Jx * Jx * Jx * Jx)
    out = {k: np.array([qt.expect(v, r) for r in states]) for k, v in exprs.items()}
    return out


# Paper 002 cumulant equations exactly as printed (Eqs. 3, 4, 10, 11 and App. A, A1-A9), to
# check every printed coefficient against the equations derived from the master equation.
def paper_c2(v, N, w, e, g, k, Gu, Gd):  # noqa: D103
    """002 Eqs 3, 4, 10, 11 as printed. v: dict of moments."""
    GT, GD = Gu + Gd, Gu - Gd
    z0, zn, x, spm = v["z0"], v["zn"], v["x"], v["spm"]
    return {
        "z0": -k * (z0 + 1) + 4 * g * N * np.imag(x),
        "zn": -GT * zn + GD - 4 * g * np.imag(x),
        "x": (1j * (w - e) - (k + GT) / 2) * x
        + 1j * g / 2 * zn
        - 1j * g / 2 * z0
        - 1j * g * (N - 1) * z0 * spm,
        "spm": -GT * spm + 2 * g * np.imag(x) * zn,
    }


def paper_c3(v, N, w, e, g, k, Gu, Gd):  # noqa: D103
    """002 App. A, Eqs A1-A9 as printed."""
    GT, GD = Gu + Gd, Gu - Gd
    z0, zn, x, spm = v["z0"], v["zn"], v["x"], v["spm"]
    zspm, xz, nzpm, zz, z0zn = v["zspm"], v["xz"], v["nzpm"], v["zz"], v["z0zn"]
    Im = np.imag
    return {
        "z0": -k * (z0 + 1) + 4 * g * N * Im(x),
        "zn": -GT * zn + GD - 4 * g * Im(x),
        "x": (1j * (w - e) - (k + GT) / 2) * x
        + 1j * g / 2 * zn
        - 1j * g / 2 * z0
        - 1j * g * (N - 1) * zspm,
        "spm": -GT * spm + 2 * g * Im(xz),
        "zspm": -(k + GT) * zspm - k * spm + 2 * g * Im(x) + 8 * g * (N - 2) * Im(x * spm),
        "xz": (1j * (w - e) - (k + 3 * GT) / 2) * xz
        + GD * x
        - 1j * g * spm
        + 1j * g / 2 * zz
        - 1j * g / 2 * z0zn
        - 1j * g * (N - 2) * (zspm * zn + z0 * nzpm + z0zn * spm - 2 * z0 * zn * spm),
        "nzpm": -2 * GT * nzpm
        + GD * spm
        - 8 * g * Im(x * spm)
        + 2 * g * (Im(x) * zz - 2 * Im(x) * zn**2 + 2 * Im(xz) * zn),
        "zz": -2 * GT * zz + 2 * GD * zn - 8 * g * Im(xz),
        "z0zn": -(k + GT) * z0zn - k * zn + GD * z0 + 4 * g * (N - 1) * Im(xz),
    }


KEYS = {
    "z0": ("z", ()),
    "zn": ("I", ("z",)),
    "x": ("p", ("m",)),
    "spm": ("I", ("m", "p")),
    "zspm": ("z", ("m", "p")),
    "xz": ("p", ("m", "z")),
    "nzpm": ("I", ("m", "p", "z")),
    "zz": ("I", ("z", "z")),
    "z0zn": ("z", ("z",)),
}


# Generic off-resonant parameters with a central pump, so that no term is accidentally zero.
PARAMS = dict(omega=1.0, eps=0.7, g=0.9, kappa=1.3, kappa_up=0.2, Gamma_up=0.6, Gamma_down=0.4)
OBS = (
    "sz0",
    "szn",
    "sp0",
    "spn",
    "c_smn",
    "cz_szn",
    "spn_smm",
    "szn_szm",
    "cz_spn_smm",
    "c_smn_szm",
    "Jx",
    "Jx2",
    "Jx3",
    "Jx4",
)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("N", [0, -3, 2.5, True])
def test_bad_N(N):
    with pytest.raises(ValueError, match="N"):
        CentralSpinModel(N, **PARAMS)


@pytest.mark.parametrize("name", ["kappa", "kappa_up", "Gamma_up", "Gamma_down"])
def test_negative_rate(name):
    with pytest.raises(ValueError, match=rf"`{name}`.*-0.5"):
        CentralSpinModel(3, **{**PARAMS, name: -0.5})
    with pytest.raises(ValueError, match=rf"`{name}`.*-0.5"):
        TavisCummingsModel(3, **{**PARAMS, name: -0.5})


def test_refuses_large_problem_before_allocating():
    m = CentralSpinModel(400, **PARAMS).replace(w_x=0.3)  # all sectors: ~4 * 400^3/6 unknowns
    with pytest.raises(ValueError, match="too large.*N = 400"):
        ExactCentral(m, max_memory=2**30)


def test_fock_cutoff_warning():
    m = TavisCummingsModel(2, **PARAMS)
    with pytest.warns(RuntimeWarning, match=r"n_max = 2 .*top level"):
        solve_exact(m, n_max=2)


# ----------------------------------------------------------------------------- exact solver
def _compare(sol, ref, names, tol, idx=None):
    for k in names:
        got = np.asarray(sol[k])
        want = ref[k][0] if idx == 0 else ref[k]
        np.testing.assert_allclose(got, want, atol=tol, rtol=0, err_msg=k)


@pytest.mark.parametrize("N", [1, 2, 3, 4])
def test_exact_steady_state_vs_full_hilbert(N):
    m = CentralSpinModel(N, **PARAMS)
    sol = solve_exact(m)
    assert sol.stats["sector"] == 0
    H, c_ops, ops = full_ops(m)
    ref = full_observables(m, [qt.steadystate(H, c_ops, method="direct")], ops)
    names = [k for k in OBS if k in ref]
    _compare(sol, ref, names, 1e-8, idx=0)
    assert abs(sol["trace"] - 1) < 1e-12


@pytest.mark.parametrize("N", [2, 3])
def test_exact_dynamics_all_sectors_vs_full_hilbert(N):
    # w_x breaks U(1): every sector K is kept; initial central coherence and satellite p_up.
    m = CentralSpinModel(N, **PARAMS, w_x=0.5, w_z=0.3)
    t = np.linspace(0.0, 2.0, 5)
    rho_c = np.array([[0.7, 0.3 - 0.2j], [0.3 + 0.2j, 0.3]])
    sol = solve_exact(m, t, initial=(rho_c, 0.3))
    assert sol.stats["sector"] is None
    H, c_ops, ops = full_ops(m)
    rho0 = qt.tensor([qt.Qobj(rho_c)] + [qt.Qobj(np.diag([0.3, 0.7]))] * N)
    res = qt.mesolve(H, rho0, t, c_ops, options={"atol": 1e-12, "rtol": 1e-11})
    ref = full_observables(m, res.states, ops)
    _compare(sol, ref, [k for k in OBS if k in ref], 1e-8)


def test_exact_tavis_cummings_vs_full_hilbert():
    m = TavisCummingsModel(2, **{**PARAMS, "g": 0.5})
    sol = solve_exact(m, n_max=10)
    H, c_ops, ops = full_ops(m, n_max=10)
    ref = full_observables(m, [qt.steadystate(H, c_ops, method="direct")], ops)
    _compare(sol, ref, ["n", "a", "szn", "c_smn", "cz_szn", "spn_smm", "cz_spn_smm"], 1e-8, idx=0)


def test_local_rates_match_piqs():
    # Our float64 copy of piqs' Dicke-ladder coefficients; piqs computes in C float (1e-7).
    from qutip.piqs._piqs import Dicke

    N = 5
    d = Dicke(N, emission=1.0, pumping=0.5)
    for j, m, m1 in [(2.5, 1.5, 0.5), (1.5, -0.5, -0.5), (0.5, 0.5, -0.5), (2.5, -2.5, 2.5)]:
        c = _local_rates(np.array(j), np.array(m), np.array(m1), N, 1.0, 0.5)
        assert abs(c[(0, 0)] - d.gamma1((j, m, m1)).real) < 1e-6
        for (dj, dm), gk in [
            ((0, 1), d.gamma2),
            ((1, 1), d.gamma3),
            ((-1, 1), d.gamma4),
            ((1, -1), d.gamma7),
            ((0, -1), d.gamma8),
            ((-1, -1), d.gamma9),
        ]:
            src = (j + dj, m + dm, m1 + dm)
            if abs(src[1]) <= src[0] and abs(src[2]) <= src[0] and src[0] >= 0:
                assert abs(c[(dj, dm)] - gk(src).real) < 1e-6, (j, m, m1, dj, dm)


# ----------------------------------------------------------------------------- closed equations
def _physical_random_state(closed, rng):
    y = np.zeros(len(closed), complex)
    y[0] = 1
    for i, k in enumerate(closed.keys[1:], 1):
        j = closed.index[conj_key(k)]
        if j >= i:
            v = rng.normal() + (1j * rng.normal() if j != i else 0)
            y[i], y[j] = v, np.conj(v)
    return y


@pytest.mark.parametrize("order,printed", [(2, paper_c2), (3, paper_c3)])
def test_printed_equations_of_paper_002(order, printed):
    # Every printed coefficient (Eqs. 3, 4, 10, 11, A1-A9) against the derived equations at a
    # random state, off resonance (omega != eps) so that the i(omega - eps) terms count.
    N, w, e, g, k, gu, gd = 7, 1.3, 0.8, 0.9, 1.7, 0.6, 0.45
    m = CentralSpinModel(N, omega=w, eps=e, g=g, kappa=k, Gamma_up=gu, Gamma_down=gd)
    closed = closed_equations(order, True)
    system = CumulantSystem(closed)
    y = _physical_random_state(closed, np.random.default_rng(order))
    r = np.asarray(system.rhs(jnp.asarray(y), param_vector(m)))
    v = {name: y[closed.index[key]] for name, key in KEYS.items() if key in closed.index}
    for name, value in printed(v, N, w, e, g, k, gu, gd).items():
        assert abs(value - r[closed.index[KEYS[name]]]) < 1e-10, name


@pytest.mark.parametrize("order", [2, 3])
def test_cumulant_order_exact_for_small_N(order):
    # Order M keeps correlations of up to M sites: exact when N + 1 <= M sites, not beyond.
    for N in range(1, order + 1):
        m = CentralSpinModel(N, **PARAMS)
        ex = solve_exact(m)
        cu = solve_central_cumulant(m, order, u1=True)
        err = max(abs(cu["sz0"] - ex["sz0"]), abs(cu["c_smn"] - ex["c_smn"]))
        if N <= order - 1:
            assert err < 1e-9, (order, N, err)
        else:
            assert err > 1e-3, (order, N, err)


def test_third_order_dynamics_exact_at_N2():
    m = CentralSpinModel(2, **PARAMS)
    t = np.linspace(0, 3, 7)
    rho_c = np.diag([1.0, 0.0])
    ex = solve_exact(m, t, initial=(rho_c, 0.2))
    cu = solve_central_cumulant(m, 3, t, u1=True, initial=(rho_c, 0.2))
    for k in ("sz0", "szn", "c_smn", "spn_smm", "cz_spn_smm", "c_smn_szm"):
        np.testing.assert_allclose(cu[k], ex[k], atol=1e-7, err_msg=k)


@pytest.mark.parametrize("N", [10, 50, 10_000])
def test_meanfield_ode_steady_state_matches_analytic(N):
    # Paper 002 Eqs. 7-9 at fixed kappa/N = 1/16, g = 3/4 (Fig. 3(b)), above threshold.
    m = CentralSpinModel(N, omega=1.0, eps=1.0, g=0.75, kappa=N / 16, Gamma_up=1.5, Gamma_down=0.5)
    ana = meanfield_analytic(m)
    ode = solve_central_cumulant(m, 1)
    assert ode.stats["lasing"] and ana["lasing"]
    assert abs(ode["sz0"] - ana["sz0"]) < 1e-9
    assert abs(ode["szn"] - ana["szn"]) < 1e-9
    assert abs(abs(ode["sp0"]) ** 2 - ana["abs_sp0_sq"]) < 1e-9
    # Eq. 8: <sn+> = i kappa <s0+> / (2 g N <s0z>)
    assert abs(ode["spn"] - 1j * m.kappa * ode["sp0"] / (2 * m.g * N * ode["sz0"])) < 1e-9


def test_meanfield_below_threshold_is_ground_state():
    m = CentralSpinModel(
        20, omega=1.0, eps=1.0, g=0.75, kappa=20 / 16, Gamma_up=0.9, Gamma_down=1.1
    )
    ana = meanfield_analytic(m)
    ode = solve_central_cumulant(m, 1)
    assert not ana["lasing"]
    assert abs(ode["sz0"] + 1) < 1e-9 and abs(ana["sz0"] + 1) < 1e-12


# ----------------------------------------------------------------------------- paper 004 limits
def _model_004(N, scaling="sqrt"):
    # 004 Fig. 2: gamma_up = 0.8, gamma_down = 0.1, Gamma_up = 0.2, Gamma_down = 1,
    # w_x = 2 w_z = 1, g0 = 4; g = g0/sqrt(N) (Theorem 1) or g0/N (Theorem 2).
    g = 4 / np.sqrt(N) if scaling == "sqrt" else 4 / N
    return CentralSpinModel(
        N,
        omega=0.0,
        eps=0.0,
        g=g,
        kappa=0.1,
        kappa_up=0.8,
        Gamma_up=0.2,
        Gamma_down=1.0,
        w_x=1.0,
        w_z=0.5,
    )


def test_jaynes_cummings_limit_error_falls_like_one_over_N():
    t = np.linspace(0, 4, 21)
    jc = solve_emergent_jc(_model_004(8), t, n_max=25)
    Ns = np.array([4, 8, 16])
    err_z, err_q = [], []
    for N in Ns:
        m = _model_004(N)
        ex = solve_exact(m, t, initial=(np.diag([1.0, 0.0]), 0.2 / 1.2))
        q = quadrature(ex, m)
        err_z.append(np.max(np.abs(ex["sz0"] - jc["sz0"])))
        err_q.append(np.max(np.abs(q["q"] - jc["q"])))
    for err in (err_z, err_q):
        slope = np.polyfit(np.log(Ns), np.log(err), 1)[0]
        assert abs(slope + 1) < 0.2, slope


def test_jaynes_cummings_parameters_and_non_gaussian_stationary_state():
    p = emergent_jc_parameters(_model_004(10))
    eb = (1.0 - 0.2) / 1.2
    assert abs(p["kappa_down"] - (1.2 + 0.2 / eb)) < 1e-14
    assert abs(p["kappa_up"] - 0.2 / eb) < 1e-14 and abs(p["g_jc"] - 4 * np.sqrt(eb)) < 1e-12
    st = solve_emergent_jc(_model_004(10), n_max=30)
    # The stationary fluctuation is far from Gaussian (004 Fig. 2(d)): <Q^4> < 3 <Q^2>^2 by 10%.
    assert st["Q4"] < 0.95 * st["Q4_gauss"]


@pytest.mark.slow
def test_meanfield_theorem2_limit():
    t = np.linspace(0, 4, 21)
    rho_s = np.array([[0.3, 0.35], [0.35, 0.7]])  # a pure-ish satellite state with coherence
    errs = []
    for N in (4, 8, 16):
        m = _model_004(N, "linear").replace(eps=0.5)
        ex = solve_exact(m, t, initial=(np.diag([1.0, 0.0]), rho_s))
        mf = solve_weak_coupling_limit(m, t, rho_central=np.diag([1.0, 0.0]), rho_sat=rho_s)
        errs.append(np.max(np.abs(ex["sz0"] - mf["sz0"])))
    assert errs[0] > errs[1] > errs[2]


def test_exact_coherent_satellites_vs_full_hilbert():
    # Product state with satellite coherences (collective rotation in the Dicke basis).
    m = CentralSpinModel(3, **PARAMS)
    rho_s = np.array([[0.4, 0.3 - 0.25j], [0.3 + 0.25j, 0.6]])
    t = np.linspace(0, 1.5, 4)
    sol = solve_exact(m, t, initial=(np.diag([0.0, 1.0]), rho_s), sector=None)
    H, c_ops, ops = full_ops(m)
    rho0 = qt.tensor([qt.Qobj(np.diag([0.0, 1.0]))] + [qt.Qobj(rho_s)] * 3)
    res = qt.mesolve(H, rho0, t, c_ops, options={"atol": 1e-12, "rtol": 1e-11})
    ref = full_observables(m, res.states, ops)
    _compare(sol, ref, [k for k in OBS if k in ref], 1e-8)


def test_tavis_cummings_fock_cutoff_convergence():
    # 002 Fig. 4(b) parameters at N = 4: the photon number converges in the cut-off, and the
    # top-level population that triggers the warning falls with it.
    m = TavisCummingsModel(
        4, omega=1.0, eps=1.0, g=0.9 / 2, kappa=1.0, Gamma_up=0.375, Gamma_down=0.125
    )
    sols = [solve_exact(m, n_max=n, fock_threshold=1.0) for n in (6, 10, 14)]
    n = [float(s["n"]) for s in sols]
    top = [float(s["p_top"]) for s in sols]
    assert abs(n[2] - n[1]) < 1e-2 * abs(n[1] - n[0])
    assert top[0] > top[1] > top[2]
