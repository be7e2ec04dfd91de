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
