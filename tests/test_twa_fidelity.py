"""The default TWOQS noise (tangential, full second-order Wigner diffusion) against exact results.

Derivation and measurements: docs/methods/fidelity.md. Paper 003's decay noise (independent
noises on alpha and beta) drops the cross diffusion ``E[dalpha dbeta] = -(kappa/2) alpha beta
dt``, half of the Bloch-vector diffusion, which leaves O(1) errors in the mixed phase of the
driven spin (<S_y>/S +0.027 at every S) and in variances (-15 %). The tangential noise
``dv += sqrt(kappa/2)(M^+ v xi - M v conj(xi))`` keeps it; what remains is O(1/S).

Tolerances: ``|twoqs - exact| <= Z * sem + bias``, the bias budgets (per observable, stated
where used) set from the measured O(1/S) coefficients and the Euler step bias at the ``dt``
used (docs/methods/fidelity.md, "Measured errors").
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import stack
from scipy.optimize import curve_fit

import twoqs_jax as tq

# one Euler-Maruyama increment of the kernel: its covariances are what is checked
from twoqs_jax._jumps.spin_jump_wigner import SpinJumpTerm
from twoqs_jax._phase_space.drift import em_increment, em_increment_real, split
from twoqs_jax._phase_space.lowering import lower

Z = 4.0


# ---------------------------------------------------------------------------------------
# The noise itself: one-step covariances, N conservation, SpinJump = decay/gain


def test_tangential_one_step_covariance_is_the_full_wigner_diffusion():
    """Mean and covariance of one tangential increment (decay + gain + dephasing, Gaussian
    increments) against the Wigner equation's drift and diffusion without the vacuum part:
    ``E[da da*] = (kd/2)|b|^2 + (kg/2)|b|^2 + (kp/4)|a|^2``,
    ``E[db db*] = (kd/2)|a|^2 + (kg/2)|a|^2 + (kp/4)|b|^2``,
    ``E[da db] = -(kd/2) a b - (kg/2) a b + (kp/4) a b`` (the cross term paper 003 drops),
    ``E[da db*] = -(kp/4) a b*`` (dephasing only), ``E[da da] = -(kp/4) a^2``.
    """
    kd, kg, kp, dt = 0.4, 0.25, 0.3, 0.01
    model = lower(tq.SpinModel([3.0, 3.0], decay=kd, gain=kg, dephasing=kp))
    a = jnp.array([1.2 + 0.5j, 0.3 - 0.1j])
    b = jnp.array([2.0 - 1.0j, 0.2 + 0.4j])
    n_s = 200_000
    dW = jax.random.normal(jax.random.key(4), (n_s, 5, 2)) * np.sqrt(dt)
    step = jax.jit(jax.vmap(lambda w: em_increment(model, a, b, w, dt, 0, tangential=True)))
    na, nb, clipped = step(dW)
    assert not np.any(np.asarray(clipped))  # no clipping with the tangential noise
    da, db = np.asarray(na - a), np.asarray(nb - b)
    A, B = np.asarray(a), np.asarray(b)
    refs = {
        "da da*": ((kd + kg) / 2 * abs(B) ** 2 + kp / 4 * abs(A) ** 2) * dt,
        "db db*": ((kd + kg) / 2 * abs(A) ** 2 + kp / 4 * abs(B) ** 2) * dt,
        "da db": (-(kd + kg) / 2 + kp / 4) * A * B * dt,
        "da db*": -kp / 4 * A * np.conj(B) * dt,
        "da da": -kp / 4 * A**2 * dt,
    }
    got = {
        "da da*": np.mean(abs(da) ** 2, 0),
        "db db*": np.mean(abs(db) ** 2, 0),
        "da db": np.mean(da * db, 0),
        "da db*": np.mean(da * np.conj(db), 0),
        "da da": np.mean(da * da, 0),
    }
    scale = max(np.max(abs(r)) for r in refs.values())
    for name, ref in refs.items():
        # products of two increments: sd ~ sqrt(2) x scale / sqrt(n_s); the drift is O(dt^2)
        tol = Z * np.sqrt(2.0 / n_s) * scale + 10 * dt**2
        np.testing.assert_allclose(got[name], ref, atol=tol, err_msg=name)
    # the paper noise has E[da db] = (kp/4) a b only: the test tells the two apart
    assert np.max(abs(refs["da db"] - kp / 4 * A * B * dt)) > 20 * Z * np.sqrt(2 / n_s) * scale
    # mean increment = the (unchanged) Ito drift
    pa, pb, _ = em_increment(model, a, b, jnp.zeros((5, 2)), dt, 0, tangential=False)
    np.testing.assert_allclose(da.mean(0), np.asarray(pa - a), atol=Z * np.sqrt(scale / n_s))
    np.testing.assert_allclose(db.mean(0), np.asarray(pb - b), atol=Z * np.sqrt(scale / n_s))


def _run_steps(model, z0, n_steps, dt, key, noise, project):
    """``n_steps`` tangential Euler steps of a batch of states, optionally projected."""
    n0 = z0[0] ** 2 + z0[1] ** 2 + z0[2] ** 2 + z0[3] ** 2

    def one(z, w):
        z, _ = em_increment_real(
            model, z, (w[0], w[1], w[2], w[3], None), dt, 0, True, jnp.sqrt, True
        )
        if project:
            r = jnp.sqrt(n0 / (z[0] ** 2 + z[1] ** 2 + z[2] ** 2 + z[3] ** 2))
            z = tuple(x * r for x in z)
        return z, None

    if noise == "two_point":
        dW = jnp.where(jax.random.bernoulli(key, 0.5, (n_steps, 4) + n0.shape), 1.0, -1.0)
    else:
        dW = jax.random.normal(key, (n_steps, 4) + n0.shape)
    z, _ = jax.lax.scan(one, z0, dW * np.sqrt(dt))
    n1 = z[0] ** 2 + z[1] ** 2 + z[2] ** 2 + z[3] ** 2
    return n1, n0


def test_tangential_noise_conserves_spin_length_per_trajectory():
    """``N = |alpha|^2 + |beta|^2`` per trajectory (driven spin Omega = 1.5 with decay and
    gain, S = 20, t = 10, 128 trajectories). The noise is a random rotation and its Ito term
    cancels the ordering drift, so without the constraint N changes only by Euler's O(dt)
    error, dominated by the Hamiltonian step (``|v|^2 -> (1 + Omega^2 dt^2 / 4) |v|^2`` per
    step: ``dN ~ N Omega^2 dt t / 4 = 4.6`` at dt = 0.02; measured mean 3.9, max 6.1), and
    halving dt halves it; with the projection N is conserved to round-off. Paper 003's noise
    makes N diffuse (spread of dN over the trajectories ~19 here, 0.7 tangential).
    """
    S, T, om = 20.0, 10.0, 1.5
    model = lower(tq.SpinModel(S, field={"x": om}, decay=1.0 / S, gain=0.3 / S))
    phase = jax.random.uniform(jax.random.key(0), (128, 1)) * 2 * np.pi
    r = np.sqrt(2 * S + 1)
    z0 = split(r * 0.6 * jnp.exp(1j * phase), r * 0.8 * jnp.ones(phase.shape, complex))
    run = jax.jit(_run_steps, static_argnums=(2, 3, 5, 6))
    dn = {}
    for dt in (0.02, 0.01):
        n1, n0 = run(model, z0, int(T / dt), dt, jax.random.key(1), "two_point", False)
        dn[dt] = np.asarray(n1 - n0)
    euler = r**2 * om**2 * 0.02 * T / 4
    assert np.max(np.abs(dn[0.02])) < 2 * euler, np.max(np.abs(dn[0.02]))
    assert 1.7 < np.mean(dn[0.02]) / np.mean(dn[0.01]) < 2.3  # first order in dt
    assert np.std(dn[0.02]) < 1.5
    for noise in ("two_point", "gaussian"):
        n1, n0 = run(model, z0, int(T / 0.02), 0.02, jax.random.key(2), noise, True)
        np.testing.assert_allclose(np.asarray(n1), np.asarray(n0), rtol=1e-12)
    # the paper noise (no constraint) lets N diffuse: the checks above can fail
    w = jax.random.normal(jax.random.key(3), (int(T / 0.02), 5) + z0[0].shape) * np.sqrt(0.02)

    def paper_step(z, w):
        return em_increment_real(model, z, tuple(w[:4]) + (None,), 0.02, 0)[0], None

    zp, _ = jax.lax.scan(paper_step, z0, w)
    assert np.std(np.asarray(sum(x**2 for x in zp))) > 5.0


def test_spin_jump_tangential_equals_decay_and_gain():
    """``SpinJump`` takes the general tangential formula: for ``c = (1, 0, 0)`` and
    ``(0, 1, 0)`` its increment equals the fused decay/gain increment with the same
    increments (the fused step draws gain's ``xi`` from rows 3-4), to round-off.
    """
    S, kap = 5.0, 0.3
    a = jnp.array([1.2 + 0.5j, 0.3 - 0.1j])
    b = jnp.array([2.0 - 1.0j, 0.2 + 0.4j])
    z = split(a, b)
    w = tuple(jax.random.normal(jax.random.key(7), (4, 2)) * 0.1)
    for c, rows in (((1.0, 0.0, 0.0), (0, 1)), ((0.0, 1.0, 0.0), (2, 3))):
        term = SpinJumpTerm.from_coefficients(jnp.full(2, kap), *(jnp.full(2, x + 0j) for x in c))
        dz, clipped = term.increment(
            z, (w[rows[0]], w[rows[1]], None, None), 0.01, 0, jnp.sqrt, True
        )
        assert not np.any(np.asarray(clipped))
        fused = tq.SpinModel([S, S], decay=kap if c[0] else 0.0, gain=kap if c[1] else 0.0)
        ref, _ = em_increment_real(lower(fused), z, w + (None,), 0.01, 0, True, jnp.sqrt, True)
        for i in range(4):
            np.testing.assert_allclose(z[i] + dz[i], ref[i], rtol=1e-12, atol=1e-12)


def test_diffusion_option_and_representations():
    """``diffusion``: tangential by default for W, paper for P and Q (their exact decay
    diffusion is indefinite at leading order; docs/methods/fidelity.md), paper for
    ``TWOQS.paper``; the choice is reported in the stats; bad values are refused.
    """
    scheme = tq.EulerMaruyama(0.01)
    assert tq.TWOQS(scheme).resolved_diffusion == "tangential"
    assert tq.TWOQS(scheme, "P").resolved_diffusion == "paper"
    assert tq.TWOQS(scheme, "Q").resolved_diffusion == "paper"
    assert tq.TWOQS.paper(scheme).resolved_diffusion == "paper"
    assert tq.TWOQS(scheme, diffusion="paper").resolved_diffusion == "paper"
    with pytest.raises(ValueError, match="diffusion"):
        tq.TWOQS(scheme, diffusion="full")
    with pytest.raises(ValueError, match="representation='Q'"):
        tq.TWOQS(scheme, "Q", diffusion="tangential")
    sol = tq.solve(
        tq.superradiance(5),
        tq.spin_up(),
        tq.SaveAt([0.0, 0.5]),
        tq.TWOQS(scheme),
        n_traj=8,
        key=0,
        observables=("Sz",),
    )
    assert sol.stats["diffusion"] == "tangential"
    assert sol.stats["clip_fraction"] == 0.0


# ---------------------------------------------------------------------------------------
# The driven spin (cooperative resonance fluorescence) against its closed form

# one batch, one window (t_burn = 4 S_max, t_avg = 2.5 S_max: the envelope of the exact
# relaxation above threshold decays as exp(-t / 0.69 S)), Euler dt = 0.05, two-point
DT = 0.05
POINTS = [(S, 1.5) for S in (5, 10, 20, 50, 100)] + [
    (S, om) for om in (0.5, 1.0) for S in (10, 20, 50, 100)
]


@pytest.fixture(scope="module")
def driven():
    models = [tq.driven_spin(S, om) for S, om in POINTS]
    sol = tq.solve(
        stack(*models),
        tq.spin_down(),
        tq.SteadyState(t_burn=400.0, t_avg=250.0, every=10 * DT),
        tq.TWOQS(tq.EulerMaruyama(DT)),
        n_traj=1500,
        key=7,
        observables=("Sz", "Sy", "varz"),
    )
    exact = [tq.exact.driven_spin_steady_state(S, om) for S, om in POINTS]
    return sol, exact


def _value(sol, name, p):
    return float(np.ravel(sol[name][p])[0]), float(np.ravel(sol.error(name)[p])[0])


def test_driven_spin_against_closed_form(driven):
    """Omega = 0.5, 1.0, 1.5 Gamma, S = 10 .. 100 (and 5 above threshold), default method.

    Budgets beyond Z sem (docs/methods/fidelity.md):
    - <S_y>/S: 0.06/S (fitted c = 0.048(4) above threshold; below threshold exact within
      sem), plus 0.006 at threshold (Omega = Gamma: a flat +0.004 inherent to the truncation
      in a window around threshold that shrinks with S);
    - <S_z>/S: 0.05/S + 0.2 dt (Euler's step bias is 0.14 dt), 0.3/S at threshold (measured
      -0.22/S);
    - Var(S_z): 0.5 + 0.75 dt |exact| off threshold (an O(1) excess 0.31-0.33 below threshold
      and Euler's step error ~0.4 dt relative), 10 % at threshold (measured -5..-7 %, flat in
      S: inherent).
    Paper 003's noise fails <S_y>/S (+0.027) and Var(S_z) (-14 %) above threshold.
    """
    sol, exact = driven
    for p, ((S, om), ex) in enumerate(zip(POINTS, exact)):
        thr = om == 1.0
        sy, ey = _value(sol, "Sy", p)
        sz, ez = _value(sol, "Sz", p)
        vz, evz = _value(sol, "varz", p)
        exv = ex["Sz2"] - ex["Sz"] ** 2
        b_y = 0.06 / S + (0.006 if thr else 0.0)
        b_z = (0.3 if thr else 0.05) / S + 0.2 * DT
        b_v = 0.10 * exv if thr else 0.5 + 0.75 * DT * exv
        what = f"S = {S}, Omega = {om}"
        assert abs(sy - ex["Sy"]) / S <= Z * ey / S + b_y, (what, sy / S, ex["Sy"] / S, ey / S)
        assert abs(sz - ex["Sz"]) / S <= Z * ez / S + b_z, (what, sz / S, ex["Sz"] / S, ez / S)
        assert abs(vz - exv) <= Z * evz + b_v, (what, vz, exv, evz)
    assert np.all(np.asarray(sol.stats["clip_fraction"]) == 0)
    # the spin length is conserved by the projection: <N/2 - 1/2> - S is the sampling noise
    # of the Fock-state N (Var N = 1/2) only
    assert sol.stats["spin_drift_max"] <= Z * np.sqrt(1 / 8 / 1500)


def test_driven_spin_error_shrinks_as_one_over_s(driven):
    """Above threshold (Omega = 1.5) the <S_y>/S error of the default method, fitted as
    ``c S^p`` (weighted by the sem) over S = 5 .. 100: p <= -0.8 (measured -1.0 +- 0.1 over
    S = 5 .. 80 with 16000 trajectories; the paper noise gives -0.07). Only S <~ 20 resolve
    the error with this many trajectories (0.05/S is below the sem above S ~ 50); the test at
    S = 50 .. 800 is in tests/test_twa_fidelity.py::test_driven_spin_large_s (slow).
    """
    sol, exact = driven
    idx = [p for p, (_, om) in enumerate(POINTS) if om == 1.5]
    S = np.array([POINTS[p][0] for p in idx])
    err = np.array([(_value(sol, "Sy", p)[0] - exact[p]["Sy"]) / POINTS[p][0] for p in idx])
    sem = np.array([_value(sol, "Sy", p)[1] / POINTS[p][0] for p in idx])
    (c, power), _ = curve_fit(lambda s, c, q: c * s**q, S, err, p0=(0.05, -1.0), sigma=sem)
    assert power <= -0.8, (power, c, err, sem)
    # the S = 5 error is resolved (the fit has something to fit): err/sem at S = 5 is
    # 4.97 +- 0.82 over keys 1-12 (min 3.50), so the threshold is 2 sem, not Z (a detection
    # at Z = 4 failed for 2 of those 12 keys, this fixture's key 7 among them: 3.73)
    assert err[0] > 2 * sem[0], (err[0], sem[0])


@pytest.mark.slow
def test_driven_spin_large_s():
    """Omega = 1.5, S = 50 .. 800 (default method, dt = 0.05, 2000 trajectories each):
    |<S_y>/S error| <= Z sem + 0.06/S at every S, and at S = 200 within 0.005 of the closed
    form (the 2-sem upper bound of the error). A fitted exponent over S = 50 .. 800 is not
    meaningful at CPU-affordable statistics (0.05/S is 1e-3 .. 6e-5, below the sem); the
    exponent is fitted where the error is resolved (S = 5 .. 40) with 16000 trajectories.
    """
    for S in (50, 100, 200, 400, 800):
        ex = tq.exact.driven_spin_steady_state(S, 1.5)
        sol = tq.solve(
            tq.driven_spin(S, 1.5),
            tq.spin_down(),
            tq.SteadyState(t_burn=4.0 * S, t_avg=2.5 * S, every=10 * DT),
            tq.TWOQS(tq.EulerMaruyama(DT)),
            n_traj=2000,
            key=11,
            observables=("Sy",),
        )
        err = (float(np.ravel(sol["Sy"])[0]) - ex["Sy"]) / S
        sem = float(np.ravel(sol.error("Sy"))[0]) / S
        assert abs(err) <= Z * sem + 0.06 / S, (S, err, sem)
        if S == 200:
            assert abs(err) + 2 * sem <= 0.005, (err, sem)
    Ss = np.array([5.0, 10.0, 20.0, 40.0])
    models = [tq.driven_spin(S, 1.5) for S in Ss]
    sol = tq.solve(
        stack(*models),
        tq.spin_down(),
        tq.SteadyState(t_burn=160.0, t_avg=100.0, every=10 * DT),
        tq.TWOQS(tq.EulerMaruyama(DT)),
        n_traj=16000,
        key=12,
        observables=("Sy",),
    )
    err = np.array(
        [
            (float(np.ravel(sol["Sy"][p])[0]) - tq.exact.driven_spin_steady_state(S, 1.5)["Sy"]) / S
            for p, S in enumerate(Ss)
        ]
    )
    sem = np.array([float(np.ravel(sol.error("Sy")[p])[0]) / S for p, S in enumerate(Ss)])
    (c, power), _ = curve_fit(lambda s, c, q: c * s**q, Ss, err, p0=(0.05, -1.0), sigma=sem)
    assert power <= -0.8, (power, c, err, sem)
