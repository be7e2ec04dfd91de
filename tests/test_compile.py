"""Compilation: what recompiles, and the command line's persistent compilation cache.

Compilations are counted with JAX's monitoring events (one backend compile per XLA
executable), never timed.
"""

import os
import subprocess
import sys

import jax
import jax.monitoring
import numpy as np
import pytest

import twoqs_jax as tq

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class CompileCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, event, duration, **kwargs):
        if event == COMPILE_EVENT:
            self.count += 1

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self)


def _run(Omega, n_traj, S=4):
    # a time grid no other test uses (7 saving times), so the first run must compile
    return tq.solve(
        tq.driven_spin(S, Omega),
        tq.spin_down(),
        tq.SaveAt(np.linspace(0.0, 0.12, 7)),
        tq.TWOQS(tq.EulerMaruyama(0.01)),
        n_traj=n_traj,
        key=0,
        observables=["Sz"],
        options=tq.Options(chunk_size=64),
    )


def test_new_parameters_and_n_traj_do_not_recompile():
    with CompileCounter() as first:
        a = _run(0.5, 128)
    assert first.count >= 1  # the counter sees compilations
    # new parameter values, a new number of trajectories and so of chunks (same chunk size)
    with CompileCounter() as again:
        b = _run(1.5, 192, S=6)
    assert again.count == 0
    assert b.stats["n_traj"] == 192 and a.stats["n_traj"] == 128
    assert not np.allclose(np.asarray(a["Sz"])[-1] / 4, np.asarray(b["Sz"])[-1] / 6)
    # the traced n_traj masks the padding of the last chunk as the static one did: the
    # statistics equal those of a run whose chunks hold exactly n_traj (bit for bit)
    c = tq.solve(
        tq.driven_spin(6, 1.5),
        tq.spin_down(),
        tq.SaveAt(np.linspace(0.0, 0.12, 7)),
        tq.TWOQS(tq.EulerMaruyama(0.01)),
        n_traj=192,
        key=0,
        observables=["Sz"],
        options=tq.Options(chunk_size=192),
    )
    np.testing.assert_array_equal(np.asarray(b["Sz"]), np.asarray(c["Sz"]))
    np.testing.assert_array_equal(np.asarray(b.error("Sz")), np.asarray(c.error("Sz")))


def test_start_jax_respects_no_cache(monkeypatch):
    from twoqs_jax.cli import cache_dir, start_jax

    if jax.config.jax_compilation_cache_dir:
        pytest.skip("a compilation cache is configured for this test process")
    assert start_jax(cache=False) is None
    monkeypatch.setenv("TWOQS_NO_CACHE", "1")
    assert start_jax(cache=True) is None
    assert jax.config.jax_compilation_cache_dir is None
    monkeypatch.setenv("TWOQS_CACHE_DIR", "/some/where")
    assert cache_dir() == "/some/where"
    monkeypatch.delenv("TWOQS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    if sys.platform.startswith("linux"):
        assert cache_dir() == os.path.join("/xdg", "twoqs_jax", "jax")


CONFIG = """
[model]
preset = "driven_spin"
S = 3
Omega = 0.9
[method]
t_final = 0.05
n_save = 2
dt = 0.01
n_traj = 8
observables = ["Sz"]
"""


def test_cli_fills_its_cache_in_a_new_process(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("TWOQS_NO_CACHE",)}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["TWOQS_CACHE_DIR"] = str(tmp_path / "cache")

    def twoqs(*args):
        return subprocess.run(
            [sys.executable, "-m", "twoqs_jax.cli", "run", str(cfg), "--quiet", *args],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
            cwd=tmp_path,
            check=False,
        )

    proc = twoqs("--out", str(tmp_path / "a.h5"))
    assert proc.returncode == 0, proc.stderr
    assert len(os.listdir(tmp_path / "cache")) > 0
    # the kernel's executable is in the store (loaded without tracing by the next run)
    stored = os.listdir(tmp_path / "cache" / "twoqs_executables")
    assert len([f for f in stored if f.endswith(".exe")]) == 1, stored


def test_no_cache_flag_on_every_computing_command():
    from twoqs_jax.cli import build_parser

    parser = build_parser()
    for argv in (["run", "c.toml"], ["sweep", "c.toml"], ["compare", "c.toml"], ["demo"]):
        assert parser.parse_args(argv).cache is True
        assert parser.parse_args([*argv, "--no-cache"]).cache is False
