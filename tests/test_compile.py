"""Compilation: what recompiles, and the command line's persistent compilation cache.

Compilations are counted with JAX's monitoring events (one backend compile per XLA
executable), never timed.
"""

import os
import subprocess
import sys

import jax
import jax.monitoring
import jax.numpy as jnp
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

    def python(*args):
        return subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
            cwd=tmp_path,
            check=False,
        )

    proc = python(
        "-m", "twoqs_jax.cli", "run", str(cfg), "--quiet", "--out", str(tmp_path / "a.h5")
    )
    assert proc.returncode == 0, proc.stderr
    assert len(os.listdir(tmp_path / "cache")) > 0
    # the kernel's executable is in the store (loaded without tracing by the next run)
    stored = os.listdir(tmp_path / "cache" / "twoqs_executables")
    assert len([f for f in stored if f.endswith(".exe")]) == 1, stored
    # the same configuration in a new process: the solve traces no program at all (the
    # kernel loads from the store, the setup around it runs in NumPy), so it compiles nothing
    proc = python("-c", REPEAT, str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert "traced 0 compiled 0" in proc.stdout, proc.stdout + proc.stderr


REPEAT = """
import sys
import jax.monitoring
import jax.numpy as jnp
import twoqs_jax.cli as cli
from twoqs_jax._config import load_config

cfg = load_config(sys.argv[1], check_model=False)
cli.start_jax(cache=True)
cfg.check_model()  # the model is built before the solve (its constructors run jnp code)
counts = {"/jax/core/compile/jaxpr_trace_duration": 0, "%s": 0}
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: counts.__setitem__(event, counts[event] + 1)
    if event in counts else None
)
cli._execute(cfg, "twa", progress=False)
print("traced", counts["/jax/core/compile/jaxpr_trace_duration"], "compiled", counts["%s"])
""" % (COMPILE_EVENT, COMPILE_EVENT)


def test_no_cache_flag_on_every_computing_command():
    from twoqs_jax.cli import build_parser

    parser = build_parser()
    for argv in (["run", "c.toml"], ["sweep", "c.toml"], ["compare", "c.toml"], ["demo"]):
        assert parser.parse_args(argv).cache is True
        assert parser.parse_args([*argv, "--no-cache"]).cache is False


# The host-side setup of a solve runs in NumPy (an eager jnp operation is a small program that
# a new process traces, lowers and loads from the cache: ~10 ms each); these tests pin that it
# computes what the jnp code computed.


def test_seed_keys_are_those_of_jax_random_key():
    from twoqs_jax._keys import key_from_seed

    for seed in (0, 1, 12345, 2**31 - 1, 2**31, 2**32 - 1):
        key = key_from_seed(seed)
        ref = jax.random.key(seed)
        assert key.dtype == ref.dtype
        assert jax.random.key_impl(key) == jax.random.key_impl(ref)
        np.testing.assert_array_equal(jax.random.key_data(key), jax.random.key_data(ref))
    # with JAX's seed offset set, `jax.random.key` adds it: so must the wrapped key
    old = jax.config.jax_random_seed_offset
    jax.config.update("jax_random_seed_offset", 7)
    try:
        np.testing.assert_array_equal(
            jax.random.key_data(key_from_seed(5)), jax.random.key_data(jax.random.key(5))
        )
    finally:
        jax.config.update("jax_random_seed_offset", old)


def _coupled_models():
    twist = tq.Coupling(tq.on_site(2), {"xy": 0.7, "zz": -0.2})  # same-site: symmetrised
    bond = tq.Coupling(tq.chain(2), {"xy": 0.3, "yz": 1.1})  # between sites: kept as is
    yield tq.SpinModel(2.0, n_sites=2, couplings=[twist, bond], decay=0.5, gain=0.1)
    yield tq.one_axis_twisting(5, g=1.3, Gamma=0.4, Gamma_phi=0.2)
    yield tq.driven_spin(5, 1.5)  # no edges
    yield jax.vmap(lambda g: tq.one_axis_twisting(5, g=g, Gamma=0.4))(np.array([0.0, 1.0]))


def test_coupling_mask_and_lowered_rates_match_the_jnp_code():
    from twoqs_jax._phase_space.drift import coupling_mask
    from twoqs_jax._phase_space.lowering import lower

    for model in _coupled_models():
        lowered = lower(model)
        J = np.asarray(lowered.symmetric_coupling)  # the jnp property
        ref = np.any(J != 0, axis=tuple(range(J.ndim - 2))) if J.size else np.zeros((3, 3))
        assert coupling_mask(lowered) == tuple(tuple(bool(x) for x in r) for r in ref)
        zeros = jnp.zeros(jnp.shape(model.spin))
        rates = {"decay": zeros, "gain": zeros, "dephasing": zeros}
        for jump in model.jumps:
            name = type(jump).__name__.lower()
            rates[name] = rates[name] + jump.rate
        for name, ref in rates.items():
            got = getattr(lowered, name)
            assert isinstance(got, jax.Array) and got.dtype == ref.dtype
            np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
    # traced (pathwise gradients lower a model built from traced parameters)
    grad = jax.grad(lambda r: jnp.sum(lower(tq.SpinModel(1.0, decay=r, gain=r)).decay))(0.3)
    assert float(grad) == 1.0


def test_memory_bound_of_the_observables_holds_without_tracing():
    from twoqs_jax._observables import PRIMITIVES, resolve
    from twoqs_jax._phase_space.lowering import lower
    from twoqs_jax._sde.config import kernel_config
    from twoqs_jax._sde.kernel import trajectory_values
    from twoqs_jax._twoqs import _values_bound

    model = tq.heisenberg_chain(3, 2.0, Jx=1.0, Jy=0.5)
    lowered = lower(model)
    method = tq.TWOQS(tq.EulerMaruyama(0.01))

    def config(observables):
        obs = resolve(observables, 3, "twoqs", PRIMITIVES)
        return kernel_config(lowered, tq.SaveAt([0.0, 0.1]), method, obs, 64, 64, "float32")[0]

    every = [*PRIMITIVES, "varx", "vary", "varz", "xi2"]
    for observables in (None, every, ["Sz", "SpSm", "xi2"]):
        cfg = config(observables)
        amp = jax.ShapeDtypeStruct((3,), jnp.complex64)
        values = jax.eval_shape(
            lambda a, b, s, cfg=cfg: trajectory_values(cfg, a, b, s),
            amp,
            amp,
            jax.ShapeDtypeStruct((3,), jnp.float32),
        )
        exact = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(values))
        bound = _values_bound(cfg, 3)
        assert bound is not None and exact <= bound <= 2 * exact + 2 * 9 * len(cfg.grouped)
    user = tq.PhaseSpaceFunction("nb", lambda a, b: jnp.abs(b) ** 2)
    assert _values_bound(config(["Sz", user]), 3) is None  # its shape is known by tracing


