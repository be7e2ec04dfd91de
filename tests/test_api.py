"""One API shape (issue 14): solve/SaveAt/SteadyState/methods/Options, conventions and checks.

Every test of a wrong-number case of the previous API names it; each of them fails on the
previous main (initial state at t = 0 for some solvers and at times[0] for others, unchecked
batches, silent casts of complex parameters, truncated seeds, silently changed time grids,
errors naming internal arrays) and passes now.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import paper

import twoqs_jax as tq

Z = 4.0


def test_every_public_solve_takes_at_most_8_keyword_parameters():
    """Before: simulate_twa and steady_state_twa took 23 parameters, twa_gradient 17."""
    import inspect

    solves = [tq.solve, tq.gradient, tq.lattice.linear_steady_state]
    for ns in (tq.central, tq.qudit, tq.exact):
        solves += [getattr(ns, n) for n in ns.__all__ if n.startswith(("solve", "steady"))]
    assert len(solves) >= 8
    for fn in solves:
        params = inspect.signature(fn).parameters.values()
        kw = [p for p in params if p.default is not inspect.Parameter.empty]
        assert len(kw) <= 8, (fn.__name__, [p.name for p in kw])


def test_time_origin_is_ts0_for_every_solver():
    """Wrong numbers before: with times = [1, 2] the exact solver put the initial state at
    t = 1, mean field and TWOQS at t = 0, and all labelled the results [1, 2]. Now the
    initial state sits at ts[0] everywhere: the first row is the initial state, and a shifted
    grid gives the same numbers as the unshifted one (the models are time independent).
    """
    S = 10
    m = tq.driven_spin(S, 1.5)
    ts, ts0 = tq.SaveAt([1.0, 2.0]), tq.SaveAt([0.0, 1.0])
    ex = tq.solve(m, tq.spin_down(), ts, tq.Exact(), observables=("Sz",))
    mf = tq.solve(m, tq.spin_down(), ts, tq.MeanField(), observables=("Sz",))
    cu = tq.solve(m, tq.spin_down(), ts, tq.Cumulants(), observables=("Sz",))
    kw = dict(n_traj=1000, key=0, observables=("Sz",))
    tw = tq.solve(m, tq.spin_down(), ts, tq.TWOQS(tq.EulerMaruyama(0.01)), **kw)
    tw0 = tq.solve(m, tq.spin_down(), ts0, tq.TWOQS(tq.EulerMaruyama(0.01)), **kw)
    for sol in (ex, mf, cu, tw):
        np.testing.assert_allclose(sol.times, [1.0, 2.0])
    # the initial state m = -S at ts[0] = 1 (TWOQS: its sample of it)
    for sol in (ex, mf, cu):
        np.testing.assert_allclose(sol["Sz"][0, 0], -S, atol=1e-9)
    assert abs(float(tw["Sz"][0, 0]) + S) <= Z * float(tw.error("Sz")[0, 0])
    # one time unit later: exact <S_z> = -5.52; mean field and cumulants are O(1/S) and
    # O(1/S^2) approximations of it (budgets 0.1 S and 0.02 S), TWOQS O(1) + z sem (budget 1)
    ref = float(ex["Sz"][1, 0])
    assert abs(ref + 5.52) < 0.01
    assert abs(float(mf["Sz"][1, 0]) - ref) < 0.1 * S
    assert abs(float(cu["Sz"][1, 0]) - ref) < 0.02 * S
    assert abs(float(tw["Sz"][1, 0]) - ref) <= Z * float(tw.error("Sz")[1, 0]) + 1.0
    # a shifted grid is the same run: TWOQS bit for bit (same key), mean field to round-off
    np.testing.assert_array_equal(tw["Sz"], tw0["Sz"])
    mf0 = tq.solve(m, tq.spin_down(), ts0, tq.MeanField(), observables=("Sz",))
    np.testing.assert_allclose(mf["Sz"], mf0["Sz"], rtol=1e-9)
    ex0 = tq.solve(m, tq.spin_down(), ts0, tq.Exact(), observables=("Sz",))
    np.testing.assert_allclose(ex["Sz"], ex0["Sz"], rtol=1e-7)


@pytest.mark.parametrize(
    "build, match",
    [
        # S = 10.3 is not a spin length; before, a batch built under vmap ran anyway
        (lambda s: tq.driven_spin(s, 1.0), r"spin.*batch index 1.*10\.3"),
        # Gamma < 0: before, the run ended in "blew up ... use a smaller dt"
        (lambda g: tq.driven_spin(10, 1.0, 10.0 - 10.5 * (g != 10.0)), r"batch index 1"),
    ],
)
def test_batched_models_are_checked_naming_the_batch_index(build, match):
    models = jax.vmap(build)(jnp.asarray([10.0, 10.3]))
    for method, kw in (
        (tq.TWOQS(tq.EulerMaruyama(0.01)), dict(n_traj=4, key=0)),
        (tq.MeanField(), {}),
        (tq.Exact(), {}),
    ):
        with pytest.raises(ValueError, match=match):
            tq.solve(models, tq.spin_down(), tq.SaveAt([0.0, 0.1]), method, **kw)


def test_negative_rate_in_a_batch_names_the_rate():
    models = jax.vmap(lambda g: tq.driven_spin(10, 1.0, g))(jnp.asarray([1.0, -0.5]))
    with pytest.raises(ValueError, match=r"rate.*>= 0.*batch index 1"):
        tq.solve(models, tq.spin_down(), tq.SaveAt([0.0, 0.1]), tq.MeanField())


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: tq.driven_spin(10, 1 + 1j), "Omega"),
        (lambda: tq.lmg_dimer(5, J=0.5j, lam=0.2), "J"),
        (lambda: tq.heisenberg_chain(4, 2, Jx=1.0, Jy=2j), "Jy"),
        (lambda: tq.SpinModel(2, field={"x": 1j}), "field"),
        (lambda: tq.SpinModel(2, field=np.array([1j, 0, 0])), "field"),
        (lambda: tq.Coupling(tq.on_site(1), {"xx": 1j}), "matrix"),
        (lambda: tq.SpinModel(2, decay=0.1j), "decay"),
        (lambda: tq.Decay(0.1 + 0j), "rate"),
        (lambda: jax.vmap(lambda om: tq.driven_spin(10, om))(jnp.asarray([1j, 2j])), "Omega"),
    ],
)
def test_complex_where_real_is_required_is_an_error(build, name):
    """Before: Omega = 1 + 1j was cast to real with only a ComplexWarning."""
    with pytest.raises(ValueError, match=rf"`{name}.*must be real"):
        build()


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: tq.driven_spin(10, float("nan")), "Omega"),
        (lambda: tq.lmg_dimer(5, J=float("inf"), lam=0.2), "J"),
        (lambda: tq.lmg(5, J=float("nan")), "J"),
        (lambda: tq.pt_chain(4, 2, J=float("nan")), "J"),
        (lambda: tq.one_axis_twisting(5, g=float("inf")), "g"),
        (lambda: tq.driven_spin(10, 1.0, Gamma=-1.0), "Gamma"),
    ],
)
def test_errors_name_the_users_parameter(build, name):
    """Before: `field` and `matrix` (internal arrays) instead of Omega or J."""
    with pytest.raises(ValueError, match=rf"`{name}`"):
        build()


KEY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_enable_x64", sys.argv[1] == "1")
    from twoqs_jax._keys import resolve_key  # the seed -> key map itself
    seeds = [0, 2**32, 2**40, -1, 2**64 + 5]
    print(json.dumps([jax.random.key_data(resolve_key(s)).tolist() for s in seeds]))
    """
)


