"""Second moments along the mean spin: initial-state sampling and the spin-length projection.

Near a polarised state the variance along the mean spin is O(1) in the exact dynamics
(0 for ``|S, +-S>``), so it exposes two O(S) artefacts of the paper-003 defaults
(``tq.TWOQS.paper``: ``sampling="coherent"``, ``constraint=None``; numbers in docs/derivations/twoqs.md,
section "Second moments along the mean spin"):

- the coherent approximation of the Fock state ``|2S>_b`` (paper 003 Eq. 18) gives each
  trajectory's Schwinger-boson number ``N = |alpha|^2 + |beta|^2`` a spread ``Var N = 2S + 1/2``
  instead of the Fock value ``1/2``; it adds exactly ``S/2`` to ``Var(S_z)`` of ``|S, +-S>``;
- without the projection ``N`` diffuses (positive diffusion approximation), adding more.

``sampling="fock", constraint="spin_length"`` (the default of ``tq.TWOQS``) removes both. It leaves an intrinsic residual
``Var(S_z) -> 1/4`` in the relaxed ground state (exact 0): ``N`` keeps its exact Wigner spread
``1/2``, but the relaxed a-mode noise (``Var|alpha|^2 = 1/4``) is no longer correlated with it
(exact Wigner: ``Cov(|alpha|^2, N) = 1/4``), so ``Var(s_z) - 1/8 = 1/4 + 1/8 - 0 - 1/8``.

Tolerance of every comparison with an exact result: ``|twa - exact| <= Z * sem + bias`` with
``bias = B_S * S + C_REL * |exact|``. TWOQS second moments carry an O(1/S) relative, i.e.
O(S) absolute, error; near coherent states the variances are O(S) themselves, so this is an
O(1) relative error of a variance, the same at every S (measured |twa - exact| / exact at
S = 20 and 80 alike: 0.28 along x at t = 1, 0.05 at the superradiant peak, 0.13 = 0.019 S
absolute for the driven steady state): ``C_REL = 0.3``. ``B_S = 0.025`` (0.5 at S = 20) covers
the driven steady state (0.019 S) and the intrinsic ground-state residual 1/4 (measured
0.24), where the exact variance is ~0. All runs share one fixed key, so the numbers are
those of the tables in docs/derivations/twoqs.md.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import exact_times, stack

import twoqs_jax as tq

Z = 4.0
S = 20
B_S, C_REL = 0.025, 0.3
TIMES = np.arange(9.0)  # 0 .. 8 in steps of 1
NAMES = ("superradiance_up", "driven_down", "superradiance_x")
CONFIGS = {
    "default": dict(sampling="coherent", constraint=None, diffusion="paper"),  # paper 003
    "fock_projected": dict(sampling="fock", constraint="spin_length"),
}
# per-trajectory moments of |alpha|^2 and N (the mechanism of the ground-state residual)
FUNCTIONS = (
    tq.PhaseSpaceFunction("na", lambda a, b: jnp.abs(a) ** 2),
    tq.PhaseSpaceFunction("na2", lambda a, b: jnp.abs(a) ** 4),
    tq.PhaseSpaceFunction("N", lambda a, b: jnp.abs(a) ** 2 + jnp.abs(b) ** 2),
    tq.PhaseSpaceFunction("N2", lambda a, b: (jnp.abs(a) ** 2 + jnp.abs(b) ** 2) ** 2),
    tq.PhaseSpaceFunction(
        "naN", lambda a, b: jnp.abs(a) ** 2 * (jnp.abs(a) ** 2 + jnp.abs(b) ** 2)
    ),
)


def _systems():
    models = [tq.superradiance(S), tq.driven_spin(S, 0.5), tq.superradiance(S)]
    states = [tq.spin_up(), tq.spin_down(), tq.along_x()]
    return models, states


@pytest.fixture(scope="module")
def runs():
    """Exact references and the two TWOQS configurations (one compiled batch each)."""
    models, states = _systems()
    exact = [
        exact_times(m, s, TIMES, observables=("varx", "vary", "varz"))
        for m, s in zip(models, states)
    ]

    twa = {}
    for label, kw in CONFIGS.items():
        twa[label] = tq.solve(
            stack(*models),
            stack(*states),
            tq.SaveAt(TIMES),
            tq.TWOQS(tq.EulerMaruyama(0.005, noise="two_point"), **kw),
            n_traj=20000,
            key=5,
            observables=("Sz", "Sy", "varx", "vary", "varz") + FUNCTIONS,
        )
    return exact, twa


def _series(sol, p, name):
    return np.asarray(sol[name])[p, :, 0], np.asarray(sol.sem[name])[p, :, 0]


def _check(est, sem, ref, what):
    dev = np.abs(est - ref)
    bad = dev > Z * sem + B_S * S + C_REL * np.abs(ref)
    assert not bad.any(), f"{what}: twa {est[bad]} vs exact {ref[bad]}, sem {sem[bad]}"


def test_initial_varz_coherent_vs_fock_sampling(runs):
    """T = 0: Var(S_z) of |S, +S> and |S, -S> is S/2 with the coherent sampling (its known
    property: (Var|alpha|^2 + Var|beta|^2)/4 - 1/8 = (1/4 + 2S + 1/4)/4 - 1/8 = S/2 exactly in
    expectation) and 0 with the Fock sampling ((1/4 + 1/4)/4 - 1/8 = 0, the exact value).
    """
    _, twa = runs
    for p in (0, 1):  # spin up, spin down
        v, e = _series(twa["default"], p, "varz")
        assert abs(v[0] - S / 2) <= Z * e[0], (p, v[0], e[0])
        v, e = _series(twa["fock_projected"], p, "varz")
        assert e[0] < 0.01 and abs(v[0]) <= Z * e[0], (p, v[0], e[0])
    # along x the variance S/2 is the exact one for both samplings
    for label in CONFIGS:
        v, e = _series(twa[label], 2, "varz")
        assert abs(v[0] - S / 2) <= Z * e[0], (label, v[0], e[0])


@pytest.mark.parametrize("p", [0, 2], ids=["from_up", "from_x"])
def test_superradiance_varz(runs, p):
    """Superradiance S = 20: fock + projection follows the exact Var(S_z)(t) over [0, 8];
    the default is off by more than S/2 and 10 sem once the spin has relaxed (t >= 5).
    """
    exact, twa = runs
    ref = np.real(np.asarray(exact[p]["varz"])[:, 0])
    v, e = _series(twa["fock_projected"], p, "varz")
    _check(v, e, ref, f"fock_projected varz ({NAMES[p]})")
    v, e = _series(twa["default"], p, "varz")
    late = TIMES >= 5
    dev = v[late] - ref[late]
    assert np.all(dev > S / 2) and np.all(dev > 10 * e[late]), (v[late], ref[late], e[late])


def test_driven_spin_steady_variances(runs):
    """Driven spin S = 20, Omega = 0.5 Gamma (below threshold) from m = -S: fock + projection
    follows the exact Var(S_z)(t) and reaches the analytic steady state
    (``driven_spin_steady_state``); the default's Var(S_z) grows without bound (spin-length
    diffusion on top of the S/2 initial spread).
    """
    exact, twa = runs
    ss = tq.exact.driven_spin_steady_state(S, 0.5)
    ss_varz = ss["Sz2"] - ss["Sz"] ** 2
    # Sx^2 + Sy^2 = S^+S^- - S_z, so Var(S_x) + Var(S_y) = SpSm - Sz - Sx^2 - Sy^2
    ss_vperp = ss["SpSm"] - ss["Sz"] - ss["Sx"] ** 2 - ss["Sy"] ** 2
    ref = np.real(np.asarray(exact[1]["varz"])[:, 0])
    assert abs(ref[-1] - ss_varz) < 0.01  # the exact evolution has relaxed by t = 8
    sol = twa["fock_projected"]
    v, e = _series(sol, 1, "varz")
    _check(v, e, ref, "fock_projected varz (driven)")
    late = TIMES >= 6
    _check(v[late], e[late], ss_varz, "fock_projected steady varz")
    vx, ex = _series(sol, 1, "varx")
    vy, ey = _series(sol, 1, "vary")
    _check((vx + vy)[late], np.hypot(ex, ey)[late], ss_vperp, "fock_projected steady varx + vary")
    sz, esz = _series(sol, 1, "Sz")
    assert np.all(np.abs(sz[late] - ss["Sz"]) <= Z * esz[late] + 1.0)  # O(1) first moment
    v, e = _series(twa["default"], 1, "varz")
    dev = v[late] - ss_varz
    assert np.all(dev > S / 2) and np.all(dev > 10 * e[late]), (v[late], e[late])
    assert np.all(np.diff(v[late]) > 0)  # still growing: the spin length diffuses


def test_ground_state_residual_is_intrinsic(runs):
    """The relaxed Var(S_z) of fock + projection is the Wigner value 1/4, not a symbol bug:
    per trajectory N = |alpha|^2 + |beta|^2 keeps its exact initial spread Var N = 1/2, the
    relaxed a-mode has the vacuum value Var|alpha|^2 = 1/4, but Cov(|alpha|^2, N) decays from
    its exact Wigner value 1/4 to 0, so Var(s_z) - 1/8 = Var|alpha|^2 + Var N / 4 - Cov - 1/8
    -> 1/4 (exact: 1/4 + 1/8 - 1/4 - 1/8 = 0). Measured at S = 20 and 80: 0.23-0.25.
    """
    _, twa = runs
    sol = twa["fock_projected"]
    # the decay from spin up starts slowly: at t = 7 its tail is still visible in
    # Var|alpha|^2 (0.31 with the default tangential noise, key 5; 0.25-0.33 over keys 5-7
    # with the paper noise, which this test pinned before), at t = 8 it has relaxed (0.256)
    for p, t_relaxed in ((0, 8.0), (2, 4.0)):
        late = TIMES >= t_relaxed
        m = {f.name: np.asarray(sol[f.name])[p, :, 0] for f in FUNCTIONS}
        var_na = m["na2"] - m["na"] ** 2
        var_n = m["N2"] - m["N"] ** 2
        cov = m["naN"] - m["na"] * m["N"]
        # t = 0 from spin up: the exact Wigner moments of |2S>_a |0>_b (the Fock sampling),
        # Var N = 1/4 + 1/4 and Cov(|alpha|^2, N) = Var|alpha|^2 = 1/4
        if p == 0:
            np.testing.assert_allclose([var_n[0], cov[0]], [0.5, 0.25], atol=0.03)
        np.testing.assert_allclose(var_n, var_n[0], rtol=1e-9)  # conserved per trajectory
        np.testing.assert_allclose(var_n[0], 0.5, atol=0.03)
        assert np.all(np.abs(cov[late]) < 0.03), cov
        assert np.all(np.abs(var_na[late] - 0.25) < 0.04), var_na
        v, e = _series(sol, p, "varz")
        if p == 2:  # from spin up the tail of the decay is still visible at t = 8 (exact 0.01)
            assert np.all(np.abs(v[late] - 0.25) <= Z * e[late] + 0.03), (v[late], e[late])
        np.testing.assert_allclose(v, var_na + var_n / 4 - cov - 0.125, atol=1e-9)
