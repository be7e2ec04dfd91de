"""Compiled chunk functions stored on disk under our own key, loaded without tracing.

JAX's persistent compilation cache skips XLA's compilation in a new process, but tracing and
lowering still run (seconds for the TWOQS kernel). This store keeps the compiled executable
itself (``jax.experimental.serialize_executable``), compiled on the *flat* list of argument
leaves, under a key that describes everything the program depends on:

- the static configuration (:class:`~.kernel.KernelConfig`, batching, devices), described
  field by field (functions by module, name, code and closure; only the package's own
  functions: a user function makes the call unkeyable and it takes the ordinary path);
- the argument tree (node types and their static data, e.g. the model's edges) and every
  leaf's shape, dtype, weak type and sharding;
- jax and jaxlib versions, backend, platform version and device kinds, ``XLA_FLAGS``, JAX's
  trace-time settings (``jax_enable_x64``, promotion rules, ...), the Python version;
- the package's version and a hash of its source files (an edited checkout never loads an
  executable of other code).

A file is ``MAGIC``, the key's full text, the SHA-256 of the payload and the payload; the
file name is the SHA-256 of the key text. A file loads only if its stored text equals the
key (no two keys can share a file) and its payload matches its checksum, so a truncated or
damaged file is detected before JAX reads it. Writes are atomic (a temporary file, then
``os.replace``). Any failure to describe, load or store is silent and the call takes the
ordinary path (``jit(...).lower(...).compile()``), whose results are the same bit for bit.

The store is on wherever JAX's persistent compilation cache is on
(``jax.config.jax_compilation_cache_dir`` set: by default for the command line; for the API,
``jax.config.update("jax_compilation_cache_dir", path)``), in the subdirectory
``twoqs_executables`` of that directory, and off with ``TWOQS_NO_CACHE=1`` or
``TWOQS_NO_EXECUTABLE_STORE=1`` (also off for a remote cache directory such as ``gs://...``
and in multi-process runs). At most :data:`MAX_FILES` executables are kept (the least
recently used are removed; a few MB each). Stored files are unpickled, so the folder is created
private (``0o700``) and a folder that others can write to is not used.
"""

import dataclasses
import enum
import functools
import hashlib
import logging
import os
import pathlib
import secrets
import sys
import time
import types

import jax
import numpy as np

log = logging.getLogger(__name__)

MAGIC = b"twoqs-executable-v1\n"
SUBDIR = "twoqs_executables"
MAX_FILES = 256
_MAX_DEPTH = 40


class Unkeyable(Exception):
    """The call cannot be described safely (e.g. it holds a user function)."""


def directory() -> str | None:
    """The store's directory, or ``None`` when the store is off (module docstring)."""
    for name in ("TWOQS_NO_CACHE", "TWOQS_NO_EXECUTABLE_STORE"):
        if os.environ.get(name, "0") not in ("", "0"):
            return None
    base = jax.config.jax_compilation_cache_dir
    if not jax.config.jax_enable_compilation_cache:
        return None  # the user turned JAX's cache off
    if not base or "://" in str(base) or jax.process_count() > 1:
        return None  # off, a remote cache (gs://...), or several processes
    return os.path.join(base, SUBDIR)


