"""Run configurations: valid files parse; every kind of bad input names key and value."""

import tomllib

import jax
import numpy as np
import pytest

import twoqs_jax as tq
from twoqs_jax._config import (
    ConfigError,
    example_names,
    example_text,
    load_config,
    parse_config,
)

GOOD = {
    "model": {"preset": "driven_spin", "S": 10, "Omega": 1.5},
    "state": {"kind": "down"},
    "method": {"name": "twa", "t_final": 2.0, "dt": 0.01, "n_traj": 100, "key": 1},
    "sweep": {"parameter": "Omega", "start": 0.0, "stop": 2.0, "num": 5},
    "output": {"path": "out.h5"},
}


def test_good_config(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(
        '[model]\npreset = "lmg_dimer"\nS = 3\nJ = 0.5\nlam = 0.2\n'
        '[method]\nname = "exact"\nt_burn = 1.0\nt_avg = 1\n'
    )
    cfg = load_config(p)
    assert cfg.steady and cfg.preset == "lmg_dimer"
    m = cfg.build_model()
    assert m.n_sites == 2
    assert cfg.build_state(2).n_sites == 2
    cfg = parse_config(GOOD)
    np.testing.assert_allclose(cfg.sweep_values(), [0, 0.5, 1, 1.5, 2])
    np.testing.assert_allclose(cfg.build_model(Omega=0.5).field[0, 0], 0.5)


def _with(section, **kw):
    d = {k: dict(v) for k, v in GOOD.items()}
    d[section].update(kw)
    return d


@pytest.mark.parametrize(
    "table, match",
    [
        ({"model": {"preset": "nope"}}, "model.preset"),
        ({**GOOD, "extra": {}}, r"\[extra\]"),
        (_with("model", foo=1), "model.foo"),
        (_with("model", Gamma=-1.0), "Gamma"),
        (_with("model", S=0.3), "spin"),
        (_with("method", dt="small"), "method.dt"),
        (_with("method", dt=-0.1), "method.dt"),
        (_with("method", n_traj=1), "method.n_traj"),
        (_with("method", name="magic"), "method.name"),
        (_with("method", representation="X"), "representation"),
        (_with("method", bogus=1), "method.bogus"),
        (_with("state", kind="sideways"), "state.kind"),
        (_with("sweep", parameter="Delta"), "sweep.parameter"),
        ({"model": {"preset": "driven_spin", "S": 2}}, "Omega"),
        (_with("method", scheme="rk4"), "method.scheme"),
        (_with("method", scheme="weak_order2", noise="two_point"), "method.noise"),
        (_with("method", noise="three_point"), "method.noise"),
        (_with("method", scheme="weak_order2", diffusion="paper"), "weak_order2"),
        (_with("method", scheme="weak_order2", representation="P"), "weak_order2"),
        (_with("method", correction="fourth_order"), "method.correction"),
    ],
)
def test_bad_configs(table, match):
    with pytest.raises(ConfigError, match=match):
        parse_config(table)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    p = tmp_path / "bad.toml"
    p.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


@pytest.mark.parametrize(
    "section, kw, match",
    [
        ("method", {"dt": [0.1]}, "method.dt"),
        ("sweep", {"values": ["a"]}, "sweep.values"),
        ("sweep", {"parameter": "Gamma", "num": 0}, "sweep.num"),
    ],
)
def test_more_bad_values(section, kw, match):
    with pytest.raises(ConfigError, match=match):
        parse_config(_with(section, **kw))


def test_sweep_parameter_must_be_continuous():
    d = {k: dict(v) for k, v in GOOD.items()}
    d["model"] = {"preset": "heisenberg_chain", "n_sites": 3, "S": 2}
    d["sweep"] = {"parameter": "convention", "values": [1.0]}
    with pytest.raises(ConfigError, match="sweep.parameter"):
        parse_config(d)


def _quick(table):
    """A shipped example made small: few trajectories, a few steps, two sweep points."""
    m = table["method"]
    if m.get("name", "twa") == "twa":
        dt = m["dt"]
        m["n_traj"] = 16
        m["chunk_size"] = 16
        if "t_burn" in m:
            m.update(t_burn=4 * dt, t_avg=4 * dt, every=2 * dt)
        else:
            m.update(t_final=4 * dt, n_save=3)
    else:
        m["n_save"] = min(m.get("n_save", 3), 3)
        m["t_final"] = min(m.get("t_final", 1.0), 1.0)
    if "sweep" in table:
        s = table["sweep"]
        if "parameter" not in s:
            for k, v in s.items():
                if isinstance(v, list):
                    s[k] = v[:2]
        elif "values" in s:
            s["values"] = s["values"][:2]
        else:
            s["num"] = 2
    return table


@pytest.mark.parametrize("name", example_names())
def test_shipped_examples_run_in_quick_mode(name):
    """Every example config shipped in twoqs_jax/examples/ parses and runs (made small)."""
    from twoqs_jax.cli import _execute

    text = example_text(name)
    assert text.lstrip().startswith("#"), "an example starts with a comment saying what it is"
    cfg = parse_config(_quick(tomllib.loads(text)))
    # standard promotion: the TWOQS path is not strict yet (see conftest.STRICT_PROMOTION)
    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        sol, model, coords = _execute(cfg, cfg.method["name"], progress=False)
    z = np.asarray(sol["Sz"])
    assert np.all(np.isfinite(z))
    points = cfg.sweep_points()
    n_points = len(next(iter(points.values()))) if points else None
    if n_points is not None:
        assert z.shape[0] == n_points == len(next(iter(coords.values())))
    assert z.shape[-1] == model.n_sites if n_points is None else model.spin.shape[-1]


def test_config_command_lists_prints_and_writes_examples(tmp_path, capsys):
    from twoqs_jax.cli import main

    assert len(example_names()) >= 4
    assert main(["config"]) == 0
    assert "superradiance" in capsys.readouterr().out
    out = tmp_path / "sr.toml"
    assert main(["config", "--example", "superradiance", "--out", str(out)]) == 0
    assert out.read_text() == example_text("superradiance")
    assert load_config(out).preset == "superradiance"
    assert main(["config", "--example", "superradiance", "--out", str(out)]) == 2  # exists
    assert main(["config", "--example", "nope"]) == 2
    assert "shipped examples" in capsys.readouterr().err


MULTI = {
    "model": {"preset": "driven_spin", "S": 10, "Omega": 1.5},
    "method": {"name": "meanfield", "t_final": 1.0, "n_save": 3},
}


def test_sweep_over_several_parameters_including_S(tmp_path, capsys):
    grid = parse_config({**MULTI, "sweep": {"S": [10, 20], "Omega": [0.5, 1.0, 1.5]}})
    points = grid.sweep_points()
    np.testing.assert_allclose(points["S"], [10, 10, 10, 20, 20, 20])
    np.testing.assert_allclose(points["Omega"], [0.5, 1.0, 1.5] * 2)
    batch = grid.build_batch()
    np.testing.assert_allclose(np.asarray(batch.spin)[:, 0], points["S"])
    np.testing.assert_allclose(np.asarray(batch.field)[:, 0, 0], points["Omega"])
    z = parse_config({**MULTI, "sweep": {"mode": "zip", "S": [10, 20], "Omega": [0.5, 1.0]}})
    np.testing.assert_allclose(np.asarray(z.build_batch().spin)[:, 0], [10, 20])
    for sweep, match in (
        ({"mode": "zip", "S": [10, 20], "Omega": [0.5]}, "equal length"),
        ({"mode": "outer", "S": [10]}, "sweep.mode"),
        ({"Delta": [1.0]}, "sweep.Delta"),
        ({"S": []}, "sweep.S"),
        ({"mode": "grid"}, "lists of values"),
    ):
        with pytest.raises(ConfigError, match=match):
            parse_config({**MULTI, "sweep": sweep})
    # the command line runs it and writes the results file
    from twoqs_jax.cli import main

    cfg = tmp_path / "multi.toml"
    cfg.write_text(
        '[model]\npreset = "driven_spin"\nS = 10\nOmega = 1.5\n'
        '[method]\nname = "meanfield"\nt_final = 1.0\nn_save = 3\n'
        '[sweep]\nmode = "grid"\nS = [10, 20]\nOmega = [0.5, 1.5]\n'
    )
    out = tmp_path / "multi.h5"
    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        assert main(["sweep", str(cfg), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "S = 20" in text and "Omega = 1.5" in text
    res = tq.load(out)
    assert np.asarray(res["Sz"]).shape[0] == 4


def test_observables_key_is_checked_and_passed_on():
    cfg = parse_config({**MULTI, "method": {**MULTI["method"], "observables": ["Sz", "varz"]}})
    assert cfg.method["observables"] == ("Sz", "varz")
    for bad, match in ((["Sz", "Sq"], "unknown"), (["varz"], "include 'Sz'"), ([1], "names")):
        with pytest.raises(ConfigError, match=match):
            parse_config({**MULTI, "method": {**MULTI["method"], "observables": bad}})


def test_explicit_model_equals_the_api_model():
    """`preset = "explicit"` builds the SpinModel the API builds from the same arrays."""
    text = """
    [model]
    preset = "explicit"
    S = 3
    n_sites = 2
    field = { x = 0.5, z = [0.0, 0.2] }
    decay = 0.1
    [[model.couplings]]
    edges = [[0, 1]]
    zz = 0.25
    [[model.jumps]]
    rate = 0.2
    c_minus = 1.0
    c_z = [0.0, 0.5]
    [method]
    name = "exact"
    t_final = 1.0
    """
    cfg = parse_config(tomllib.loads(text))
    m = cfg.build_model()
    ref = tq.SpinModel(
        3,
        n_sites=2,
        field={"x": 0.5, "z": np.array([0.0, 0.2])},
        couplings=tq.Coupling(tq.edge_list([(0, 1)], 2), {"zz": 0.25}),
        decay=0.1,
        jumps=[tq.SpinJump(0.2, c_minus=1.0, c_z=0.5j)],
    )
    for a, b in zip(jax.tree.leaves(m), jax.tree.leaves(ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize(
    ("model", "match"),
    [
        ("field = { w = 1.0 }", "model.field"),
        ("[[model.couplings]]\nedges = [[0, 1]]\nqq = 1.0", r"model.couplings\[0\]"),
        ("[[model.jumps]]\nrate = 0.1\nc_minus = [1, 2, 3]", r"model.jumps\[0\]"),
        ("[[model.jumps]]\nc_minus = 1.0", r"model.jumps\[0\]"),
    ],
)
def test_explicit_model_errors_name_the_key(model, match):
    text = f'[model]\npreset = "explicit"\nS = 2\nn_sites = 2\n{model}\n[method]\nname = "exact"\nt_final = 1.0\n'
    with pytest.raises(ValueError, match=match):
        parse_config(tomllib.loads(text)).build_model()


def test_explicit_model_sweeps_S_and_rates():
    from twoqs_jax.cli import _execute

    text = """
    [model]
    preset = "explicit"
    S = 3
    field = { x = 0.5 }
    decay = 0.1
    [method]
    name = "meanfield"
    t_final = 1.0
    n_save = 3
    [sweep]
    mode = "grid"
    S = [3, 5]
    decay = [0.1, 0.2]
    """
    cfg = parse_config(tomllib.loads(text))
    sol, _, coords = _execute(cfg, "meanfield", progress=False)
    np.testing.assert_array_equal(coords["S"], [3, 3, 5, 5])
    np.testing.assert_array_equal(coords["decay"], [0.1, 0.2, 0.1, 0.2])
    for i, (S, k) in enumerate(zip(coords["S"], coords["decay"])):
        one = tq.solve(
            tq.SpinModel(S, field={"x": 0.5}, decay=k),
            tq.spin_down(),
            tq.SaveAt(np.linspace(0.0, 1.0, 3)),
            tq.MeanField(),
        )
        np.testing.assert_allclose(np.asarray(sol["Sz"])[i], one["Sz"], rtol=1e-6, atol=1e-9)


def test_preset_signatures_read_without_import_match_the_functions():
    # the config is checked before JAX loads, so preset signatures are read from the source
    import inspect

    from twoqs_jax._config import PRESETS, preset_function, preset_signature

    for name in PRESETS:
        read = preset_signature(name)
        real = inspect.signature(preset_function(name))
        assert list(read.parameters) == list(real.parameters), name
        for p, q in zip(read.parameters.values(), real.parameters.values()):
            assert (p.default is p.empty) == (q.default is q.empty), (name, p.name)
            assert p.kind == q.kind, (name, p.name)


def test_scheme_key_selects_the_weak_order2_scheme():
    """``method.scheme = "weak_order2"`` builds tq.WeakOrder2 (Gaussian noise by default);
    without the key the scheme is Euler-Maruyama with two-point noise, as before.
    """
    m = parse_config(_with("method", scheme="weak_order2")).method_object()
    assert m.scheme == tq.WeakOrder2(0.01)
    m = parse_config(_with("method", scheme="weak_order2", noise="three_point")).method_object()
    assert m.scheme == tq.WeakOrder2(0.01, noise="three_point")
    assert parse_config(GOOD).method_object().scheme == tq.EulerMaruyama(0.01)


def test_correction_key_maps_onto_the_method():
    """``method.correction``: auto (the default), third_order or none (correction=None)."""
    assert parse_config(GOOD).method_object().correction == "auto"
    for value, want in (("third_order", "third_order"), ("none", None), ("auto", "auto")):
        m = parse_config(_with("method", correction=value)).method_object()
        assert m.correction == want
