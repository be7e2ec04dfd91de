"""Phase-space translation: drift (autodiff vs hand-written), noise covariance, sampling and
ordering corrections, checked against analytic results (no SDE integration here).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twoqs_jax as tq

# the phase-space kernel's pieces (drift, primitives, sampling), checked one by one
from twoqs_jax._phase_space.drift import (
    dissipation,
    em_increment,
    hamiltonian_drift,
    hamiltonian_drift_autodiff,
)
from twoqs_jax._phase_space.observables import trajectory_primitives
from twoqs_jax._sde.kernel import initial_sample

Z = 4.5  # z-score of the statistical checks (fixed keys; many comparisons per test)


def _random_state(key, n, scale=3.0):
    x = jax.random.normal(key, (4, n)) * scale
    return jax.lax.complex(x[0], x[1]), jax.lax.complex(x[2], x[3])


def _random_model():
    """Fields, inter-site bilinears of every axis pair and same-site nonlinearities."""
    rng = np.random.default_rng(1)
    g = tq.edge_list([(0, 1), (1, 2), (2, 0)], 3)
    return tq.SpinModel(
        [2.0, 1.5, 3.0],
        field=rng.normal(size=(3, 3)),
        couplings=[
            tq.Coupling(g, rng.normal(size=(3, 3))),
            tq.Coupling(tq.on_site(3, [0, 2]), rng.normal(size=(3, 3))),
        ],
        decay=0.3,
    )


@pytest.mark.parametrize("k", [0, 1, -1])
def test_fused_drift_equals_autodiff(k):
    model = _random_model()
    a, b = _random_state(jax.random.key(0), 3)
    # jit: one compilation instead of many eager op dispatches
    fa, fb = jax.jit(hamiltonian_drift, static_argnums=3)(model, a, b, k)
    ga, gb = jax.jit(hamiltonian_drift_autodiff, static_argnums=3)(model, a, b, k)
    np.testing.assert_allclose(fa, ga, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fb, gb, rtol=1e-12, atol=1e-12)


def test_drift_of_field_and_twisting():
    a, b = _random_state(jax.random.key(1), 1)
    om, g, S = 1.3, 0.7, 5.0
    drift = jax.jit(hamiltonian_drift_autodiff, static_argnums=3)
    da, db = drift(tq.SpinModel(S, field={"x": om}), a, b, 0)
    # H = Omega S_x: dalpha = -i (Omega/2) beta dt, dbeta = -i (Omega/2) alpha dt
    np.testing.assert_allclose(da, -0.5j * om * b, rtol=1e-12)
    np.testing.assert_allclose(db, -0.5j * om * a, rtol=1e-12)
    # H = (g/2S) S_x^2: dalpha = -i (g/2S) S_x^W beta dt (paper 003 Eq. 31 prints 2x this)
    oat = tq.one_axis_twisting(S, g)
    da, db = drift(oat, a, b, 0)
    a, b = np.asarray(a), np.asarray(b)  # the references in NumPy
    sx = np.real(np.conj(a) * b)
    np.testing.assert_allclose(da, -1j * g / (2 * S) * sx * b, rtol=1e-12)
    np.testing.assert_allclose(db, -1j * g / (2 * S) * sx * a, rtol=1e-12)
    # for P/Q the same-site term adds only a common phase: spin symbols move identically
    for k in (1, -1):
        ka, kb = drift(oat, a, b, k)
        ka, kb = np.asarray(ka), np.asarray(kb)
        ds = np.conj(a) * kb + np.conj(ka) * b  # d(conj(alpha) beta)/dt
        ds0 = np.conj(a) * np.asarray(db) + np.conj(np.asarray(da)) * b
        np.testing.assert_allclose(ds, ds0, rtol=1e-12)


@pytest.mark.parametrize("k", [0, 1, -1])
def test_one_step_noise_covariance_equals_diffusion(k):
    """Mean and covariance of one Euler-Maruyama increment vs the FPE drift and diffusion.

    Diffusion (standard rates, after the PDA): decay
    ``E[dalpha dalpha*] = kappa (1-k)/2 (|beta|^2 + (1+k)/2) dt``,
    ``E[dbeta dbeta*] = kappa (1+k)/2 (|alpha|^2 - (1-k)/2) dt``; gain with alpha <-> beta;
    dephasing ``E[dalpha dalpha*] = (kappa/4)|alpha|^2 dt``, ``E[dalpha dbeta] = (kappa/4)
    alpha beta dt``, ``E[dalpha dalpha] = -(kappa/4) alpha^2 dt``.
    """
    kd, kg, kp, dt = 0.4, 0.25, 0.3, 0.01
    model = tq.SpinModel([3.0, 3.0], decay=kd, gain=kg, dephasing=kp)
    a = jnp.array([1.2 + 0.5j, 0.3 - 0.1j])  # site 1: |alpha|^2 < 1/2 (W clipping)
    b = jnp.array([2.0 - 1.0j, 0.2 + 0.4j])
    n_s = 200_000
    dW = jax.random.normal(jax.random.key(2), (n_s, 5, 2)) * np.sqrt(dt)
    na, nb = jax.jit(jax.vmap(lambda w: em_increment(model, a, b, w, dt, k)[:2]))(dW)
    da, db = np.asarray(na) - np.asarray(a), np.asarray(nb) - np.asarray(b)
    A2, B2 = abs(np.asarray(a)) ** 2, abs(np.asarray(b)) ** 2
    up, um = (1 + k) / 2, (1 - k) / 2
    clip = (lambda x: np.maximum(x, 0)) if k == 0 else (lambda x: x)
    daa = kd * um * 2 * (B2 + up) / 2 + kg * up * 2 * clip(B2 - um) / 2 + kp / 4 * A2
    dbb = kd * up * 2 * clip(A2 - um) / 2 + kg * um * 2 * (A2 + up) / 2 + kp / 4 * B2
    for x, ref in (
        (np.mean(abs(da) ** 2, 0), daa * dt),
        (np.mean(abs(db) ** 2, 0), dbb * dt),
        (np.mean(da * db, 0), kp / 4 * np.asarray(a * b) * dt),
        (np.mean(da * da, 0), -kp / 4 * np.asarray(a * a) * dt),
    ):
        # increments are dominated by the noise; the drift enters at O(dt^2)
        tol = Z * np.sqrt(2.0 / n_s) * np.max(abs(ref)) + 5 * dt**2 * 10
        np.testing.assert_allclose(x, ref, atol=tol)
    # mean increment = drift (decay/gain/dephasing, no Hamiltonian here)
    dra, drb, *_ = dissipation(model, a, b, k)
    np.testing.assert_allclose(
        da.mean(0), np.asarray(dra) * dt, atol=Z * np.sqrt(daa.max() * dt / n_s)
    )
    np.testing.assert_allclose(
        db.mean(0), np.asarray(drb) * dt, atol=Z * np.sqrt(dbb.max() * dt / n_s)
    )


def _amplitudes(k, fock, spin, theta, phi, n=40_000, key=3):
    """``n`` initial samples ``(alpha, beta)``, ``(n, sites)`` each, as the kernel draws them
    (trajectories ``0..n-1`` of the run key ``key``).
    """
    spin, theta, phi = (jnp.asarray(v, jnp.float64) for v in (spin, theta, phi))

    @jax.jit
    def run(idx):
        return jax.vmap(
            lambda i: initial_sample(jax.random.key(key), i, spin, theta, phi, k, fock, jnp.float64)
        )(idx)

    return run(jnp.arange(n, dtype=jnp.int32))


def _sample(k, fock, S, theta, phi, n=40_000, key=3):
    spin = jnp.array([S])
    names = ("Sx", "Sy", "Sz", "Sx2", "Sy2", "Sz2", "SxSy", "SxSz", "SySz", "spin_drift")
    a, b = _amplitudes(k, fock, [S], [theta], [phi], n, key)
    return jax.vmap(lambda x, y: trajectory_primitives(x, y, spin, k, names))(a, b)


@pytest.mark.parametrize("fock", ["coherent", "fock"])
def test_down_state_wigner_moments(fock):
    """The kernel's (counter-based) initial sample of the spin-down state ``|0>_a |2S>_b``
    has the exact Wigner moments of its sampling (module docstring of
    ``twoqs_jax._phase_space.sampling``): ``<alpha> = 0``, ``<|alpha|^2> = 1/2``,
    ``Var |alpha|^2 = 1/4``; ``<|beta|^2> = 2S + 1/2`` with ``Var |beta|^2 = 1/4`` and
    ``<beta> = 0`` (Fock) or ``Var |beta|^2 = 2S + 1/4`` and ``<beta> = sqrt(2S)`` (coherent);
    sites and modes uncorrelated. Two sites of different S (the counter layout ``r n + j``);
    fixed key, each moment within Z standard errors (the generator's bias, from its
    24-bit uniforms and polynomial phase, is below 1e-6 relative: far below the errors).
    """
    spins = np.array([3.0, 10.0])
    n = 40_000
    # theta = pi: the rotation maps the down state to itself (alpha -> -alpha)
    a, b = (np.asarray(x) for x in _amplitudes(0, fock, spins, [np.pi] * 2, [0.0] * 2, n))

    def check(v, ref, what):
        sem = v.std() / np.sqrt(len(v))
        assert abs(v.mean() - ref) <= Z * sem + 1e-12, (fock, what, v.mean(), ref, sem)

    for j, S in enumerate(spins):
        na, nb = np.abs(a[:, j]) ** 2, np.abs(b[:, j]) ** 2
        check(a[:, j].real, 0.0, "Re alpha")
        check(a[:, j].imag, 0.0, "Im alpha")
        check(na, 0.5, "|alpha|^2")
        check((na - 0.5) ** 2, 0.25, "Var |alpha|^2")
        beta_mean = np.sqrt(2 * S) if fock == "coherent" else 0.0
        check(b[:, j].real, beta_mean, "Re beta")
        check(b[:, j].imag, 0.0, "Im beta")
        check(nb, 2 * S + 0.5, "|beta|^2")
        var_nb = 2 * S + 0.25 if fock == "coherent" else 0.25
        check((nb - 2 * S - 0.5) ** 2, var_nb, "Var |beta|^2")
        check(a[:, j].real * (b[:, j].real - beta_mean), 0.0, "Re alpha Re beta")
    check(a[:, 0].real * a[:, 1].real, 0.0, "alpha_0 alpha_1")
    check(np.imag(b[:, 0]) * np.imag(b[:, 1]), 0.0, "Im beta_0 Im beta_1")
    # Fock sampling: |beta|^2 - 2S is exponential (mean 1/2) and the phase uniform
    if fock == "fock":
        assert (np.abs(b) ** 2 >= 2 * spins * (1 - 1e-6)).all()  # phase polynomial: ~1e-7
        check(np.cos(np.angle(b[:, 1])), 0.0, "cos arg beta")


@pytest.mark.parametrize(
    "k,fock", [(0, "coherent"), (0, "fock"), (1, "coherent"), (-1, "coherent")]
)
def test_coherent_state_moments(k, fock):
    """<S> = S n and the exact coherent-state second moments
    ``<(S_a S_b + S_b S_a)/2> = S(S - 1/2) n_a n_b + (S/2) delta_ab``.

    Exact for Q (exact Fock Q function) and the Wigner "fock" sampling up to its vanishing
    third-moment mismatch; the coherent approximation of the Fock state (W "coherent" and P)
    adds a spin-length spread: its second moments get ``+ S/2 n_a n_b`` (P) or
    ``+ (S/2 + 1/8) n_a n_b`` (W), computed from the Poisson number distribution.
    """
    S, theta, phi = 10.0, 1.1, -0.6
    q = _sample(k, fock, S, theta, phi)
    nvec = np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])
    extra = {
        (0, "fock"): 0.0,
        (-1, "coherent"): 0.0,
        (1, "coherent"): S / 2,
        (0, "coherent"): S / 2 + 1 / 8,
    }[(k, fock)]
    for i, a in enumerate("xyz"):
        v = np.asarray(q[f"S{a}"][:, 0])
        assert abs(v.mean() - S * nvec[i]) <= Z * v.std() / np.sqrt(len(v)) + 1e-12
    pairs = {
        "Sx2": (0, 0),
        "Sy2": (1, 1),
        "Sz2": (2, 2),
        "SxSy": (0, 1),
        "SxSz": (0, 2),
        "SySz": (1, 2),
    }
    for name, (i, j) in pairs.items():
        v = np.asarray(q[name][:, 0])
        exact = S * (S - 0.5) * nvec[i] * nvec[j] + (S / 2) * (i == j)
        ref = exact + extra * nvec[i] * nvec[j]
        assert abs(v.mean() - ref) <= Z * v.std() / np.sqrt(len(v)) + 1e-9, (name, v.mean(), ref)
    # the spin-length health monitor is unbiased for every representation
    v = np.asarray(q["spin_drift"][:, 0])
    assert abs(v.mean()) <= Z * v.std() / np.sqrt(len(v)) + 1e-12
