"""Exact derivatives (twoqs_jax/_exact/derivative.py, the driven spin's closed form) against
central finite differences of the exact solvers, 1e-6 relative.

Finite differences use h = 1e-5 on steady states from the sparse LU (round-off ~1e-13, so
the FD error is O(h^2) ~ 1e-10 relative, measured to shrink as h^2 in the research
prototype) and on the expm_multiply trajectories; every case checks that the derivative is
not small, so a wrong or zero derivative cannot pass.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twoqs_jax as tq

# the affine-in-parameters assembly behind tq.exact.derivative, checked on purpose
from twoqs_jax._exact.derivative import linear_liouvillian, linearise

H = 1e-5


def _close(a, b, rtol=1e-6, atol=1e-9):
    a, b = np.asarray(a), np.asarray(b)
    assert np.all(np.abs(a - b) <= rtol * np.abs(b) + atol), (a, b, a - b)


def _tilted(p):
    """A spin with a general jump whose coefficients depend on the parameters."""
    jump = tq.SpinJump(p["rate"], c_minus=1.0, c_plus=0.3j * p["c"], c_z=0.5 * p["c"])
    return tq.SpinModel(3, field={"x": 1.0, "z": 0.2}, jumps=[jump])


CASES = [
    # (label, make_model, params, observables)
    (
        "driven_spin S=5 (Omega, Gamma)",
        lambda p: tq.driven_spin(5, p["Omega"], p["Gamma"]),
        {"Omega": 1.3, "Gamma": 0.8},
        ("Sx", "Sy", "Sz", "Sz2", "varz", "xi2"),
    ),
    (
        "one-axis twisting S=4 (g, Gamma, Gamma_phi)",
        lambda p: tq.one_axis_twisting(4, p[0], p[1], p[2]),
        np.array([1.0, 0.3, 0.1]),
        ("Sx", "Sy", "Sz", "Sx2", "Sy2", "SxSy", "varx", "vary", "xi2"),
    ),
    (
        "lmg_dimer S=2 (J, lambda)",
        lambda p: tq.lmg_dimer(2, p[0], p[1]),
        np.array([0.7, 0.9]),
        ("Sx", "Sz", "Sz2", "varz", "SzSz", "SpSm"),
    ),
    ("SpinJump S=3 (rate, coefficients)", _tilted, {"rate": 0.4, "c": 0.8}, ("Sx", "Sy", "Sz")),
]


def _shift(params, q, h):
    flat, unravel = jax.flatten_util.ravel_pytree(
        jax.tree.map(lambda x: jnp.asarray(x, float), params)
    )
    return unravel(flat.at[q].add(h))


def _flat_grad(g, name):
    """``grad[name]`` with the parameter axes flattened last (ravel_pytree order)."""
    leaves = jax.tree.leaves(g.grad[name])
    shape = np.shape(g.mean[name])
    return np.concatenate([np.reshape(x, shape + (-1,)) for x in leaves], axis=-1)


def test_linear_assembly_is_the_liouvillian():
    for _, make, p, _ in CASES:
        model, _, _ = linearise(make, p)
        from twoqs_jax._exact.derivative import _arrays

        L = linear_liouvillian(model, _arrays(model)[1:])
        ref = tq.exact.liouvillian(model).data.as_scipy()
        assert abs(L - ref).max() < 1e-12


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_steady_state_derivative_matches_finite_differences(case):
    _, make, p, names = case
    g = tq.exact.steady_state_derivative(make, p, observables=names)
    assert g.stats["residual"] < 1e-12 and g.stats["max_trace_drho"] < 1e-12
    ref = tq.solve(make(p), None, tq.SteadyState(), tq.Exact(), observables=names)
    n_par = g.stats["n_params"]
    for k in names:
        _close(g.mean[k], ref[k], rtol=1e-10, atol=1e-12)
    for q in range(n_par):
        plus = tq.solve(
            make(_shift(p, q, H)), None, tq.SteadyState(), tq.Exact(), observables=names
        )
        minus = tq.solve(
            make(_shift(p, q, -H)), None, tq.SteadyState(), tq.Exact(), observables=names
        )
        for k in names:
            fd = (np.asarray(plus[k]) - np.asarray(minus[k])) / (2 * H)
            _close(_flat_grad(g, k)[..., q], fd, atol=1e-8)
    # the parameters matter: a zero or wrong derivative could not pass
    assert np.max(np.abs(_flat_grad(g, names[0] if names[0] != "Sx" else "Sz"))) > 1e-3


def test_time_derivative_matches_finite_differences_and_mesolve():
    def make(p):
        return tq.one_axis_twisting(3, p[0], p[1], p[2])

    p = np.array([1.0, 0.4, 0.1])
    times = np.linspace(0.5, 2.5, 6)  # the initial state sits at times[0] = 0.5
    names = ("Sx", "Sy", "Sz", "varx", "xi2")
    state = tq.SpinCoherentState(theta=np.pi * 0.6, phi=0.3)
    g = tq.exact.derivative(make, p, state, tq.SaveAt(times), observables=names)
    assert g.grad["Sz"].shape == (6, 1, 3) and g.grad["xi2"].shape == (6, 3)
    ref = tq.solve(make(p), state, tq.SaveAt(times), tq.Exact(), observables=names)
    for k in names:
        _close(g.mean[k], ref[k], rtol=1e-6, atol=1e-7)
    for q in range(3):
        plus = tq.exact.time_derivative(make, p + H * np.eye(3)[q], state, times, observables=names)
        minus = tq.exact.time_derivative(
            make, p - H * np.eye(3)[q], state, times, observables=names
        )
        for k in names:
            fd = (plus.mean[k] - minus.mean[k]) / (2 * H)
            assert np.all(_flat_grad(g, k)[0] == 0)  # rho(t0) does not depend on p
            # 1e-6 of the size of the derivative curve (it crosses zero in time)
            _close(_flat_grad(g, k)[..., q], fd, rtol=0, atol=1e-6 * np.max(np.abs(fd)))
        assert np.max(np.abs(_flat_grad(g, "Sz")[..., q])) > 1e-2


def test_time_derivative_relaxes_to_the_steady_state_derivative():
    def make(om):
        return tq.driven_spin(3, om)

    late = tq.exact.time_derivative(make, 0.7, tq.spin_down(), [0.0, 60.0], observables="Sz")
    ss = tq.exact.steady_state_derivative(make, 0.7, observables="Sz")
    _close(late.grad["Sz"][-1], ss.grad["Sz"], rtol=1e-6)
    assert abs(float(ss.grad["Sz"][0])) > 0.1


@pytest.mark.parametrize(
    "S,Omega,Gamma", [(20, 0.5, 1.0), (20, 1.5, 1.0), (50, 1.5, 1.0), (7.5, -0.9, 0.7)]
)
def test_driven_spin_closed_form_derivative(S, Omega, Gamma):
    d = tq.exact.driven_spin_steady_state_derivative(S, Omega, Gamma)
    assert d["value"] == tq.exact.driven_spin_steady_state(S, Omega, Gamma)
    for name, (a, b) in (("Omega", (H, 0)), ("Gamma", (0, H))):
        plus = tq.exact.driven_spin_steady_state(S, Omega + a, Gamma + b)
        minus = tq.exact.driven_spin_steady_state(S, Omega - a, Gamma - b)
        for k in ("Sz", "Sz2", "SpSm", "Sy", "purity"):
            _close(d[name][k], (plus[k] - minus[k]) / (2 * H), atol=1e-9)
        assert abs(d[name]["Sz"]) > 1e-3


def test_closed_form_matches_the_liouvillian_derivative():
    # the exact column: d(<S_z>/S)/dOmega = +0.0331450 at S = 20, Omega = 1.5
    d = tq.exact.driven_spin_steady_state_derivative(20, 1.5)
    assert abs(d["Omega"]["Sz"] / 20 - 0.0331450) < 1e-6
    g = tq.exact.steady_state_derivative(
        lambda p: tq.driven_spin(10, p[0], p[1]), np.array([1.3, 0.9]), observables=("Sz", "Sy")
    )
    c = tq.exact.driven_spin_steady_state_derivative(10, 1.3, 0.9)
    for k in ("Sz", "Sy"):
        _close(g.grad[k][0, 0], c["Omega"][k], rtol=1e-8)
        _close(g.grad[k][0, 1], c["Gamma"][k], rtol=1e-8)


def test_float64_without_changing_the_callers_setting():
    with jax.enable_x64(False):
        g = tq.exact.steady_state_derivative(lambda om: tq.driven_spin(5, om), 1.3)
        assert not jax.config.jax_enable_x64
    assert g.grad["Sz"].dtype == np.float64
    ref = tq.exact.steady_state_derivative(lambda om: tq.driven_spin(5, om), 1.3)
    _close(g.grad["Sz"], ref.grad["Sz"], rtol=1e-12)


def test_bad_input_is_refused_naming_the_parameter():
    ok = lambda om: tq.driven_spin(3, om)  # noqa: E731
    with pytest.raises(ValueError, match="`make_model` must be callable"):
        tq.exact.steady_state_derivative(3, 1.0)
    with pytest.raises(ValueError, match="`params` must be a PyTree of real numbers"):
        tq.exact.steady_state_derivative(ok, 1.0 + 0.5j)
    with pytest.raises(ValueError, match="`params` must be finite"):
        tq.exact.steady_state_derivative(ok, float("nan"))
    with pytest.raises(ValueError, match="spin lengths"):
        tq.exact.steady_state_derivative(lambda s: tq.SpinModel(s, decay=1.0), 2.0)
    with pytest.raises(ValueError, match="one \\(unbatched\\)"):
        tq.exact.steady_state_derivative(lambda om: jax.vmap(ok)(jnp.stack([om, om])), 1.0)
    with pytest.raises(ValueError, match="`saveat` must be"):
        tq.exact.derivative(ok, 1.0, tq.spin_down(), [0.0, 1.0])
    with pytest.raises(ValueError, match="`times` must be strictly increasing"):
        tq.exact.time_derivative(ok, 1.0, tq.spin_down(), [1.0, 0.5])
    with pytest.raises(ValueError, match="unknown observable 'Sw'"):
        tq.exact.steady_state_derivative(ok, 1.0, observables="Sw")
    with pytest.raises(ValueError, match="`max_memory`"):
        tq.exact.steady_state_derivative(ok, 1.0, max_memory=1e3)
    with pytest.raises(ValueError, match="`Omega` must be nonzero"):
        tq.exact.driven_spin_steady_state_derivative(5, 0.0)
    with pytest.raises(ValueError, match="`Gamma`"):
        tq.exact.driven_spin_steady_state_derivative(5, 1.0, -1.0)


def test_stationary_response_integrates_to_the_derivative():
    # int_0^inf R = d<O>/dp (trapezoid error ~5e-5 at 2001 points over t = 40); C(0) = Var
    r = tq.exact.stationary_response(lambda om: tq.driven_spin(3, om), 0.7, "Sz", 40.0, num=2001)
    ss = tq.exact.steady_state_derivative(lambda om: tq.driven_spin(3, om), 0.7, observables="varz")
    _close(r["grad"], [3.0257137], rtol=1e-6)
    assert abs(r["I"][-1, 0] - r["grad"][0]) < 2e-4
    _close(r["acf"][0], ss.mean["varz"][0], rtol=1e-10)
    with pytest.raises(ValueError, match="`observable`"):
        tq.exact.stationary_response(lambda om: tq.driven_spin(3, om), 0.7, "varz", 4.0)


@pytest.mark.slow
def test_stationary_response_oscillates_above_threshold():
    # the running integral oscillates about its limit (the reason for the memory taper):
    # driven spin S = 20, Omega = 1.5, I(24) = 0.110, I(30) = 0.085 against 0.0331 (per S)
    big = tq.exact.stationary_response(lambda om: tq.driven_spin(20, om), 1.5, "Sz", 60.0, 601)
    I = big["I"][:, 0] / 20
    assert abs(I[240] - 0.1095) < 2e-3 and abs(I[300] - 0.0853) < 2e-3
    assert abs(I[-1] - 0.0331450) < 2e-3 and abs(big["grad"][0] / 20 - 0.0331450) < 1e-6