def test_any_integer_seed_gives_its_own_stream_whatever_the_precision(tmp_path):
    """Before: seeds 2**32 and 2**40 gave the stream of seed 0 with jax_enable_x64 off and
    another one with it on (and the CLI, which turns x64 on, stored yet another); 2**64 + 5
    failed. Now every integer maps to its own key, independent of the precision setting.
    """
    script = tmp_path / "keys.py"
    script.write_text(KEY_SCRIPT)
    out = {}
    for x64 in ("0", "1"):
        r = subprocess.run(
            [sys.executable, str(script), x64],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "XLA_FLAGS": ""},
        )
        out[x64] = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["0"] == out["1"]
    assert len({tuple(k) for k in out["0"]}) == 5
    # seeds below 2**32 keep jax.random.key(seed): every earlier result is reproduced
    assert out["0"][0] == jax.random.key_data(jax.random.key(0)).tolist()


def test_seeds_give_different_results_and_the_same_in_api_and_cli(tmp_path):
    from twoqs_jax.cli import main

    m = tq.driven_spin(5, 0.8)
    save, method = tq.SaveAt([0.0, 0.25, 0.5]), tq.TWOQS(tq.EulerMaruyama(0.01))
    kw = dict(n_traj=40, observables=("Sz",), options=tq.Options(dtype="float64"))
    seeds = (0, 2**32, 2**40, -1)
    runs = {s: tq.solve(m, tq.spin_down(), save, method, key=s, **kw) for s in seeds}
    finals = [float(runs[s]["Sz"][-1, 0]) for s in seeds]
    assert len(set(finals)) == 4, finals
    assert runs[2**40].stats["key"]["seed"] == 2**40
    config = tmp_path / "c.toml"
    config.write_text(
        '[model]\npreset = "driven_spin"\nS = 5\nOmega = 0.8\n'
        '[method]\nname = "twa"\nt_final = 0.5\nn_save = 3\ndt = 0.01\nn_traj = 40\n'
        f'key = {2**40}\nprecision = "float64"\n'
    )
    out = str(tmp_path / "r.h5")
    assert main(["run", str(config), "--out", out, "--quiet"]) == 0
    res = tq.load(out)
    np.testing.assert_array_equal(res.solution["Sz"], runs[2**40]["Sz"])
    assert res.meta["settings"]["key"] == 2**40
    assert res.solution.stats["key"]["seed"] == 2**40


