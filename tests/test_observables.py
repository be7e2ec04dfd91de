"""One observable registry that every backend reads: an observable added here, through the
registry alone, works in TWOQS, mean field, cumulants, exact (time-resolved and steady),
the linearised theory and the central-spin solvers.
"""

import numpy as np
import pytest
from helpers import exact_steady, paper

import twoqs_jax as tq

# a linear observable (averaged per trajectory by TWOQS) and a nonlinear one (from the means,
# with a jackknife error), registered once for every backend
TRANSVERSE = tq.register_observable(
    "test_transverse2",
    needs=("Sx2", "Sy2"),
    fn=lambda m, spin: m["Sx2"] + m["Sy2"],
    linear=True,
    doc="<S_x^2> + <S_y^2>",
)
CONTRAST = tq.register_observable(
    "test_z_contrast",
    needs=("Sz", "Sz2"),
    fn=lambda m, spin: (m["Sz2"] - m["Sz"] ** 2) / spin**2,
    linear=False,
    doc="Var(S_z) / S^2",
)
NAMES = ("Sx2", "Sy2", "Sz", "Sz2", "test_transverse2", "test_z_contrast")


def _check(sol):
    np.testing.assert_allclose(sol["test_transverse2"], sol["Sx2"] + sol["Sy2"], rtol=1e-12)
    S = np.asarray(sol.stats.get("spin", 1.0))
    ref = (sol["Sz2"] - sol["Sz"] ** 2) / S**2
    np.testing.assert_allclose(sol["test_z_contrast"], ref, rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def model():
    return tq.driven_spin(4, 0.7)


def test_registered_observables_in_every_spin_model_backend(model):
    save = tq.SaveAt([0.0, 0.5, 1.0])
    sols = [
        tq.solve(model, tq.spin_down(), save, tq.MeanField(), observables=NAMES),
        tq.solve(model, tq.spin_down(), save, tq.Cumulants(), observables=NAMES),
        tq.solve(model, tq.spin_down(), save, tq.Exact(), observables=NAMES),
        exact_steady(model, observables=NAMES),
    ]
    for sol in sols:
        sol.stats["spin"] = 4.0
        _check(sol)
    # the deterministic values are the physics, not zeros: Var(S_z) of the exact steady state
    assert float(sols[-1]["test_z_contrast"][0]) > 0.005
    # TWOQS: the linear one per trajectory (its standard error is that of the per-trajectory
    # sums, so it differs from combining the errors of Sx2 and Sy2), the nonlinear one from
    # the means with a jackknife error
    tw = tq.solve(model, tq.spin_down(), save, paper(0.01), n_traj=200, key=0, observables=NAMES)
    tw.stats["spin"] = 4.0
    _check(tw)
    assert np.all(tw.error("test_transverse2")[1:] > 0)
    assert np.all(tw.error("test_z_contrast")[1:] > 0)
    # and TWOQS agrees with exact within its budget (O(S) on second moments: 0.8 S)
    ex = sols[2]
    dev = np.abs(tw["test_transverse2"] - ex["test_transverse2"])
    assert np.all(dev <= 4 * tw.error("test_transverse2") + 0.8 * 4)


def test_registered_observables_in_the_linear_theory_and_gradient():
    chain = tq.heisenberg_chain(4, 50, Jx=0.1, Jy=-0.1, Gamma=1.0)
    lin = tq.lattice.linear_steady_state(chain, observables=NAMES)
    lin.stats["spin"] = 50.0
    _check(lin)
    g = tq.gradient(
        lambda om: tq.driven_spin(4, om),
        0.7,
        tq.spin_down(),
        tq.SaveAt([0.0, 0.5]),
        paper(0.01),
        n_traj=32,
        key=1,
        observables=("test_transverse2", "test_z_contrast"),
    )
    assert g.grad["test_transverse2"].shape == (2, 1)
    assert np.all(np.isfinite(g.grad["test_z_contrast"]))


def test_registered_observables_in_the_central_spin_solvers():
    m = tq.central.CentralSpinModel(
        4, omega=1.0, eps=1.0, g=0.5, kappa=1.0, Gamma_up=1.0, Gamma_down=0.5
    )
    names = ("Sz", "Sz2", "test_z_contrast", "varz")
    for method in (tq.Exact(), tq.Cumulants(order=2)):
        sol = tq.solve(m, None, tq.SteadyState(), method, observables=names)
        spin = np.array([0.5, 2.0])
        np.testing.assert_allclose(
            sol["test_z_contrast"], (sol["Sz2"] - sol["Sz"] ** 2) / spin**2, rtol=1e-9
        )
    # the shared names map onto the model's own moments
    np.testing.assert_allclose(sol["Sz"][0], np.real(sol["sz0"]) / 2, rtol=1e-12)
    np.testing.assert_allclose(sol["Sz"][1], 4 * np.real(sol["szn"]) / 2, rtol=1e-12)
    # an observable that needs a primitive the backend does not provide is refused by name
    with pytest.raises(ValueError, match="test_transverse2.*Sx2"):
        tq.solve(m, None, tq.SteadyState(), tq.Exact(), observables=("test_transverse2",))


def test_registry_errors():
    with pytest.raises(ValueError, match="registered already"):
        tq.register_observable("varx", ("Sx",), lambda m, s: m["Sx"], linear=True)
    with pytest.raises(ValueError, match="primitive"):
        tq.Observable("bad", ("Sw",), lambda m, s: m["Sw"], linear=True)
    with pytest.raises(ValueError, match="primitive moment"):
        tq.register_observable("Sx", ("Sx",), lambda m, s: 2 * m["Sx"], linear=True)
    f = tq.PhaseSpaceFunction("nb", lambda a, b: abs(b) ** 2)
    with pytest.raises(ValueError, match="PhaseSpaceFunction"):
        tq.solve(
            tq.driven_spin(2, 1.0),
            tq.spin_down(),
            tq.SaveAt([0.0, 1.0]),
            tq.MeanField(),
            observables=(f,),
        )
    with pytest.raises(ValueError, match="spin_drift"):
        tq.solve(
            tq.driven_spin(2, 1.0),
            tq.spin_down(),
            tq.SaveAt([0.0, 1.0]),
            tq.Exact(),
            observables=("spin_drift",),
        )
