"""Loud when wrong: non-finite trajectories are detected per chunk (a single run stops at
once naming chunk, time and count; a sweep goes on with a status per point, failed points
NaN with a warning), and property-based fuzzing (hypothesis, fixed seed, bounded examples)
of model construction, solver arguments and config files: every input ends in a clear error
or a correct result, and no NaN reaches a result unflagged.
"""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import twoqs_jax as tq
from twoqs_jax._twoqs import FailedPointsWarning, TrajectoryBlowUp  # no public names yet

SAVE = tq.SaveAt([0.0, 1.0, 2.0])
METHOD = tq.TWOQS.paper(tq.EulerMaruyama(0.1))  # unstable for Gamma = 20 (kappa dt = 0.4)
FUZZ = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _solve(model, **options):
    return tq.solve(
        model,
        tq.spin_down(),
        SAVE,
        METHOD,
        n_traj=60,
        key=1,
        observables=["Sz", "varz"],
        options=tq.Options(chunk_size=10, **options),
    )


def _n_failed(status):
    """The number of failed trajectories (of 60) in a status. At kappa dt = 0.4 Euler is
    unstable and nearly every trajectory blows up by t = 2, but how many depends on the noise:
    59 or 60 of 60 for keys 1-4 (old and counter-based streams alike), hence >= 55.
    """
    m = re.match(r"failed: (\d+) of 60 trajectories reached NaN or inf", status)
    assert m, status
    return int(m.group(1))


def test_blowup_stops_at_the_first_chunk_naming_it():
    """Old main: a blow-up was found only after every chunk (a 67 s run lost), with the
    advice "use a smaller dt" and no chunk, time or count.
    """
    with pytest.raises(TrajectoryBlowUp) as err:
        _solve(tq.driven_spin(5, 1.0, 20.0))
    msg = str(err.value)
    assert "chunk 1 of 6" in msg and "10 trajectories" in msg and "t = 1" in msg, msg
    assert "dt = 0.1" in msg and "\n" not in msg
    # throw=False: every chunk runs, the result is NaN and flagged, with a warning
    with pytest.warns(FailedPointsWarning, match="failed"):
        sol = _solve(tq.driven_spin(5, 1.0, 20.0), throw=False)
    assert np.all(np.isnan(sol["Sz"])) and _n_failed(sol.stats["status"]) >= 55


def test_sweep_goes_on_with_a_status_per_point(tmp_path):
    """Old main: one unstable point lost every good point of the sweep."""
    batch = jax.vmap(lambda g: tq.driven_spin(5, 1.0, g))(jnp.array([1.0, 20.0, 0.5]))
    with pytest.warns(FailedPointsWarning, match="1 of 3 sweep points failed"):
        sol = _solve(batch)
    assert sol.stats["status"][0] == "ok" and sol.stats["status"][2] == "ok"
    assert _n_failed(sol.stats["status"][1]) >= 55
    for name in ("Sz", "varz"):
        assert np.all(np.isfinite(sol[name][[0, 2]])) and np.all(np.isnan(sol[name][1]))
        assert np.all(np.isnan(sol.error(name)[1]))
    # the good points are those of their single runs, bit for bit
    alone = _solve(tq.driven_spin(5, 1.0, 0.5))
    np.testing.assert_array_equal(sol["Sz"][2], alone["Sz"])
    # the status travels with the results file
    res = tq.load(tq.save(tmp_path / "s.h5", sol))
    assert res.solution.stats["status"] == sol.stats["status"]


@FUZZ
@given(
    S=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 10**6)),
    Omega=st.floats(allow_nan=True, allow_infinity=True),
    Gamma=st.floats(allow_nan=True, allow_infinity=True),
)
def test_fuzz_model_construction(S, Omega, Gamma):
    """A preset with any numbers: a model that validates, or a ValueError naming a
    parameter; never another exception.
    """
    try:
        m = tq.driven_spin(S, Omega, Gamma)
        m.validate()
    except ValueError as err:
        assert "`" in str(err) or any(p in str(err) for p in ("S", "Omega", "Gamma")), err
        return
    arrays = [np.asarray(x) for x in (m.spin, m.field, m.coupling)]
    assert all(np.all(np.isfinite(a)) for a in arrays)
    assert np.all(np.asarray(m.spin) > 0)


