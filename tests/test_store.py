"""The executable store (:mod:`twoqs_jax._sde.store`): keys, round trips, damaged files.

The unit tests use a small jitted function (milliseconds to compile); one test runs the
TWOQS kernel through ``tq.solve`` with the store off, on (compiled and stored) and on again
(loaded), and asserts the same results bit for bit (slow).
"""

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import twoqs_jax as tq
from twoqs_jax._sde import driver, store


@dataclasses.dataclass(frozen=True)
class Static:
    power: int
    fn: object = None


# The store keys only the package's (and JAX's, NumPy's) classes, whose code it hashes with the
# package sources; this stand-in for a KernelConfig claims to be one.
Static.__module__ = "twoqs_jax._sde.kernel"


@dataclasses.dataclass(frozen=True)
class UserScheme:  # a user's class: its methods may be edited between runs
    dt: float


def _fn(static):
    @jax.jit
    def f(x, pair):
        y = x**static.power + pair[0] * pair[1]["b"]
        return {"y": y, "s": jnp.sum(y)}

    return f


def _args(scale=1.0):
    x = jnp.arange(6.0, dtype=jnp.float32) * scale
    return (x, (jnp.float32(2.0), {"b": jnp.ones(6, jnp.float32)}))


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.delenv("TWOQS_NO_CACHE", raising=False)
    monkeypatch.delenv("TWOQS_NO_EXECUTABLE_STORE", raising=False)
    return str(tmp_path / "exe")


def _files(folder):
    return (
        sorted(f for f in os.listdir(folder) if f.endswith(".exe")) if os.path.isdir(folder) else []
    )


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _same(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_loads_without_compiling(folder):
    static, args = Static(3), _args()
    fn = _fn(static)
    ref = fn(*args)
    first = store.load_or_compile(fn, static, args, folder)
    assert first is not None and len(_files(folder)) == 1
    _same(first(*args), ref)
    compiles = []

    def listen(event, duration, **kw):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        again = store.load_or_compile(_fn(static), static, args, folder)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert compiles == []  # loaded, not traced nor compiled
    _same(again(*args), ref)
    new = _args(scale=3.0)  # new values, same shapes: the same executable
    _same(again(*new), fn(*new))


def test_keys_differ_for_what_the_program_depends_on():
    static, args = Static(3), _args()
    base = store.key_text(static, args)
    assert store.key_text(Static(3), _args(scale=2.0)) == base  # values are not in the key
    assert store.key_text(Static(2), args) != base
    x, pair = args
    assert store.key_text(static, (x.astype(jnp.float64), pair)) != base
    assert store.key_text(static, (x[:5], pair)) != base
    assert store.key_text(static, (x, (pair[0], {"c": pair[1]["b"]}))) != base
    assert store.key_text(static, (x, [pair[0], pair[1]])) != base
    # the package's own functions are described by code and closure
    own = store.key_text(Static(3, fn=driver.compiled), args)
    assert own != base and own == store.key_text(Static(3, fn=driver.compiled), args)


def test_edges_enter_the_key_by_value():
    from twoqs_jax._model.model import _StaticArray

    a = np.stack([np.arange(20), (np.arange(20) + 1) % 20], axis=1)
    b = a.copy()
    b[3, 1] = 7
    assert repr(_StaticArray(a)) == repr(_StaticArray(b))  # the repr cannot tell them apart
    assert store.key_text(_StaticArray(a), _args()) != store.key_text(_StaticArray(b), _args())


def test_user_functions_take_the_ordinary_path(folder):
    static = Static(2, fn=lambda x: x)  # its globals could change: not keyable
    with pytest.raises(store.Unkeyable):
        store.key_text(static, _args())
    assert store.load_or_compile(_fn(static), static, _args(), folder) is None
    assert _files(folder) == []
    for user in (UserScheme(0.1), Static(2, fn=UserScheme), Static(2, fn=(UserScheme(0.1),))):
        with pytest.raises(store.Unkeyable, match="class"):
            store.key_text(user, _args())


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "other_key", "empty"])
def test_damaged_file_falls_back_and_is_replaced(folder, damage):
    static, args = Static(3), _args()
    fn = _fn(static)
    ref = fn(*args)
    store.load_or_compile(fn, static, args, folder)
    (name,) = _files(folder)
    path = os.path.join(folder, name)
    data = _bytes(path)
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data = data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:]
    elif damage == "garbage":
        data = os.urandom(len(data))
    elif damage == "other_key":
        data = data.replace(b"power=int:3", b"power=int:4", 1)
    else:
        data = b""
    with open(path, "wb") as f:
        f.write(data)
    exe = store.load_or_compile(fn, static, args, folder)
    assert exe is not None
    _same(exe(*args), ref)
    assert _bytes(path) != data  # rewritten with a good executable
    _same(store.load_or_compile(fn, static, args, folder)(*args), ref)


