"""Mean-field equations: against papers 000 (Eqs 6-11) and 001 (Eq 10), against the exact
equations of motion of the master equation at large S, and the Diffrax solve.

The exact reference: ``d<A>/dt = i<[H, A]> + sum_k kappa_k (<L_k psi|A|L_k psi> -
Re<psi|L_k^+ L_k A|psi>)`` for Hermitian ``A`` in a pure product coherent state, from sparse
matrix-vector products on the full tensor-product space (QuTiP ``jmat``), exact at any S.
"""

import numpy as np
import pytest
import qutip
import scipy.linalg
import scipy.sparse as sp
from helpers import meanfield_field, meanfield_times

import twoqs_jax as tq

AX = "xyz"


def site_ops(spins):
    """Full-space sparse ``S_i^a`` for every site: list over sites of dict axis -> csr."""
    mats = [{a: qutip.jmat(float(s), a).data.as_scipy().tocsr() for a in AX} for s in spins]
    dims = [int(round(2 * s + 1)) for s in spins]
    out = []
    for i in range(len(spins)):
        ops = {}
        for a in AX:
            op = sp.identity(1, format="csr", dtype=complex)
            for j, d in enumerate(dims):
                op = sp.kron(op, mats[i][a] if j == i else sp.identity(d, format="csr"), "csr")
            ops[a] = op
        out.append(ops)
    return out


def coherent_product(spins, vectors):
    """Product of spin coherent states along the unit ``vectors`` (QuTiP basis: m = +S first)."""
    psi = np.ones(1, complex)
    for s, v in zip(spins, vectors):
        theta, phi = np.arccos(np.clip(v[2], -1, 1)), np.arctan2(v[1], v[0])
        up = np.zeros(int(round(2 * s + 1)), complex)
        up[0] = 1.0
        sy = qutip.jmat(float(s), "y").full()
        sz = qutip.jmat(float(s), "z").full()
        ket = scipy.linalg.expm(-1j * phi * sz) @ (scipy.linalg.expm(-1j * theta * sy) @ up)
        psi = np.kron(psi, ket)
    return psi


def hamiltonian_and_jumps(model, ops):
    """Full-space ``H`` and the list of ``(rate, L)`` of a SpinModel."""
    n = model.n_sites
    H = 0 * ops[0]["x"]
    field = np.asarray(model.field)
    for i in range(n):
        for a, ax in enumerate(AX):
            H = H + field[i, a] * ops[i][ax]
    coup = np.asarray(model.coupling)
    for (i, j), c in zip(model.edges, coup):
        for a, ax in enumerate(AX):
            for b, bx in enumerate(AX):
                if c[a, b] != 0:
                    t = ops[i][ax] @ ops[j][bx]
                    if i == j:
                        t = 0.5 * (t + ops[j][bx] @ ops[i][ax])
                    H = H + c[a, b] * t
    jumps = []
    for i in range(n):
        spl = ops[i]["x"] + 1j * ops[i]["y"]
        for rate, L in (
            (model.decay[i], spl.conj().T),
            (model.gain[i], spl),
            (model.dephasing[i], ops[i]["z"]),
        ):
            if float(rate) > 0:
                jumps.append((float(rate), L.tocsr()))
    return H.tocsr(), jumps


def exact_time_derivative(H, jumps, A, psi):
    """``d<A>/dt`` (real) for Hermitian sparse ``A`` in the pure state ``psi``."""
    Hpsi, Apsi = H @ psi, A @ psi
    val = -2 * np.imag(np.vdot(Hpsi, Apsi))  # i<[H, A]> = i(<H psi|A psi> - c.c.)
    for rate, L in jumps:
        Lpsi = L @ psi
        val += rate * (np.real(np.vdot(Lpsi, A @ Lpsi)) - np.real(np.vdot(Lpsi, L @ Apsi)))
    return float(val)


def _random_unit(rng, n):
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _general_model(S):
    """Two sites of different lengths with every kind of term, couplings scaled like 1/S."""
    spins = np.array([S, S / 2])
    rng = np.random.default_rng(1)
    cross = tq.Coupling(tq.edge_list([(0, 1)], 2), rng.normal(size=(3, 3)) / S)
    same = tq.Coupling(tq.on_site(2), rng.normal(size=(3, 3)) / S)
    return tq.SpinModel(
        spins,
        field=rng.normal(size=(2, 3)),
        couplings=(cross, same),
        decay=np.array([0.7, 0.2]) / spins,
        gain=np.array([0.3, 0.5]) / spins,
        dephasing=np.array([0.4, 0.1]),
    )


def _meanfield_error(S):
    """Max |d<S_i^a>/dt / S_i (exact) - mean-field rhs| over sites and axes, in a random state."""
    model = _general_model(S)
    y = _random_unit(np.random.default_rng(2), 2)
    spins = np.asarray(model.spin)
    ops = site_ops(spins)
    H, jumps = hamiltonian_and_jumps(model, ops)
    psi = coherent_product(spins, y)
    exact = np.array(
        [[exact_time_derivative(H, jumps, ops[i][a], psi) / spins[i] for a in AX] for i in range(2)]
    )
    mf = np.asarray(meanfield_field(model, y))
    return np.max(np.abs(exact - mf)), np.max(np.abs(mf))