def test_time_grid_is_honoured_exactly_or_refused():
    """Before: t_final = 1.0 with dt = 0.3 silently stopped at 0.9, and n_save = 50 with 20
    steps silently returned 21 points. Now an off-grid time is refused, naming it and the
    nearest valid times; the deprecated wrapper refuses too.
    """
    m = tq.driven_spin(5, 1.0)
    method = tq.TWOQS(tq.EulerMaruyama(0.3))
    with pytest.raises(ValueError, match=r"ts\[1\] - ts\[0\].*0\.9 or 1\.2"):
        tq.solve(m, tq.spin_down(), tq.SaveAt([0.0, 1.0]), method, n_traj=4, key=0)
    with pytest.raises(ValueError, match="integer multiple"):
        tq.solve(
            m,
            tq.spin_down(),
            tq.SaveAt(np.linspace(0, 0.2, 50)),
            tq.TWOQS(tq.EulerMaruyama(0.01)),
            n_traj=4,
            key=0,
        )
    with pytest.raises(ValueError, match="t_avg"):
        tq.solve(
            m,
            tq.spin_down(),
            tq.SteadyState(t_burn=1.0, t_avg=1.05, every=0.1),
            tq.TWOQS(tq.EulerMaruyama(0.01)),
            n_traj=4,
            key=0,
        )
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="integer multiple"):
        tq.simulate_twa(m, tq.spin_down(), t_final=1.0, dt=0.3, n_traj=4, key=0, n_save=2)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="integer multiple"):
        tq.simulate_twa(m, tq.spin_down(), t_final=0.2, dt=0.01, n_traj=4, key=0, n_save=50)
    # an on-grid request returns exactly the requested times
    sol = tq.solve(
        m, tq.spin_down(), tq.SaveAt([0.0, 0.9, 1.2]), method, n_traj=4, key=0, observables="Sz"
    )
    np.testing.assert_array_equal(sol.times, [0.0, 0.9, 1.2])
    assert sol["Sz"].shape == (3, 1)


def test_n_traj_and_key_belong_to_stochastic_methods():
    m = tq.driven_spin(5, 1.0)
    save = tq.SaveAt([0.0, 0.1])
    with pytest.raises(ValueError, match="`key` is required"):
        tq.solve(m, tq.spin_down(), save, tq.TWOQS(tq.EulerMaruyama(0.01)), n_traj=4)
    with pytest.raises(ValueError, match="`n_traj` is only for stochastic"):
        tq.solve(m, tq.spin_down(), save, tq.Exact(), n_traj=4)
    with pytest.raises(ValueError, match="method"):
        tq.solve(m, tq.spin_down(), save, "twoqs")
    with pytest.raises(ValueError, match="saveat"):
        tq.solve(m, tq.spin_down(), [0.0, 1.0], tq.MeanField())


