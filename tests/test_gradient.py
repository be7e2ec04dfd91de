"""Pathwise (common random numbers) gradients of TWOQS: against finite differences with the
same random numbers, against the exact steady state, time-resolved, and by the chain rule
over the moments for nonlinear observables.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import exact_steady

import twoqs_jax as tq

S = 20
WINDOW = tq.SteadyState(t_burn=8.0, t_avg=8.0, every=0.1)
METHOD = tq.TWOQS.paper(tq.EulerMaruyama(0.02))
KW = dict(n_traj=256, key=1)


def _make(om):
    return tq.driven_spin(S, om)


def test_gradient_vs_finite_differences_and_exact():
    """d<S_z>/dOmega of the driven spin, S = 20, Omega = 0.5 Gamma (below the transition)."""
    g = tq.gradient(_make, 0.5, tq.spin_down(), WINDOW, METHOD, **KW)
    # the value is the solve's for the same key (same random numbers, same kernel noise)
    ss = tq.solve(_make(0.5), tq.spin_down(), WINDOW, METHOD, observables=("Sz",), **KW)
    np.testing.assert_allclose(g["Sz"], ss["Sz"], rtol=1e-12)
    np.testing.assert_allclose(g.sem["Sz"], ss.sem["Sz"], rtol=1e-9)
    grad, grad_sem = float(g.grad["Sz"][0]), float(g.grad_sem["Sz"][0])
    # central finite differences with the same random numbers: they differ from the pathwise
    # derivative only by O(h^2) and by trajectories crossing the W clip boundary between
    # Omega +- h (not seen pathwise); both are far below one standard error.
    h = 1e-4
    fd = (
        tq.gradient(_make, 0.5 + h, tq.spin_down(), WINDOW, METHOD, **KW)["Sz"][0]
        - tq.gradient(_make, 0.5 - h, tq.spin_down(), WINDOW, METHOD, **KW)["Sz"][0]
    ) / (2 * h)
    assert abs(fd - grad) <= grad_sem, (fd, grad, grad_sem)
    # exact: central differences of the QuTiP steady state. Bias budget 10 % of the exact
    # derivative: TWOQS is O(1/S) = 5 % at S = 20 (measured <S_z>: -17.75 +- 0.43 vs exact
    # -17.31), the FD step error of the exact curve is ~1e-4.
    ex = [exact_steady(_make(om), observables=("Sz",))["Sz"][0] for om in (0.49, 0.51)]
    d_exact = (ex[1] - ex[0]) / 0.02
    assert d_exact > 5  # the observable does depend on Omega: the comparison can fail
    assert abs(grad - d_exact) <= 3 * grad_sem + 0.1 * d_exact, (grad, grad_sem, d_exact)


@pytest.mark.slow  # ~1 minute on 2 cores; the default suite checks time-resolved and
# variance gradients against exact derivatives (..._match_exact_driven_spin, below)
def test_time_resolved_and_nonlinear_gradients():
    """Saving times give time-resolved gradients; a variance gets its gradient by the chain
    rule over the moments. Both against central finite differences with the same random
    numbers (float64: the differences are O(h^2) = 1e-8 relative and the path is smooth
    away from clip events, so 1e-4 relative plus 1e-6 absolute covers them).
    """
    save = tq.SaveAt([0.0, 0.5, 1.0])
    method = tq.TWOQS(tq.EulerMaruyama(0.01))
    kw = dict(n_traj=64, key=3, observables=("Sz", "varz", "xi2"))

    def make(p):
        return tq.driven_spin(10, p["Omega"], p["Gamma"])

    p = {"Omega": 1.2, "Gamma": 1.0}
    g = tq.gradient(make, p, tq.spin_down(), save, method, **kw)
    assert g["Sz"].shape == (3, 1) and g.grad["varz"]["Omega"].shape == (3, 1)
    assert g.grad["xi2"]["Gamma"].shape == (3,)
    h = 1e-5
    for name in ("Omega", "Gamma"):
        up = tq.gradient(make, {**p, name: p[name] + h}, tq.spin_down(), save, method, **kw)
        dn = tq.gradient(make, {**p, name: p[name] - h}, tq.spin_down(), save, method, **kw)
        for obs in ("Sz", "varz", "xi2"):
            fd = (np.asarray(up[obs]) - np.asarray(dn[obs])) / (2 * h)
            np.testing.assert_allclose(g.grad[obs][name], fd, rtol=1e-4, atol=1e-6)
    # at the initial time nothing depends on the parameters
    assert np.all(g.grad["Sz"]["Omega"][0] == 0)
    # and later it does (the comparison above can fail)
    assert abs(g.grad["Sz"]["Omega"][-1, 0]) > 10 * g.grad_sem["Sz"]["Omega"][-1, 0]
    # the nonlinear values equal the solve's (jackknife over the same groups)
    sol = tq.solve(make(p), tq.spin_down(), save, method, **kw)
    for obs in ("Sz", "varz", "xi2"):
        np.testing.assert_allclose(g[obs], sol[obs], rtol=1e-10)
        np.testing.assert_allclose(g.sem[obs], sol.sem[obs], rtol=1e-8)


@pytest.mark.slow
def test_reverse_mode_equals_forward_dict_params():
    """jax.jacrev with jax.checkpoint per block == jax.jvp, for a dict of two parameters."""

    def make(p):
        return tq.driven_spin(S, p["Omega"], p["Gamma"])

    p = {"Omega": 0.5, "Gamma": 1.0}
    kw = KW | dict(n_traj=64)
    f = tq.gradient(make, p, tq.spin_down(), WINDOW, METHOD, mode="forward", **kw)
    r = tq.gradient(make, p, tq.spin_down(), WINDOW, METHOD, mode="reverse", **kw)
    for name in p:
        np.testing.assert_allclose(r.grad["Sz"][name], f.grad["Sz"][name], rtol=1e-9)
    assert f.grad["Sz"]["Gamma"][0] < 0  # more decay pulls S_z down


def test_bad_gradient_input():
    with pytest.raises(ValueError, match="observable"):
        tq.gradient(_make, 0.5, tq.spin_down(), WINDOW, METHOD, observables=("Sw",), **KW)
    with pytest.raises(ValueError, match="mode"):
        tq.gradient(_make, 0.5, tq.spin_down(), WINDOW, METHOD, mode="backward", **KW)
    with pytest.raises(ValueError, match="make_model"):
        tq.gradient(3, 0.5, tq.spin_down(), WINDOW, METHOD, **KW)
    with pytest.raises(ValueError, match="method"):
        tq.gradient(_make, 0.5, tq.spin_down(), WINDOW, tq.MeanField(), **KW)
    # a jnp parameter works like a float
    g = tq.gradient(_make, jnp.asarray(0.5), tq.spin_down(), WINDOW, METHOD, n_traj=4, key=0)
    assert np.shape(g.grad["Sz"]) == (1,)


# ------------------------------------------- time-resolved and variance gradients vs exact
SAVE3 = tq.SaveAt([0.0, 1.0, 2.0, 3.0])


def _check_against_exact(grad, grad_sem, exact, bias):
    """|TWOQS - exact| <= 3 sem + bias |exact| at every saving time after the first."""
    d, e, x = (np.ravel(np.asarray(a))[1:] for a in (grad, grad_sem, exact))
    assert np.all(np.abs(d - x) <= 3 * e + bias * np.abs(x)), (d, e, x)
    return d, e, x


@pytest.mark.parametrize(
    "estimator",
    [
        "pathwise",
        pytest.param("likelihood_ratio", marks=pytest.mark.slow),
        pytest.param("finite_difference", marks=pytest.mark.slow),
    ],
)
@pytest.mark.filterwarnings("ignore:the likelihood-ratio score could not match")
def test_time_resolved_and_variance_gradients_match_exact_driven_spin(estimator):
    """d<S_z>(t)/dOmega and dVar(S_z)(t)/dOmega of the driven spin above threshold (S = 20,
    Omega = 1.5), t = 1, 2, 3, against the exact time-resolved derivative (Liouvillian
    tangent, tq.exact.derivative). Bias budget 2/S |exact| = 10 %: TWOQS's own O(1/S) error
    (measured, 1024 trajectories, key 6: pathwise S_z within 1 %, Var S_z within 5 %;
    likelihood ratio within 4 % and 17 % at 0.2-0.5 sem; finite difference h = 0.02: the
    central difference of the exact curve is within 0.1 % of its derivative).
    """
    S = 20

    def make(om):
        return tq.driven_spin(S, om)

    obs = ("Sz", "varz")
    est = {
        "pathwise": tq.Pathwise(),
        "likelihood_ratio": tq.LikelihoodRatio(),
        "finite_difference": tq.FiniteDifference(h=0.02),  # exact difference bias < 0.2 %
    }[estimator]
    g = tq.gradient(
        make, 1.5, tq.spin_down(), SAVE3, tq.TWOQS(tq.EulerMaruyama(0.01)),
        n_traj=1024, key=6, observables=obs, estimator=est,
    )  # fmt: skip
    ex = tq.exact.derivative(make, 1.5, tq.spin_down(), SAVE3, observables=obs)
    for o in obs:
        d, e, x = _check_against_exact(g.grad[o], g.grad_sem[o], ex.grad[o], 2 / S)
        if o == "Sz":  # precise enough that the comparison can fail
            assert np.all(e < 0.1 * np.abs(x)) and np.all(np.abs(x) > 5), (e, x)
    if estimator == "likelihood_ratio":
        # the score matches the drift's tangent almost everywhere (the warning says where not)
        assert g.stats["lr_unmatched_fraction"] < 1e-4


def test_variance_and_squeezing_gradients_match_exact_one_axis_twisting():
    """One-axis twisting with decay, S = 50, from m = -S: the time-resolved derivatives of
    <S_z>, Var(S_y) and xi^2 in the twisting strength g and the decay rate Gamma (a rate:
    pathwise) against the exact ones. Bias budget 10 % of |exact|: TWOQS's own error of
    these derivatives, measured +4-5 % at S = 50 (4000 trajectories; finite differences of
    tq.solve with the same key agree with the pathwise derivative to 1e-3 there), not an
    estimator bias: the values share it (Var S_y at t = 3: 130.6 +- 2.6 against exact 125.0,
    the same 4 % at S = 200 against cumulants: the O(1) depletion near the dark state).
    """
    S = 50

    def make(p):
        return tq.one_axis_twisting(S, p["g"], Gamma=p["Gamma"])

    p = {"g": 1.0, "Gamma": 0.2}
    obs = ("Sz", "vary", "xi2")
    g = tq.gradient(
        make, p, tq.spin_down(), SAVE3, tq.TWOQS(tq.EulerMaruyama(0.01)),
        n_traj=1024, key=5, observables=obs,
    )  # fmt: skip
    ex = tq.exact.derivative(make, p, tq.spin_down(), SAVE3, observables=obs)
    for o in obs:
        for name in p:
            d, e, x = _check_against_exact(
                g.grad[o][name], g.grad_sem[o][name], ex.grad[o][name], 0.1
            )
            # squeezing improves with g and degrades with Gamma: the signs are resolved
            assert np.all(np.abs(d) > 3 * e), (o, name, d, e)
    # the value itself agrees with exact (the derivative is of the right quantity)
    assert np.all(np.abs(g["xi2"][1:] - ex["xi2"][1:]) <= 3 * g.sem["xi2"][1:] + 0.05)