def test_meanfield_equals_exact_equations_of_motion_at_large_S():
    # The mean-field rhs is the S -> infinity limit of the exact d<S>/dt/S in a coherent
    # state; the same-site terms carry O(1/S) corrections (e.g. <S_x^2> = S^2 X^2 +
    # S (1 - X^2)/2), so the difference must fall like 1/S: it is small at S = 160 and
    # shrinks by the factor 8 (within 25 %) from S = 20 to S = 160.
    err_small, scale = _meanfield_error(20)
    err_large, _ = _meanfield_error(160)
    assert scale > 0.5  # the rhs is not trivially small
    assert err_large < 2.0 / 160
    assert 8 / 1.25 < err_small / err_large < 8 * 1.25


def test_lmg_dimer_matches_paper000_eqs_6_to_11():
    J, lam, g, gam = 0.37, -0.23, 1.3, 0.5
    model = tq.lmg_dimer(7, J, lam, g, gam)
    (XA, YA, ZA), (XB, YB, ZB) = y = _random_unit(np.random.default_rng(3), 2)
    paper = np.array(
        [
            [
                g * YA + lam * ZA * YB + gam * XA * ZA,
                -g * XA + 2 * J * ZA * XA - lam * ZA * XB + gam * YA * ZA,
                -2 * J * YA * XA - lam * (XA * YB - YA * XB) - gam * (1 - ZA**2),
            ],
            [
                g * YB + lam * ZB * YA - gam * XB * ZB,
                -g * XB + 2 * J * ZB * XB - lam * ZB * XA - gam * YB * ZB,
                -2 * J * YB * XB + lam * (XA * YB - YA * XB) + gam * (1 - ZB**2),
            ],
        ]
    )
    np.testing.assert_allclose(meanfield_field(model, y), paper, atol=1e-13)


def test_qubit_lmg_matches_paper001_eq10_collective_part():
    # H = V/(N j) (J_x^2 - J_y^2), collective decay gamma_C/(N j) D[J_-]; N j = S. The
    # individual decay gamma_I of Eq. 10 is not a collective-spin term (gamma_I = 0 here).
    S, V, gC = 50, 0.8, 0.6
    model = tq.SpinModel(
        S, couplings=tq.Coupling(tq.on_site(1), {"xx": V / S, "yy": -V / S}), decay=gC / S
    )
    ((X, Y, Z),) = y = _random_unit(np.random.default_rng(4), 1)
    paper = np.array(
        [
            [
                -2 * V * Y * Z + gC * X * Z,
                -2 * V * X * Z + gC * Y * Z,
                4 * V * X * Y - gC * (X**2 + Y**2),
            ]
        ]
    )
    np.testing.assert_allclose(meanfield_field(model, y), paper, atol=1e-13)


def test_solve_meanfield_driven_spin_fixed_point_and_observables():
    # Below Omega = Gamma the driven spin relaxes to Z = -sqrt(1 - (Omega/Gamma)^2), Y = +Omega/Gamma
    S, Om = 100, 0.5
    sol = meanfield_times(tq.driven_spin(S, Om), tq.spin_down(), np.linspace(0, 60.0, 11))
    assert sol.method == "meanfield"
    assert sol["Sz"].shape == (11, 1) and sol["SpSm"].shape == (11, 1, 1)
    np.testing.assert_allclose(sol["Sz"][-1, 0] / S, -np.sqrt(1 - Om**2), atol=1e-8)
    np.testing.assert_allclose(sol["Sy"][-1, 0] / S, Om, atol=1e-8)
    np.testing.assert_allclose(sol["Sx2"], sol["Sx"] ** 2)
    np.testing.assert_allclose(sol["SpSm"][..., 0, 0], sol["Sx"][:, 0] ** 2 + sol["Sy"][:, 0] ** 2)


def test_solve_meanfield_bad_input():
    m = tq.driven_spin(10, 0.5)
    with pytest.raises(ValueError, match="ts"):
        meanfield_times(m, tq.spin_down(), [np.nan, 1.0])
    with pytest.raises(ValueError, match="t_burn"):
        tq.solve(m, tq.spin_down(), tq.SteadyState(), tq.MeanField())
    with pytest.raises(ValueError, match="state"):
        meanfield_times(m, tq.spin_down(2), [0.0, 1.0])
    with pytest.raises(ValueError, match="ts"):
        meanfield_times(m, tq.spin_down(), [0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="SpinModel|no solver"):
        meanfield_times("lmg", tq.spin_down(), [0.0, 1.0])
    with pytest.raises(ValueError, match="rtol"):
        tq.MeanField(rtol=-1.0)
