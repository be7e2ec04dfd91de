"""TWOQS on spin chains against exact dynamics (2-3 sites) and the linearised theory (rings).

Stochastic checks use fixed keys and ``|twa - reference| <= z * sem + bias`` with the bias
budget justified next to each test. Heavier versions (3 sites, the 100-site ring, locating
the transition) are marked slow.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import exact_times, paper

import twoqs_jax as tq

Z = 4.0
S_RING = 5000


def _exact_vs_twa(n, S, t_final, n_traj, dt):
    m = tq.heisenberg_chain(n, S, Jx=1.0, Jy=-0.6, Jz=0.4, Gamma=0.5, periodic=False)
    state = tq.along_x(n)
    ts = np.linspace(0.0, t_final, 5)
    obs = ("Sx", "Sy", "Sz", "SpSm")
    ex = exact_times(m, state, ts, observables=obs)
    tw = tq.solve(m, state, tq.SaveAt(ts), paper(dt), n_traj=n_traj, key=0, observables=obs)
    return ex, tw


def _check_exact(ex, tw, S, bias):
    for k in ("Sx", "Sy", "Sz"):
        diff = np.abs(tw[k] - ex[k])
        assert np.all(diff <= Z * tw.error(k) + bias * S), (k, diff / S)
    d = np.abs(np.real(tw["SpSm"][:, 0, 1] - ex["SpSm"][:, 0, 1]))
    assert np.all(d <= Z * np.real(tw.error("SpSm")[:, 0, 1]) + 2 * bias * S**2), d / S**2


def test_two_sites_dynamics_against_exact():
    # XYZ pair, S = 4, from along +x, t <= 2: TWOQS is O(1/S) biased where decay drives the
    # spins through the mixed region (DESIGN.md sec. 5). Measured relative deviations at
    # t <= 3: <= 0.096 S (S = 4), <= 0.16 S (S = 2, three sites), i.e. roughly 0.4 / S.
    # Budget: 0.5 / S of S for the moments (and twice that of S^2 for <S_0^+ S_1^->).
    S = 4
    ex, tw = _exact_vs_twa(2, S, 2.0, 4000, 0.01)
    _check_exact(ex, tw, S, 0.5 / S)


@pytest.mark.slow
def test_three_sites_dynamics_against_exact():
    S = 2
    ex, tw = _exact_vs_twa(3, S, 3.0, 20000, 0.005)
    _check_exact(ex, tw, S, 0.5 / S)


def _ring_vs_linear(n, jys, n_traj, key):
    ms = jax.vmap(lambda jy: tq.heisenberg_chain(n, S_RING, Jx=0.125, Jy=jy, convention="fig7"))(
        jnp.asarray(jys)
    )
    # t_burn = 20 >> 1 / (2 |growth rate|) ~ 2.2 at J_y = -0.3 (covariances relax at twice
    # the amplitude rate); "fock" sampling keeps the spin-length noise of the initial Fock
    # state O(1) instead of O(S) (Var S_z is then not dominated by it)
    sol = tq.solve(
        ms,
        tq.spin_down(n),
        tq.SteadyState(t_burn=20.0, t_avg=20.0, every=0.1),
        tq.TWOQS(tq.EulerMaruyama(0.02), sampling="fock", constraint=None),
        n_traj=n_traj,
        key=key,
        observables=("Sz", "varx", "vary") + tq.lattice.translation_averaged_functions(n),
    )
    C, Cerr = tq.lattice.correlation_function(sol)
    for p, jy in enumerate(jys):
        lin = tq.lattice.linear_steady_state(
            tq.heisenberg_chain(n, S_RING, Jx=0.125, Jy=float(jy), convention="fig7"),
            lattice=(n, 1),
        )
        Cl, _ = tq.lattice.correlation_function(lin)
        # site averages (every site is equivalent on the ring): the sems are per site and
        # correlated, so the mean sem is a conservative error of the site average
        # Bias budgets. <S_z>: the linear <n> is exact to O(1); TWOQS's clipped Wigner
        # diffusion shifts <n> by O(1) (measured 0.2 at N = 20): 1.0 absolute.
        # Variances: Euler-Maruyama at Gamma dt = 0.02 biases a stationary OU variance by
        # O(Gamma dt) ~ 2 %, the 1/S corrections are 1e-4: 3 % relative.
        # C(s): ratio of two such variances: 0.03 absolute.
        for k, rel, ab in (("Sz", 0.0, 1.0), ("varx", 0.03, 0.0), ("vary", 0.03, 0.0)):
            est, err = np.mean(sol[k][p]), np.mean(sol.error(k)[p])
            assert abs(est - lin[k][0]) <= Z * err + rel * abs(lin[k][0]) + ab, (
                jy,
                k,
                est,
                lin[k][0],
            )
        for s in (1, 2, 4):
            assert abs(C[p, s] - Cl[s]) <= Z * Cerr[p, s] + 0.03, (jy, s, C[p, s], Cl[s])


def test_ring_against_linear_theory():
    # a short ring at S = 5000 in the polarised phase, two couplings in one compiled batch
    _ring_vs_linear(8, [-0.2, -0.3], 256, 3)


@pytest.mark.slow
def test_ring_100_sites_against_linear_theory():
    _ring_vs_linear(100, [-0.3], 256, 4)


@pytest.mark.slow
def test_transition_located_at_linear_edge():
    # fig7 parameterisation, J_x = Gamma/8: the linear edge is J_y = -0.5. The polarised
    # state (the initial state) survives for J_y > -0.5 and decays into the mixed phase
    # for J_y < -0.5 (growth rate 0.02 at -0.52: t_burn = 300 covers ln(S)/0.02 ~ 400 only
    # with the O(1) Wigner seed fluctuations; measured <S_z>/S = -0.66 at -0.52 after 200).
    # The transition is bracketed by the grid points on either side of the jump of
    # <S_z>/S through -0.9; their midpoint must lie within 0.02 of the edge.
    n = 20
    jys = np.array([-0.44, -0.46, -0.48, -0.52, -0.54, -0.56])
    ms = jax.vmap(lambda jy: tq.heisenberg_chain(n, S_RING, Jx=0.125, Jy=jy, convention="fig7"))(
        jnp.asarray(jys)
    )
    sol = tq.solve(
        ms,
        tq.spin_down(n),
        tq.SteadyState(t_burn=300.0, t_avg=50.0, every=0.2),
        tq.TWOQS(tq.EulerMaruyama(0.02), sampling="fock", constraint=None),
        n_traj=32,
        key=5,
        observables=("Sz",),
    )
    z = np.mean(sol["Sz"], axis=-1) / S_RING
    polarised = z < -0.9
    assert polarised[0] and not polarised[-1], z
    k = int(np.argmin(polarised))  # first non-polarised point
    assert np.all(polarised[:k]) and not np.any(polarised[k:]), z
    edge = 0.5 * (jys[k - 1] + jys[k])
    assert abs(edge - tq.lattice.xyz_chain_critical_Jy(0.125, 1.0, "fig7")) <= 0.02