def test_unwritable_store_runs_without_error(folder, tmp_path):
    static, args = Static(3), _args()
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    exe = store.load_or_compile(_fn(static), static, args, str(blocker / "exe"))
    _same(exe(*args), _fn(static)(*args))


def test_store_shared_with_others_is_not_used(tmp_path):
    static, args = Static(3), _args()
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could plant a file to be unpickled
    assert store.load_or_compile(_fn(static), static, args, str(shared)) is None
    assert list(shared.iterdir()) == []


def test_store_follows_the_persistent_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("TWOQS_NO_CACHE", raising=False)
    monkeypatch.delenv("TWOQS_NO_EXECUTABLE_STORE", raising=False)
    before = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", None)
    try:
        assert store.directory() is None  # the library's default: off
        jax.config.update("jax_compilation_cache_dir", str(tmp_path))  # no compile in here
        assert store.directory() == os.path.join(str(tmp_path), store.SUBDIR)
        jax.config.update("jax_compilation_cache_dir", "gs://bucket/cache")
        assert store.directory() is None  # remote caches: JAX's cache only
        jax.config.update("jax_compilation_cache_dir", str(tmp_path))
        monkeypatch.setenv("TWOQS_NO_CACHE", "1")
        assert store.directory() is None
        monkeypatch.delenv("TWOQS_NO_CACHE")
        monkeypatch.setenv("TWOQS_NO_EXECUTABLE_STORE", "1")
        assert store.directory() is None
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def _solve(observables=("Sz",)):
    return tq.solve(
        tq.driven_spin(3, 1.3),
        tq.spin_down(),
        tq.SaveAt(np.linspace(0.0, 0.04, 3)),
        tq.TWOQS(tq.EulerMaruyama(0.01)),
        n_traj=96,
        key=3,
        observables=list(observables),
        options=tq.Options(chunk_size=64),
    )


@pytest.mark.slow
def test_solve_is_bit_identical_with_and_without_the_store(monkeypatch, tmp_path):
    # two kernel compilations (~15 s CPU); the store's mechanics are tested above and the
    # command line stores the kernel in tests/test_compile.py
    # (with the tests' four host devices the chunk is sharded: the sharded executable)
    folder = str(tmp_path / "exe")
    monkeypatch.setattr(driver, "_EXECUTABLES", {})
    monkeypatch.setattr(store, "directory", lambda: None)
    plain = _solve()
    monkeypatch.setattr(driver, "_EXECUTABLES", {})
    monkeypatch.setattr(store, "directory", lambda: folder)
    stored = _solve()  # compiled on flat leaves and stored
    assert len(_files(folder)) == 1
    monkeypatch.setattr(driver, "_EXECUTABLES", {})
    loaded = _solve()  # loaded from the file
    assert len(_files(folder)) == 1
    for sol in (stored, loaded):
        for name in ("Sz",):
            np.testing.assert_array_equal(np.asarray(sol[name]), np.asarray(plain[name]))
            np.testing.assert_array_equal(
                np.asarray(sol.error(name)), np.asarray(plain.error(name))
            )
        assert sol.stats["n_traj"] == plain.stats["n_traj"] == 96