def test_solution_holds_numpy_exports_to_xarray_and_round_trips(tmp_path):
    xr = pytest.importorskip("xarray")
    oms = np.array([0.5, 1.5])
    models = jax.vmap(lambda om: tq.driven_spin(5, om))(jnp.asarray(oms))
    save = tq.SaveAt([0.0, 0.5, 1.0])
    sols = {
        "twa": tq.solve(
            models,
            tq.spin_down(),
            save,
            paper(0.01),
            n_traj=50,
            key=1,
            observables=("Sz", "varz", "SpSm", "xi2"),
        ),
        "meanfield": tq.solve(models, tq.spin_down(), save, tq.MeanField()),
        "cumulant2": tq.solve(models, tq.spin_down(), save, tq.Cumulants()),
        "exact": tq.solve(models, tq.spin_down(), save, tq.Exact()),
    }
    for name, sol in sols.items():
        assert sol.method == name
        for v in list(sol.mean.values()) + list(sol.sem.values()):
            assert isinstance(v, np.ndarray)
        assert sol["Sz"].shape == (2, 3, 1)
        ds = sol.to_xarray(coords={"batch": oms})
        assert isinstance(ds, xr.Dataset)
        assert ds["Sz"].dims == ("batch", "time", "site")
        np.testing.assert_array_equal(ds["time"], [0.0, 0.5, 1.0])
        np.testing.assert_array_equal(ds["batch"], oms)
        if name == "twa":
            np.testing.assert_array_equal(ds["Sz_sem"], sol.sem["Sz"])
            assert ds["SpSm"].dims == ("batch", "time", "site", "site_j")
            assert ds["xi2"].dims == ("batch", "time")
    path = tq.save(tmp_path / "twa.h5", sols["twa"], model=models, coords={"Omega": oms})
    res = tq.load(path)
    np.testing.assert_array_equal(res["Sz"], sols["twa"]["Sz"])
    np.testing.assert_array_equal(res.solution.error("varz"), sols["twa"].sem["varz"])
    ds = res.to_xarray()
    assert ds["Sz"].dims == ("Omega", "time", "site")
    np.testing.assert_array_equal(ds["Omega"], oms)


def test_options_and_methods_validate_their_arguments():
    for bad, match in (
        (lambda: tq.Options(chunk_size=0), "chunk_size"),
        (lambda: tq.Options(dtype="float16"), "dtype"),
        (lambda: tq.Options(resume=True), "checkpoint"),
        (lambda: tq.Exact(max_memory=-1), "max_memory"),
        (lambda: tq.Cumulants(order=0), "order"),
        (lambda: tq.SaveAt([[0.0, 1.0]]), "ts"),
        (lambda: tq.SaveAt([0.0, 1j]), "ts"),
        (lambda: tq.SteadyState(t_burn=1.0), "t_avg"),
        (lambda: tq.SteadyState(t_burn=-1.0, t_avg=1.0), "t_burn"),
        (lambda: tq.EulerMaruyama(1j), "dt"),
        (lambda: tq.TWOQS("euler"), "scheme"),
        (lambda: tq.TWOQS(tq.EulerMaruyama(0.1), constraint="norm"), "constraint"),
    ):
        with pytest.raises(ValueError, match=match):
            bad()
    # the defaults live in one place and are the recommended variant
    m = tq.TWOQS(tq.EulerMaruyama(0.01))
    assert (m.sampling, m.constraint, m.scheme.noise) == ("fock", "spin_length", "two_point")
    p = tq.TWOQS.paper(tq.EulerMaruyama(0.01))
    assert (p.sampling, p.constraint) == ("coherent", None)


def test_autodiff_drift_switch_is_an_environment_variable(monkeypatch):
    """The former public debug switch `fused` is TWOQS_AUTODIFF_DRIFT (read in _config.py):
    the autodiff reference drift gives the hand-written drift's numbers to round-off.
    """
    m = tq.one_axis_twisting(10, g=1.0, Gamma=0.1)
    args = (tq.spin_down(), tq.SaveAt([0.0, 0.5]), tq.TWOQS(tq.EulerMaruyama(0.01)))
    kw = dict(n_traj=16, key=2, observables=("Sz", "Sy"))
    fused = tq.solve(m, *args, **kw)
    monkeypatch.setenv("TWOQS_AUTODIFF_DRIFT", "1")
    auto = tq.solve(m, *args, **kw)
    for name in ("Sz", "Sy"):
        np.testing.assert_allclose(auto[name], fused[name], rtol=1e-9, atol=1e-9)
    monkeypatch.setenv("TWOQS_AUTODIFF_DRIFT", "yes")
    with pytest.raises(ValueError, match="TWOQS_AUTODIFF_DRIFT"):
        tq.solve(m, *args, **kw)
