"""Fixed points, stability, classification and phase boundaries of the LMG dimer (paper 000)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twoqs_jax as tq

# the bisection's model builder and the class codes of tq.analysis.Dynamics: no public names
from twoqs_jax._analysis.boundaries import _dimer_of_J
from twoqs_jax._analysis.dynamics import FIXED_POINT, IRREGULAR, LIMIT_CYCLE

G, GAMMA = 1.0, 0.5


def test_normal_state_eigenvalues_analytic():
    # At lambda = 0 the sites decouple. Linearising Eqs 6-7 at Z_A = -1 gives
    # [[-gamma, g], [-(g + 2J), -gamma]], i.e. -gamma +- i sqrt(g (g + 2J)); at Z_B = +1
    # (gain) -gamma +- i sqrt(g (g - 2J)).
    J = 0.3
    ev = np.asarray(
        tq.analysis.stability_eigenvalues(
            tq.lmg_dimer(1, J, 0.0, G, GAMMA), tq.analysis.LMG_DIMER_NORMAL_STATE
        )
    )
    want = [-GAMMA + s * 1j * np.sqrt(G * (G + t * 2 * J)) for t in (1, -1) for s in (1, -1)]
    np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(want), atol=1e-12)


def test_normal_state_is_the_unique_stable_fixed_point_at_zero_couplings():
    fps = tq.analysis.find_fixed_points(tq.lmg_dimer(1, 0.0, 0.0, G, GAMMA), n_init=16)
    assert fps.n_stable == 1
    np.testing.assert_allclose(
        fps.points[fps.stable][0], tq.analysis.LMG_DIMER_NORMAL_STATE, atol=1e-10
    )
    # every point found is a root of the mean-field equations on the spheres
    f = tq.analysis.meanfield_rhs(tq.lmg_dimer(1, 0.0, 0.0, G, GAMMA))
    for p in fps.points:
        assert np.max(np.abs(f(0.0, jnp.asarray(p), None))) < 1e-9
        np.testing.assert_allclose(np.linalg.norm(p, axis=-1), 1.0, atol=1e-10)


@pytest.mark.parametrize("J", [1.0, -1.0])
def test_two_stable_fixed_points_in_each_lmg_phase(J):
    model = tq.lmg_dimer(1, J, 0.1, G, GAMMA)
    fps = tq.analysis.find_fixed_points(model, n_init=16)
    assert fps.n_stable == 2
    a, b = fps.points[fps.stable]
    # The Z2 symmetry (X, Y) -> (-X, -Y) on both sites maps one onto the other.
    np.testing.assert_allclose(a * [-1, -1, 1], b, atol=1e-9)
    # J > 0 orders the gain spin B, J < 0 the loss spin A (paper 000, text after Fig. 2).
    ordered = 1 if J > 0 else 0
    assert np.hypot(a[ordered, 0], a[ordered, 1]) > 0.5
    assert np.hypot(a[1 - ordered, 0], a[1 - ordered, 1]) < 0.1
    # and the normal state is unstable there
    assert float(tq.analysis.growth_rate(model, tq.analysis.LMG_DIMER_NORMAL_STATE)) > 0


def test_no_stable_fixed_point_in_pt_phase():
    assert (
        tq.analysis.find_fixed_points(tq.lmg_dimer(1, 0.0, 0.8, G, GAMMA), n_init=16).n_stable == 0
    )


def test_Jc_newton_equals_bisection_and_eq12():
    for lam in (0.1, 0.35):
        jc = tq.analysis.lmg_dimer_critical_J(lam, g=G, gamma=GAMMA)
        ref = tq.analysis.bisect_boundary(
            _dimer_of_J, tq.analysis.LMG_DIMER_NORMAL_STATE, 0.3, 1.5, (lam, G, GAMMA)
        )
        assert abs(jc - ref) < 1e-10
        # Eq. 12 is exact: agreement to round-off
        assert abs(jc - float(tq.analysis.lmg_dimer_critical_J_closed_form(lam, G, GAMMA))) < 1e-12
        jc_neg = tq.analysis.lmg_dimer_critical_J(lam, g=G, gamma=GAMMA, J0=-0.6)
        assert abs(jc_neg + jc) < 1e-12


def test_lambda_c_eq13_is_a_small_J_expansion():
    # Eq. 13 differs from the exact lambda_c(J) at O(J^4): halving J divides the error by 16.
    err = [
        tq.analysis.lmg_dimer_critical_lambda(J, g=G, gamma=GAMMA)
        - float(tq.analysis.lmg_dimer_critical_lambda_small_J(J, G))
        for J in (0.1, 0.05)
    ]
    assert abs(err[0]) < 5e-5
    assert 16 / 1.1 < err[0] / err[1] < 16 * 1.1
    # and at J = 0 the PT threshold lambda_c = gamma holds for other gamma too (Eq. 13's
    # g/2 is gamma = g/2, its setting)
    assert abs(tq.analysis.lmg_dimer_critical_lambda(0.0, g=G, gamma=0.3) - 0.3) < 1e-10


def test_boundary_bad_input():
    with pytest.raises(ValueError, match="no sign change"):
        tq.analysis.bisect_boundary(
            _dimer_of_J, tq.analysis.LMG_DIMER_NORMAL_STATE, 0.0, 0.3, (0.2, G, GAMMA)
        )
    with pytest.raises(ValueError, match="lower"):
        tq.analysis.bisect_boundary(
            _dimer_of_J, tq.analysis.LMG_DIMER_NORMAL_STATE, 1.0, 0.3, (0.2, G, GAMMA)
        )
    # At lambda = 0 the growth rate is flat (-gamma) for |J| < J_c: Newton cannot move.
    with pytest.raises(RuntimeError, match="did not converge"):
        tq.analysis.find_boundary(
            _dimer_of_J, tq.analysis.LMG_DIMER_NORMAL_STATE, 0.0, (0.0, G, GAMMA)
        )
    with pytest.raises(ValueError, match="p0"):
        tq.analysis.find_boundary(
            _dimer_of_J, tq.analysis.LMG_DIMER_NORMAL_STATE, float("nan"), (0.0, G, GAMMA)
        )
    with pytest.raises(ValueError, match="tangent"):
        tq.analysis.stability_eigenvalues(tq.SpinModel(1, dephasing=0.1), jnp.array([[0, 0, 1.0]]))


@pytest.mark.slow
def test_classify_dynamics_fixed_point_limit_cycle_chaos():
    y0 = jnp.asarray([[[0.6, 0.0, 0.8], [0.0, 0.6, -0.8]]])
    classes = [
        int(tq.analysis.classify_dynamics(tq.lmg_dimer(1, J, lam, G, GAMMA), y0).classes[0])
        for J, lam in ((0.0, 0.0), (0.0, 0.8), (-1.5, 0.9))
    ]
    assert classes == [FIXED_POINT, LIMIT_CYCLE, IRREGULAR]


def _drive(p, args):
    return tq.driven_spin(1, p, 1.0)


def _dimer(J, args):
    return tq.lmg_dimer(1, J, 0.1, G, GAMMA)


def _z0(y):
    return y[0, 2]


def _zB(y):
    return y[1, 2]


def test_steady_state_gradients_match_finite_differences():
    # Driven spin below threshold: Z* = -sqrt(1 - Omega^2) (Gamma = 1), dZ*/dOmega analytic.
    y0 = jnp.array([[0.0, 0.5, -0.8]])
    om, h = 0.5, 1e-5
    val, grad = tq.analysis.steady_state_gradient(_drive, om, y0, _z0)
    fd = (
        tq.analysis.steady_state_gradient(_drive, om + h, y0, _z0)[0]
        - tq.analysis.steady_state_gradient(_drive, om - h, y0, _z0)[0]
    ) / (2 * h)
    np.testing.assert_allclose(val, -np.sqrt(1 - om**2), rtol=1e-12)
    np.testing.assert_allclose(grad, om / np.sqrt(1 - om**2), rtol=1e-10)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    # through the time integration (relaxed by t = 100: rate Gamma/2 ... e^-50)
    val_t, grad_t = tq.analysis.steady_state_gradient(
        _drive, om, jnp.array([[0, 0, -1.0]]), _z0, method="time", t_final=100.0
    )
    fd_t = (
        tq.analysis.steady_state_gradient(
            _drive, om + h, jnp.array([[0, 0, -1.0]]), _z0, method="time", t_final=100.0
        )[0]
        - tq.analysis.steady_state_gradient(
            _drive, om - h, jnp.array([[0, 0, -1.0]]), _z0, method="time", t_final=100.0
        )[0]
    ) / (2 * h)
    np.testing.assert_allclose(grad_t, fd_t, rtol=1e-6)
    np.testing.assert_allclose(grad_t, grad, rtol=1e-6)


def test_dimer_ordered_state_gradient_in_J():
    # d Z_B / dJ of the LMG-phase fixed point (a coupling of the Hamiltonian) vs finite differences
    fps = tq.analysis.find_fixed_points(_dimer(1.0, None), n_init=16)
    y0 = jnp.asarray(fps.points[fps.stable][0])
    h = 1e-5
    _, grad = tq.analysis.steady_state_gradient(_dimer, 1.0, y0, _zB)
    fd = (
        tq.analysis.steady_state_gradient(_dimer, 1.0 + h, y0, _zB)[0]
        - tq.analysis.steady_state_gradient(_dimer, 1.0 - h, y0, _zB)[0]
    ) / (2 * h)
    assert abs(float(grad)) > 0.1
    np.testing.assert_allclose(grad, fd, rtol=1e-6)


def test_optax_tunes_drive_to_target():
    # Z* = -0.6 needs Omega = 0.8 exactly (Z* = -sqrt(1 - Omega^2)). Standard promotion here
    # only: optax's adam mixes a Python float with its int32 step count.
    with jax.numpy_dtype_promotion("standard"):
        p, hist = tq.analysis.tune_parameter(
            _drive,
            0.3,
            jnp.array([[0.0, 0.3, -0.95]]),
            _z0,
            -0.6,
            learning_rate=0.05,
            steps=400,
            tol=1e-8,
        )
    assert abs(p - 0.8) < 1e-6
    assert abs(hist[-1][1] + 0.6) < 1e-8
