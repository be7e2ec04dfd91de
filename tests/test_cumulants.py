"""Gaussian (second-order) cumulant equations: exact algebra, convergence to exact results in
1/S faster than mean field, the Holstein-Primakoff limit, and conservation of S^2.
"""

import itertools

import numpy as np
import pytest
import qutip
from helpers import cumulants_times, meanfield_times
from test_meanfield import (
    AX,
    _general_model,
    exact_time_derivative,
    hamiltonian_and_jumps,
    site_ops,
)

import twoqs_jax as tq
from twoqs_jax._meanfield.cumulants import _params, model_tables  # the tables, on purpose


def test_moment_equations_are_exact_before_closure():
    # Evaluate the derived tables with the EXACT first, second and symmetric third moments of
    # a random pure state: the result must equal the exact d<A>/dt for every mean and every
    # symmetrised second moment (only the closure of the third moments is approximate).
    model = _general_model(2)  # spins (2, 1): small dense space, every kind of term
    spins = np.asarray(model.spin)
    ops = site_ops(spins)
    S = [ops[i][a].toarray() for i in range(2) for a in AX]
    H, jumps = hamiltonian_and_jumps(model, ops)
    rng = np.random.default_rng(5)
    psi = rng.normal(size=S[0].shape[0]) + 1j * rng.normal(size=S[0].shape[0])
    psi /= np.linalg.norm(psi)
    ev = lambda op: np.real(np.vdot(psi, op @ psi))
    D = len(S)

    def sym(*letters):
        perms = list(itertools.permutations(letters))
        return sum(
            ev(np.linalg.multi_dot([S[x] for x in p]) if len(p) > 1 else S[p[0]]) for p in perms
        ) / len(perms)

    tables, n_targets, _, pairs = model_tables(model)
    p = np.asarray(_params(model))
    rates = np.zeros(n_targets)
    for d, (k, t, w, c) in tables.items():
        for kk, tt, ww, cc in zip(k, t, w, c):
            rates[tt] += cc * p[kk] * (sym(*ww) if d else 1.0)
    exact = [exact_time_derivative(H, jumps, sp_from(S[a]), psi) for a in range(D)]
    exact += [
        exact_time_derivative(H, jumps, sp_from(0.5 * (S[a] @ S[b] + S[b] @ S[a])), psi)
        for a, b in pairs
    ]
    np.testing.assert_allclose(rates, exact, atol=1e-10)


def sp_from(dense):
    import scipy.sparse as sp

    return sp.csr_matrix(dense)


def _errors(S, ts):
    model = tq.one_axis_twisting(S, g=1.0, Gamma=0.3)
    state = tq.SpinCoherentState(2.0, 0.3)
    cu = cumulants_times(model, state, ts)
    mf = meanfield_times(model, state, ts)
    sx, sy, sz = (qutip.jmat(S, a) for a in AX)
    res = qutip.mesolve(
        sx * sx / (2 * S),
        qutip.spin_coherent(S, 2.0, 0.3),
        ts,
        [np.sqrt(0.3 / S) * qutip.jmat(S, "-")],
        e_ops=[sx, sy, sz],
    )
    ex = np.array(res.expect).T
    err = lambda sol: np.max(np.abs(np.c_[sol["Sx"], sol["Sy"], sol["Sz"]] - ex)) / S
    return err(mf), err(cu)


def test_cumulant_means_converge_faster_than_meanfield():
    # One-axis twisting with loss from a tilted coherent state, normalised errors of the
    # means over t <= 4: mean field falls like 1/S (ratio -> 2 per doubling; measured 1.77
    # from S = 20 to 40), the Gaussian cumulants like 1/S^2 (ratio -> 4; measured 2.9).
    ts = np.linspace(0.0, 4.0, 9)
    mf20, cu20 = _errors(20, ts)
    mf40, cu40 = _errors(40, ts)
    assert cu20 < mf20 / 5 and cu40 < mf40 / 10
    assert mf20 / mf40 < 2.2
    assert cu20 / cu40 > 2.5


def test_holstein_primakoff_limit_of_one_axis_twisting():
    # Linearised around m = -S (HP bosons, exact for the quadratic boson problem):
    # H = (g/2S) S_x^2 gives dS_y/dt = -(g/S) sym(S_x S_z) ~ g S_x, dS_x/dt = 0, so
    # Var(S_x) = S/2, Var(S_y) = S/2 (1 + g^2 t^2), Cov(S_x, S_y) = g t S/2. Corrections O(1/S).
    S, g = 10_000, 1.0
    ts = np.linspace(0.0, 1.5, 4)
    sol = cumulants_times(tq.one_axis_twisting(S, g=g), tq.spin_down(), ts)
    np.testing.assert_allclose(sol["varx"][:, 0] / S, 0.5, atol=1e-3)
    np.testing.assert_allclose(sol["vary"][:, 0] / S, 0.5 * (1 + (g * ts) ** 2), atol=1e-3)
    np.testing.assert_allclose(sol["SxSy"][:, 0] / S, 0.5 * g * ts, atol=1e-3)


def test_total_spin_conserved_and_observables():
    # (one site, so it reuses the compilation of the tests above)
    S = 5
    model = tq.one_axis_twisting(S, g=1.3, Gamma=0.4, Gamma_phi=0.2)
    sol = cumulants_times(model, tq.SpinCoherentState(1.0, 0.2), np.linspace(0, 3, 9))
    assert sol.method == "cumulant2"
    total = sol["Sx2"] + sol["Sy2"] + sol["Sz2"]
    np.testing.assert_allclose(total, S * (S + 1), rtol=1e-9)
    np.testing.assert_allclose(sol["varz"], sol["Sz2"] - sol["Sz"] ** 2, atol=1e-9)
    # on one site <S^+ S^-> = <Sx^2> + <Sy^2> + <Sz>
    np.testing.assert_allclose(
        np.diagonal(sol["SpSm"], axis1=1, axis2=2), sol["Sx2"] + sol["Sy2"] + sol["Sz"], atol=1e-9
    )


def test_cumulant_bad_input():
    with pytest.raises(ValueError, match="order"):
        cumulants_times(tq.driven_spin(5, 1.0), tq.spin_down(), [0.0, 1.0], order=3)


@pytest.mark.slow
def test_lmg_dimer_cumulants_conserve_total_spin():
    S = 5
    sol = cumulants_times(
        tq.lmg_dimer(S, 0.8, 0.3),
        tq.SpinCoherentState([1.0, 2.0], [0.2, -0.4]),
        np.linspace(0.0, 3.0, 4),
    )
    np.testing.assert_allclose(sol["Sx2"] + sol["Sy2"] + sol["Sz2"], S * (S + 1), rtol=1e-9)
