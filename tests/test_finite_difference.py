"""tq.FiniteDifference: central differences with common random numbers
(twoqs_jax/_finite_difference.py, docs/methods/gradients.md#finite-difference).

The reducers on polynomials (exact), common random numbers (at a tiny step the paired
difference equals the pathwise derivative of the same key), the driven spin's steady-state
derivatives in the drive and in the decay rate (a rate: the likelihood ratio does not cover
it) against the closed form, the honesty of the standard error over keys, bad input, and
(slow) the LMG dimer at lambda = 1 against the Liouvillian derivative.
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import twoqs_jax as tq
from twoqs_jax import _finite_difference as fdm

METHOD = tq.TWOQS(tq.EulerMaruyama(dt=0.01))


# ------------------------------------------------------------------ reducers
@pytest.mark.parametrize("richardson", [False, True])
def test_differences_of_polynomials(richardson):
    """Central difference exact for a quadratic; Richardson exact for a quartic; the points
    are 0, +-h e_j (then +-2h e_j), parameters last in the result.
    """
    h, p = 0.3, np.array([0.7, -1.2])
    pts = p + fdm.offsets(2, h, richardson)
    assert pts.shape == (9 if richardson else 5, 2) and np.all(pts[0] == p)

    def f(x):  # (K, 2) -> (K, 3): a quartic in x0, a quadratic in x1
        return np.stack([x[:, 0] ** 4 + x[:, 1] ** 2, 3 * x[:, 1], x[:, 0] * x[:, 1]], -1)

    grad = np.array([[4 * p[0] ** 3, 2 * p[1]], [0, 3], [p[1], p[0]]])
    d = fdm.differences(f(pts)[None], 2, h, richardson)[0]
    assert d.shape == (3, 2)
    err = np.abs(d - grad)
    if richardson:
        assert np.all(err < 1e-12), d
    else:  # the quartic leaves h^2 f'''/6 = 4 p0 h^2
        assert abs(err[0, 0] - 4 * p[0] * h**2) < 1e-12 and np.all(np.delete(err, 0) < 1e-12)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("h", [0.0, -0.1, float("nan"), float("inf"), "0.1", True, None])
def test_bad_step_is_named(h):
    with pytest.raises(ValueError, match=r"`h` must be a finite step > 0.*got"):
        tq.FiniteDifference(h=h)


def test_bad_richardson_is_named():
    with pytest.raises(ValueError, match="`richardson` must be True or False, got 'yes'"):
        tq.FiniteDifference(h=0.1, richardson="yes")  # type: ignore[arg-type]


def test_step_outside_the_models_domain_is_refused_before_any_run():
    """Gamma - h < 0 is not a model: the error names h and the point, before compiling."""

    def make(p):
        return tq.driven_spin(10, p["Omega"], p["Gamma"])

    with pytest.raises(ValueError, match=r"`h`=0.2 of tq.FiniteDifference moves the parameters"):
        tq.gradient(
            make, {"Omega": 1.0, "Gamma": 0.1}, tq.spin_down(), tq.SaveAt([0.0, 1.0]), METHOD,
            n_traj=8, key=0, estimator=tq.FiniteDifference(h=0.2),
        )  # fmt: skip


def test_step_lost_to_rounding_is_refused_and_rounded_steps_are_divided_by():
    """In float32 p +- h rounds: a step lost to rounding is an error naming h (before any
    run); a rounded step is what the difference quotient divides by.
    """

    def make(p):
        return tq.driven_spin(10, p["Omega"], 1.0)

    with pytest.raises(ValueError, match=r"`h`=1e-08 of tq.FiniteDifference is lost to rounding"):
        tq.gradient(
            make, {"Omega": 0.5}, tq.spin_down(), tq.SaveAt([0.0, 1.0]), METHOD,
            n_traj=8, key=0, estimator=tq.FiniteDifference(h=1e-8),
            options=tq.Options(dtype="float32"),
        )  # fmt: skip
    vec = jnp.asarray([0.5], jnp.float64)
    pts = fdm.check_points(
        lambda v: make({"Omega": v[0]}), vec, lambda v: v, 1e-5, False, jnp.float32
    )
    run = pts[1, 0] - pts[2, 0]
    assert run != 2e-5 and abs(run - 2e-5) < 1e-7  # float32 spacing near 0.5 is 6e-8
    vals = (pts[:, 0] ** 2)[None]  # a quadratic: the quotient over the points run is p+ + p-
    d = fdm.piece({"q": vals}, pts, 1e-5, False)["d/q"][0, 0]
    assert abs(d - (pts[1, 0] + pts[2, 0])) < 1e-12
    assert abs(d - (pts[1, 0] ** 2 - pts[2, 0] ** 2) / 2e-5) > 1e-6  # not over the nominal 2h


# ------------------------------------------------------------------ common random numbers
def _driven(p):
    return tq.driven_spin(20, p["Omega"], p["Gamma"])


WINDOW = tq.SteadyState(t_burn=8.0, t_avg=8.0, every=0.1)
PARAMS = {"Omega": 0.5, "Gamma": 1.0}


@pytest.mark.slow  # two compilations (~12 s); common random numbers are also what makes the
# default-suite test below precise (its sem < 3 % of |exact| at 512 trajectories)
def test_tiny_step_equals_the_pathwise_derivative():
    """At h = 1e-5 the paired difference of every trajectory is its pathwise derivative (same
    key, same initial sample and increments at p +- h: common random numbers); with
    independent numbers at the two points it would be O(1/h) off. Values equal tq.solve's
    run at p.
    """
    kw = dict(n_traj=16, key=4, observables=("Sz",))
    short = tq.SteadyState(t_burn=2.0, t_avg=2.0, every=0.1)
    fd = tq.gradient(_driven, PARAMS, tq.spin_down(), short, METHOD, **kw,
                     estimator=tq.FiniteDifference(h=1e-5))  # fmt: skip
    pw = tq.gradient(_driven, PARAMS, tq.spin_down(), short, METHOD, **kw)
    for name in PARAMS:
        a, b = fd.grad["Sz"][name], pw.grad["Sz"][name]
        assert np.allclose(a, b, rtol=1e-5, atol=1e-6), (name, a, b)
        assert np.allclose(fd.grad_sem["Sz"][name], pw.grad_sem["Sz"][name], rtol=1e-4)
    assert np.array_equal(fd.mean["Sz"], pw.mean["Sz"])
    assert fd.stats["estimator"] == "FiniteDifference" and fd.stats["h"] == 1e-5
    assert fd.stats["n_points"] == 5 and fd.stats["richardson"] is False


# ------------------------------------------------------------------ against the closed form
def test_driven_spin_matches_closed_form_with_honest_errors():
    """d(<S_z>/S)/dOmega and d(<S_z>/S)/dGamma of the driven spin below threshold (S = 20,
    Omega = 0.5, Gamma = 1; Gamma is a jump rate, which the likelihood ratio does not cover),
    h = 0.05, 8 keys of 64 trajectories (one compilation).

    Honesty: per parameter, sum z^2 of the 8 estimates around their pooled mean is chi^2 with
    7 degrees of freedom when the standard errors are honest; the interval [0.60, 22.5]
    holds 99.7 % of it (0.1 % below, 0.2 % above). Accuracy: the pooled estimate against the
    closed form (exact +0.5805 and
    -0.2903) within 3 pooled sem + budget; budget = |exact central difference at h - exact|
    (closed form at p +- h) + 2 % of |exact|: TWOQS's own error below threshold (pathwise
    -0.3 %, docs/methods/gradients.md) and the finite window (t_burn = 8, relaxation time
    ~ 1/Gamma).
    """
    S, h = 20, 0.05
    est, ds, es = tq.FiniteDifference(h=h), [], []
    for key in range(100, 108):
        g = tq.gradient(_driven, PARAMS, tq.spin_down(), WINDOW, METHOD, n_traj=64, key=key,
                        observables=("Sz",), estimator=est)  # fmt: skip
        ds.append([float(g.grad["Sz"][n][0]) / S for n in ("Omega", "Gamma")])
        es.append([float(g.grad_sem["Sz"][n][0]) / S for n in ("Omega", "Gamma")])
    ds, es = np.array(ds), np.array(es)
    w = 1 / es**2
    pooled, pooled_sem = np.sum(w * ds, 0) / np.sum(w, 0), 1 / np.sqrt(np.sum(w, 0))
    chi2 = np.sum(((ds - pooled) / es) ** 2, 0)
    assert np.all((0.60 < chi2) & (chi2 < 22.5)), (chi2, ds, es)
    exact = tq.exact.driven_spin_steady_state_derivative(S, 0.5, 1.0)
    for j, name in enumerate(("Omega", "Gamma")):
        x = exact[name]["Sz"] / S
        plus = dict(PARAMS, **{name: PARAMS[name] + h})
        minus = dict(PARAMS, **{name: PARAMS[name] - h})
        cd = (
            tq.exact.driven_spin_steady_state(S, **plus)["Sz"]
            - tq.exact.driven_spin_steady_state(S, **minus)["Sz"]
        ) / (2 * h * S)
        d, e = pooled[j], pooled_sem[j]
        assert e < 0.03 * abs(x), (name, e, x)  # precise enough that the comparison can fail
        assert abs(d - x) <= 3 * e + abs(cd - x) + 0.02 * abs(x), (name, d, e, x, cd)


# ------------------------------------------------------------------ LMG dimer (issue 19)
LMG_EXACT = 0.0621256  # dZ_A/dlambda at lambda = 1, S = 10, J = 0 (tq.exact.derivative)
LMG_CD_BIAS = 0.0023563  # exact central difference at h = 0.1 minus LMG_EXACT


@pytest.mark.slow
def test_lmg_dimer_stationary_derivative_within_target():
    """LMG dimer (paper 000) S = 10, J = 0, lambda = 1, dZ_A/dlambda = +0.0621 (Liouvillian):
    the derivative the pathwise estimator cannot give (positive Lyapunov exponent) and the
    tapered likelihood ratio gives at sem@1e4 / |exact| = 123 % (t_avg = 100). h = 0.1,
    t_burn = 140, t_avg = 400, 1024 trajectories. Target: sem rescaled to 1e4 trajectories
    below 20 % of |exact|. Budget: |exact central difference at h - exact| = 0.0024 (exact
    steady states at lambda +- h) + 3/S |exact| = 0.019 (TWOQS's O(1/S) error; its value
    bias of Z_A at lambda +- 0.1 was measured at +0.004 +- 0.010 and +0.005 +- 0.009,
    1024 trajectories, t_avg = 100: python benchmarks/gradient_fd.py); 3 sem on top.
    """
    S, N = 10, 1024

    def make(lam):
        return tq.lmg_dimer(S, 0.0, lam)

    state = tq.SpinCoherentState(theta=np.array([np.pi, 0.0]), phi=np.zeros(2))
    g = tq.gradient(
        make, 1.0, state, tq.SteadyState(t_burn=140.0, t_avg=400.0, every=0.1), METHOD,
        n_traj=N, key=3, observables=("Sz",), estimator=tq.FiniteDifference(h=0.1),
    )  # fmt: skip
    d, e = float(g.grad["Sz"][0]) / S, float(g.grad_sem["Sz"][0]) / S
    assert e * math.sqrt(N / 1e4) < 0.2 * LMG_EXACT, (d, e)
    assert abs(d - LMG_EXACT) <= 3 * e + LMG_CD_BIAS + 3 / S * LMG_EXACT, (d, e)