def _moments_per_value(cfg, q, weight):
    """The reduction one value at a time, without `materialise` (reference): the mean is the
    block sum times the reciprocal of the block's count, values of an integer dtype are
    converted to the weights' dtype.
    """

    def _tree_sum(x):
        while x.shape[1] > 1:
            x = x[:, 0::2] + x[:, 1::2]
        return x[:, 0]

    w = weight.reshape(-1, cfg.traj_block)
    n_b = jnp.maximum(_tree_sum(w), 1)
    mean, m2, gsum = {}, {}, {}
    for name, v in q.items():
        if not jnp.issubdtype(v.dtype, jnp.floating):
            v = v.astype(weight.dtype)
        vb = v.reshape(w.shape + v.shape[1:])
        wb = w.reshape(w.shape + (1,) * (v.ndim - 1))
        vb = jnp.where(wb > 0, vb, jnp.zeros_like(vb))
        s = _tree_sum(vb)
        mu = s * (1 / n_b.reshape(n_b.shape + (1,) * (v.ndim - 1)).astype(v.dtype))
        mean[name] = mu
        m2[name] = _tree_sum(jnp.where(wb > 0, (vb - mu[:, None]) ** 2, 0))
        if name.split("__")[0] in cfg.grouped:
            gsum[name] = s
    return {"mean": mean, "m2": m2, "gsum": gsum}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_chunk_moments_are_those_of_the_plain_reduction(dtype):
    import dataclasses

    from twoqs_jax._sde.kernel import _chunk_moments

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        traj_block: int = 16
        grouped: tuple = ("Sz", "SpSm")

    rng = np.random.default_rng(5)
    m, n = 64, 3
    q = {
        "Sz": rng.normal(size=(m, n)),
        "SpSm__re": rng.normal(size=(m, n, n)),
        "SpSm__im": rng.normal(size=(m, n, n)),
        "xi": rng.normal(size=(m,)),
        "big": 1e6 + rng.normal(size=(m, n)),
        "count": rng.integers(0, 5, size=(m, n)).astype(np.int32),
    }
    q = {k: jnp.asarray(v if v.dtype == np.int32 else v.astype(dtype)) for k, v in q.items()}
    q["xi"] = q["xi"].at[3].set(jnp.nan)  # a padding trajectory that blew up
    weight = jnp.asarray((np.arange(m) < 41).astype(dtype))  # blocks: full, partial, empty
    got = jax.jit(lambda q, w: _chunk_moments(Cfg(), q, w))(q, weight)
    ref = jax.jit(lambda q, w: _moments_per_value(Cfg(), q, w))(q, weight)
    assert jax.tree.structure(got) == jax.tree.structure(ref)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_materialise_returns_its_input_and_computes_it_once():
    import re

    from twoqs_jax._sde.fusion import materialise

    x = jnp.asarray([0.0, -0.0, 1.5, -jnp.inf, jnp.inf, jnp.nan, 1e-45], jnp.float32)
    z = jax.lax.complex(x, x[::-1])
    w = jnp.asarray([0, 1, 2**31, 2**32 - 1, 5, 6, 7], jnp.uint32)
    got = jax.jit(materialise)((x, z, w))
    for a, b in zip(got, (x, z, w), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8))

    def consumers(x, barrier):
        y = barrier(jnp.sin(jnp.sin(x)))
        return y * 2.0, y + 3.0, jnp.cos(y), y * y

    def sines(barrier):
        text = jax.jit(lambda x: consumers(x, barrier)).lower(x).compile().as_text()
        return len(re.findall(r" sine\(", text))

    assert sines(lambda y: y) > 2  # XLA copies the producer into every consumer
    assert sines(materialise) == 2
