"""The previous API, kept for one release: every old entry point warns, names its
replacement, and gives the numbers of the new call it wraps.
"""

import numpy as np
import pytest
from helpers import assert_same, paper

import twoqs_jax as tq

M = tq.driven_spin(5, 1.2)


def test_simulate_and_steady_state_twa():
    obs = ("Sz", "varz")
    with pytest.warns(DeprecationWarning, match="tq.solve"):
        old = tq.simulate_twa(
            M, tq.spin_down(), t_final=0.5, dt=0.01, n_traj=20, key=3, n_save=3, observables=obs
        )
    new = tq.solve(
        M,
        tq.spin_down(),
        tq.SaveAt([0, 0.25, 0.5]),
        paper(0.01),
        n_traj=20,
        key=3,
        observables=obs,
    )
    assert_same(old, new, obs)
    with pytest.warns(DeprecationWarning, match="SteadyState"):
        old = tq.steady_state_twa(
            M,
            tq.spin_down(),
            t_burn=0.2,
            t_avg=0.2,
            dt=0.01,
            n_traj=20,
            key=3,
            avg_every=5,
            conserve_spin=True,
            fock_sampling="fock",
            observables=obs,
        )
    new = tq.solve(
        M,
        tq.spin_down(),
        tq.SteadyState(t_burn=0.2, t_avg=0.2, every=0.05),
        # the previous API had only paper 003's decay noise: the wrappers keep it
        tq.TWOQS(tq.EulerMaruyama(0.01), diffusion="paper"),
        n_traj=20,
        key=3,
        observables=obs,
    )
    assert_same(old, new, obs)


def test_twa_gradient():
    def make(om):
        return tq.driven_spin(5, om)

    with pytest.warns(DeprecationWarning, match="tq.gradient"):
        old = tq.twa_gradient(
            make, 0.5, tq.spin_down(), t_burn=0.2, t_avg=0.2, dt=0.02, n_traj=16, key=1
        )
    new = tq.gradient(
        make,
        0.5,
        tq.spin_down(),
        tq.SteadyState(t_burn=0.2, t_avg=0.2, every=0.02),
        paper(0.02),
        n_traj=16,
        key=1,
    )
    assert old.value == float(new["Sz"][0]) and old.grad == pytest.approx(new.grad["Sz"][0])


def test_deterministic_solvers():
    times = np.linspace(0.0, 1.0, 3)
    for old_name, method in (
        ("solve_meanfield", tq.MeanField()),
        ("solve_cumulants", tq.Cumulants()),
    ):
        with pytest.warns(DeprecationWarning, match=type(method).__name__):
            old = getattr(tq, old_name)(M, tq.spin_down(), times=times)
        new = tq.solve(M, tq.spin_down(), tq.SaveAt(times), method)
        assert_same(old, new, ("Sz", "Sx2"))
    with pytest.warns(DeprecationWarning, match="Exact"):
        old = tq.solve_exact(M, tq.spin_down(), times, observables=("Sz",))
    assert_same(
        old, tq.solve(M, tq.spin_down(), tq.SaveAt(times), tq.Exact(), observables="Sz"), ["Sz"]
    )
    with pytest.warns(DeprecationWarning, match="Exact"):
        old = tq.steady_state_exact(M, observables=("Sz",))
    new = tq.solve(M, None, tq.SteadyState(), tq.Exact(), observables="Sz")
    assert_same(old, new, ["Sz"])


def test_moved_names_warn_and_resolve():
    import twoqs_jax

    for name, (module, new) in twoqs_jax._MOVED.items():
        with pytest.warns(DeprecationWarning, match=name):
            obj = getattr(tq, name)
        target = __import__(f"twoqs_jax.{module}", fromlist=[new])
        assert obj is getattr(target, new), name
    with pytest.raises(AttributeError):
        tq.no_such_name  # noqa: B018