@FUZZ
@given(
    n_traj=st.one_of(st.integers(-5, 40), st.floats(allow_nan=True), st.text(max_size=3)),
    key=st.one_of(st.integers(-(2**70), 2**70), st.none(), st.text(max_size=3)),
    chunk=st.one_of(st.none(), st.integers(-3, 50), st.floats(allow_nan=True)),
    dt=st.one_of(st.sampled_from([0.05, 0.1]), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_fuzz_solver_arguments(n_traj, key, chunk, dt):
    """Bad solver arguments are refused with a ValueError naming them, before any work;
    good ones give finite results (the valid examples share a few compiled kernels).
    """
    try:
        opts = tq.Options(chunk_size=chunk, progress=False)
        method = tq.TWOQS.paper(tq.EulerMaruyama(dt))
        sol = tq.solve(
            tq.driven_spin(3, 0.5),
            tq.spin_down(),
            tq.SaveAt([0.0, 0.1]),
            method,
            n_traj=n_traj,
            key=key,
            observables=["Sz"],
            options=opts,
        )
    except ValueError as err:
        msg = str(err)
        assert "`" in msg and "\n" not in msg.strip(), msg
        return
    assert isinstance(n_traj, int) and n_traj >= 2
    assert sol.stats["status"] == "ok" and np.all(np.isfinite(sol["Sz"]))


TOML_VALUES = st.one_of(
    st.integers(-(2**65), 2**65),
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda x: (
            "nan"
            if math.isnan(x)
            else ("inf" if x == math.inf else ("-inf" if x == -math.inf else repr(x)))
        )
    ),
    st.text(alphabet="abcxyz_ 0.-", max_size=6).map(lambda s: '"' + s + '"'),
    st.sampled_from(["true", "[]", "[1, 2]", "{}", '"twa"', '"meanfield"', '"exact"']),
)


@FUZZ
@given(
    key=st.sampled_from(
        [
            "model.S",
            "model.Omega",
            "model.Gamma",
            "model.preset",
            "method.name",
            "method.t_final",
            "method.n_save",
            "method.dt",
            "method.n_traj",
            "model.foo",
            "output.path",
            "sweep.values",
        ]
    ),
    value=TOML_VALUES,
    garbage=st.sampled_from(["", "[model\n", "x = = 1\n", "\x00", "[method]\n"]),
)
def test_fuzz_config_files(tmp_path_factory, key, value, garbage):
    """A config file with one fuzzed entry (and sometimes broken TOML): loading and building
    it ends in a ValueError (naming the entry, for well-formed TOML) or a valid model.
    """
    from twoqs_jax._config import load_config  # the config reader (the CLI's), fuzzed

    table, name = key.split(".")
    base = {
        "model": {"preset": '"driven_spin"', "S": "5", "Omega": "0.8"},
        "method": {"name": '"meanfield"', "t_final": "0.5", "n_save": "3"},
    }
    base.setdefault(table, {})[name] = value
    text = (
        "".join(
            f"[{t}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()) for t, kv in base.items()
        )
        + garbage
    )
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    path.write_text(text)
    try:
        cfg = load_config(str(path))
        model = cfg.build_model()
        model.validate()
        cfg.saveat()
    except ValueError as err:
        assert "\n" not in str(err).strip() or "TOML" in str(err) or "toml" in str(err), err
        return
    assert np.all(np.isfinite(np.asarray(model.field)))


def test_chunk_beyond_memory_refused_before_compiling(monkeypatch):
    """Preflight: a chunk whose estimated working set exceeds the device's memory is refused
    naming chunk_size and a size that fits (here 1 GiB of memory is pretended).
    """
    # patched: a pretended device memory; nothing may compile before the refusal
    from twoqs_jax import _twoqs
    from twoqs_jax._sde import driver

    monkeypatch.setattr(_twoqs, "device_memory", lambda devices: float(2**30))
    monkeypatch.setattr(driver, "compiled", lambda *a: pytest.fail("compiled before preflight"))
    with pytest.raises(ValueError, match=r"`chunk_size` = 1048576 needs about .* chunk_size <="):
        tq.solve(
            tq.driven_spin(5, 1.0),
            tq.spin_down(),
            SAVE,
            METHOD,
            n_traj=2**20,
            key=0,
            options=tq.Options(chunk_size=2**20, shard=False),
        )