@functools.cache
def package_fingerprint() -> str:
    """The package's version and the SHA-256 of its Python sources (paths and contents)."""
    import twoqs_jax

    root = pathlib.Path(twoqs_jax.__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return f"{twoqs_jax.__version__}:{h.hexdigest()}"


def _code(code: types.CodeType) -> str:
    consts = ",".join(
        _code(c) if isinstance(c, types.CodeType) else _describe(c, 0) for c in code.co_consts
    )
    digest = hashlib.sha256(code.co_code).hexdigest()
    return f"code({code.co_qualname},{code.co_firstlineno},{digest},{code.co_names},[{consts}])"


def _describe(obj, depth: int) -> str:
    """A text that determines ``obj`` as the compiled program sees it (raises Unkeyable)."""
    if depth > _MAX_DEPTH:
        raise Unkeyable("too deep")
    d = depth + 1
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return f"{type(obj).__name__}:{obj!r}"
    if isinstance(obj, enum.Enum):
        return f"{type(obj).__module__}.{type(obj).__qualname__}.{obj.name}"
    if isinstance(obj, (tuple, list)):
        inner = ",".join(_describe(x, d) for x in obj)
        return f"{type(obj).__module__}.{type(obj).__qualname__}({inner})"
    if isinstance(obj, dict):
        items = sorted((_describe(k, d), _describe(v, d)) for k, v in obj.items())
        return "dict(" + ",".join(f"{k}:{v}" for k, v in items) + ")"
    if isinstance(obj, (set, frozenset)):
        return f"{type(obj).__name__}(" + ",".join(sorted(_describe(x, d) for x in obj)) + ")"
    if isinstance(obj, (np.ndarray, np.generic)):
        a = np.asarray(obj)
        if a.dtype == object:
            raise Unkeyable("object array")
        digest = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
        return f"ndarray({a.dtype.str},{a.shape},{digest})"
    if isinstance(obj, np.dtype):
        return f"dtype({obj.str})"
    if isinstance(obj, jax.Device):
        kind = getattr(obj, "device_kind", "")
        return f"device({obj.platform},{kind},{obj.id},{obj.process_index})"
    if isinstance(obj, type):
        _trusted(obj)
        return f"type({obj.__module__}.{obj.__qualname__})"
    if isinstance(obj, functools.partial):
        return (
            f"partial({_describe(obj.func, d)},{_describe(obj.args, d)},"
            f"{_describe(obj.keywords, d)})"
        )
    if isinstance(obj, types.FunctionType):
        module = obj.__module__ or ""
        if module != "twoqs_jax" and not module.startswith("twoqs_jax."):
            # a user function: its globals are not in the key (the ordinary path is exact)
            raise Unkeyable(f"function {module}.{obj.__qualname__}")
        cells = tuple(c.cell_contents for c in obj.__closure__ or ())
        return (
            f"function({module}.{obj.__qualname__},{_code(obj.__code__)},"
            f"{_describe(cells, d)},{_describe(obj.__defaults__, d)},"
            f"{_describe(obj.__kwdefaults__, d)})"
        )
    if isinstance(obj, types.BuiltinFunctionType):
        return f"builtin({getattr(obj, '__module__', None)}.{obj.__qualname__})"
    if dataclasses.is_dataclass(obj):  # frozen dataclasses and equinox modules
        _trusted(type(obj))
        fields = ",".join(
            f"{f.name}={_describe(getattr(obj, f.name), d)}" for f in dataclasses.fields(obj)
        )
        return f"{type(obj).__module__}.{type(obj).__qualname__}({fields})"
    array = getattr(obj, "array", None)
    if type(obj).__qualname__ == "_StaticArray" and isinstance(array, np.ndarray):
        return f"static({_describe(array, d)})"
    if not getattr(obj, "__dict__", None) and not getattr(type(obj), "__slots__", None):
        # a stateless sentinel (e.g. equinox's ``Missing``)
        _trusted(type(obj))
        return f"sentinel({type(obj).__module__}.{type(obj).__qualname__})"
    raise Unkeyable(f"cannot describe {type(obj).__qualname__}")


_TRUSTED = ("twoqs_jax", "equinox", "jax", "jaxlib", "numpy", "builtins")


def _trusted(cls: type) -> None:
    """Classes enter the key by name only (their methods do not): a class of the user's (a
    custom scheme or jump term, which may be edited between runs) makes the call unkeyable.
    """
    module = getattr(cls, "__module__", None) or ""
    if module.split(".")[0] not in _TRUSTED:
        raise Unkeyable(f"class {module}.{cls.__qualname__}")


def _treedef(tree, depth: int = 0) -> str:
    if depth > _MAX_DEPTH:
        raise Unkeyable("tree too deep")
    node = tree.node_data()
    if node is None:
        return "*"
    kind, aux = node
    children = ",".join(_treedef(c, depth + 1) for c in tree.children())
    return f"{_describe(kind, 0)}[{_describe(aux, 0)}]({children})"


def _leaf(x) -> str:
    aval = jax.typeof(x)
    sharding = getattr(x, "sharding", None)
    spec = getattr(sharding, "spec", None)
    devices = getattr(sharding, "device_set", None)
    where = (
        f"{type(sharding).__name__},{spec},"
        f"{sorted(d.id for d in devices) if devices is not None else None}"
    )
    return f"{aval.str_short()}/{getattr(aval, 'weak_type', None)}/{where}"


def _environment() -> str:
    import equinox
    import jaxlib

    try:
        from jax._src import config as _config

        names = _config.trace_context_names()
        settings = [
            f"{n}={v!r}"
            for n, v in zip(names, _config.trace_context(), strict=True)
            if n != "axis_env_state"
        ]
    except Exception:  # a JAX without this private API: the public settings that matter
        settings = [
            f"{n}={jax.config.read(n)!r}"
            for n in (
                "jax_enable_x64",
                "jax_default_matmul_precision",
                "jax_numpy_rank_promotion",
                "jax_numpy_dtype_promotion",
                "jax_threefry_partitionable",
                "jax_default_prng_impl",
            )
        ]
    devices = jax.devices()
    return "\n".join(
        [
            f"python {sys.version_info[:3]}",
            f"jax {jax.__version__} jaxlib {getattr(jaxlib, '__version__', None)}",
            f"equinox {equinox.__version__} numpy {np.__version__}",
            f"backend {jax.default_backend()} {devices[0].client.platform_version}",
            "devices " + ",".join(_describe(x, 0) for x in devices),
            f"XLA_FLAGS {os.environ.get('XLA_FLAGS', '')}",
            f"twoqs_jax {package_fingerprint()}",
            *settings,
        ]
    )


def key_text(static, args) -> str:
    """The full key of ``static`` and ``args`` (raises :class:`Unkeyable`)."""
    leaves, treedef = jax.tree.flatten(args)
    text = "\n".join(
        [
            _environment(),
            "static " + _describe(static, 0),
            "tree " + _treedef(treedef),
            "leaves " + ";".join(_leaf(x) for x in leaves),
        ]
    )
    if " at 0x" in text:  # an object repr with a memory address slipped in
        raise Unkeyable("address in the key")
    return text


class FlatExecutable:
    """A compiled function of the flat argument leaves, called with the argument tree."""

    def __init__(self, compiled, treedef):
        self.compiled = compiled
        self.treedef = treedef

    def __call__(self, *args):
        leaves, treedef = jax.tree.flatten(args)
        if treedef != self.treedef:
            raise ValueError(f"argument tree {treedef} differs from the compiled {self.treedef}")
        return self.compiled(*leaves)


def _compile_flat(fn, treedef, leaves):
    def flat(*xs):
        return fn(*jax.tree.unflatten(treedef, xs))

    return jax.jit(flat).lower(*leaves).compile()


def _read(path: str, text: bytes):
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(MAGIC):
        raise ValueError("not an executable of this store")
    pos = len(MAGIC)
    n = int.from_bytes(data[pos : pos + 8], "little")
    pos += 8
    if data[pos : pos + n] != text:
        raise ValueError("key differs")
    pos += n
    digest, payload = data[pos : pos + 32], data[pos + 32 :]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError("checksum differs (damaged file)")
    return payload


def _write(folder: str, path: str, text: bytes, payload: bytes) -> None:
    os.makedirs(folder, mode=0o700, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{secrets.token_hex(8)}")
    # created with the user's umask (like JAX's own cache files), then renamed into place
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC)
            f.write(len(text).to_bytes(8, "little"))
            f.write(text)
            f.write(hashlib.sha256(payload).digest())
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _evict(folder)


def _private(folder: str) -> bool:
    """Files are unpickled from the store: only a folder that no one else can write to."""
    try:
        st = os.stat(folder)
    except OSError:
        return True  # absent (created 0o700 on the first write) or unusable: nothing to load
    owner = getattr(os, "getuid", None)
    return not (st.st_mode & 0o022) and (owner is None or st.st_uid == owner())


def _evict(folder: str) -> None:
    now = time.time()
    for e in os.scandir(folder):  # temporary files of killed processes
        try:
            if e.name.startswith(".tmp-") and now - e.stat().st_mtime > 3600:
                os.unlink(e.path)
        except OSError:
            pass
    files = [e for e in os.scandir(folder) if e.name.endswith(".exe")]
    if len(files) <= MAX_FILES:
        return
    files.sort(key=lambda e: e.stat().st_mtime)
    for e in files[: len(files) - MAX_FILES]:
        try:
            os.unlink(e.path)
        except OSError:
            pass


def load_or_compile(fn, static, args, folder: str):
    """``fn`` (a jitted function) compiled for ``args``: loaded from ``folder`` when stored
    under the key of ``(static, args)``, else compiled on the flat leaves and stored. Returns
    ``None`` when the call cannot be keyed or compiled on flat leaves (the caller takes the
    ordinary path); failures to read or write the store are silent.
    """
    import pickle

    from jax.experimental import serialize_executable

    try:
        text = key_text(static, args).encode()
    except Exception as err:  # Unkeyable, or anything unexpected while describing
        log.debug("executable store: not keyable (%s)", err)
        return None
    if not _private(folder):
        log.warning("executable store: %s is writable by others; not used", folder)
        return None
    leaves, treedef = jax.tree.flatten(args)
    path = os.path.join(folder, hashlib.sha256(text).hexdigest() + ".exe")
    if os.path.exists(path):
        try:
            payload, in_tree, out_tree, ids = pickle.loads(_read(path, text))
            by_id = {d.id: d for d in jax.devices()}
            exe = serialize_executable.deserialize_and_load(
                payload, in_tree, out_tree, execution_devices=[by_id[i] for i in ids]
            )
            os.utime(path)
            return FlatExecutable(exe, treedef)
        except Exception as err:
            log.debug("executable store: cannot load %s (%s)", path, err)
    try:
        exe = _compile_flat(fn, treedef, leaves)
    except Exception as err:
        log.debug("executable store: flat compile failed (%s)", err)
        return None
    try:
        # the devices the executable runs on, in its order (loading needs them)
        ids = [d.id for d in exe._executable._unloaded_executable.device_list]
        _write(folder, path, text, pickle.dumps((*serialize_executable.serialize(exe), ids)))
    except Exception as err:
        log.debug("executable store: cannot store %s (%s)", path, err)
    return FlatExecutable(exe, treedef)
