"""Run configurations (TOML) for the ``twoqs`` command line, validated before any work.

A configuration names a model (a preset with its parameters, or explicit arrays), an initial
state, a method with its settings, optionally a parameter sweep, and an output file::

    [model]
    preset = "driven_spin"     # any name in PRESETS; parameters are the preset's arguments
                               # ("explicit": arrays, couplings and jumps; explicit_model)
    S = 100
    Omega = 1.5
    Gamma = 1.0

    [state]                    # optional; default: all spins down
    theta = 3.141592653589793  # or  kind = "down" | "up" | "x"
    phi = 0.0

    [method]
    name = "twa"               # twa | meanfield | cumulants | exact
    t_final = 10.0             # time-resolved run: SaveAt(linspace(0, t_final, n_save)) ...
    n_save = 101
    # t_burn = 40.0            # ... or a steady state: SteadyState(t_burn, t_avg, every)
    # t_avg = 10.0
    # every = 0.5              # sampling interval of the window (twa default: dt)
    dt = 0.005                 # twa only: the scheme's step
    scheme = "euler_maruyama"  # twa: euler_maruyama (EulerMaruyama(dt, noise)) | weak_order2
                               # (WeakOrder2(dt, noise): weak order 2, tangential W noise only)
    noise = "two_point"        # twa: two_point | gaussian (euler_maruyama);
                               # gaussian | three_point (weak_order2; default gaussian)
    n_traj = 10000             # twa only
    key = 0                    # any integer: the same stream as tq.solve(..., key=key)
    representation = "W"       # twa: W | P | Q
    sampling = "fock"          # twa: fock | coherent (default: tq.TWOQS's)
    constraint = "spin_length" # twa: spin_length | none (default: tq.TWOQS's)
    diffusion = "tangential"   # twa: tangential | paper (default: tq.TWOQS's)
    correction = "auto"        # twa: auto | third_order | none (default: tq.TWOQS's)
    observables = ["Sz", "varz", "xi2"]  # any registered names (default: the standard set)
    precision = "float32"      # float32 | float64
    chunk_size = 4096
    device = "auto"            # auto | cpu | gpu

Each configuration maps onto the objects of :func:`twoqs_jax.solve`
(:meth:`RunConfig.saveat`, :meth:`RunConfig.method_object`, :meth:`RunConfig.options`), so
a run from the command line equals the same call in Python, seed for seed. The keys
``fock_sampling`` and ``conserve_spin`` of the previous release are still read (as
``sampling`` and ``constraint``).

    [sweep]                    # optional: one model parameter over a grid
    parameter = "Omega"
    values = [0.5, 1.0, 1.5]   # or  start = 0.0, stop = 2.0, num = 9

    [sweep]                    # or several parameters, S included
    mode = "grid"              # grid: every combination | zip: the i-th values together
    S = [10, 20, 40]
    Omega = [0.5, 1.5]

    [output]
    path = "results.h5"

Every error names the key, the value, and what is allowed.

Debug switches of the library are environment variables, read here (as equinox's
``_config.py`` does), never public arguments:

- ``TWOQS_AUTODIFF_DRIFT=1``: TWOQS takes the Hamiltonian drift from the autodiff reference
  (Wirtinger gradient of the Weyl symbol) instead of the hand-written fused one.
"""

import ast
import dataclasses
import functools
import importlib
import importlib.resources
import inspect
import math
import os
import pathlib
import tomllib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads where arrays are made, not when a config is checked
    import numpy as np


def example_names() -> list[str]:
    """Names of the example configurations shipped in ``twoqs_jax/examples/``."""
    files = importlib.resources.files("twoqs_jax").joinpath("examples").iterdir()
    return sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml"))


def example_text(name: str) -> str:
    """The commented TOML text of the shipped example ``name`` (see :func:`example_names`)."""
    names = example_names()
    if name not in names:
        raise ConfigError(f"`--example` = {name!r}; the shipped examples are {names}.")
    return importlib.resources.files("twoqs_jax").joinpath("examples", f"{name}.toml").read_text()


def autodiff_drift() -> bool:
    """``TWOQS_AUTODIFF_DRIFT=1`` (read at every solve, so tests can set it)."""
    value = os.environ.get("TWOQS_AUTODIFF_DRIFT", "0")
    if value not in ("0", "1"):
        raise ValueError(f"TWOQS_AUTODIFF_DRIFT must be 0 or 1, got {value!r}.")
    return value == "1"


def _complex(key: str, v):
    """A TOML number, or a ``[re, im]`` pair, as a complex number (TOML has no complex)."""
    if isinstance(v, bool):
        raise ConfigError(f"`{key}` = {v!r} must be a number or a [re, im] pair.")
    if isinstance(v, int | float):
        return complex(v)
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int | float) for x in v):
        return complex(v[0], v[1])
    if isinstance(v, list):  # one per site
        return [_complex(f"{key}[{i}]", x) for i, x in enumerate(v)]
    raise ConfigError(f"`{key}` = {v!r} must be a number, a [re, im] pair, or a list of them.")


def explicit_model(
    S, n_sites=None, field=None, decay=None, gain=None, dephasing=None, couplings=(), jumps=()
):
    """A :class:`SpinModel` from explicit arrays (``preset = "explicit"`` in a config).

    TOML form (every key but ``S`` optional)::

        [model]
        preset = "explicit"
        S = 10                       # or one per site: [10, 10, 5]
        n_sites = 3
        field = { x = 1.0, z = [0.0, 0.1, 0.2] }   # H += sum_i h_i . S_i
        decay = 0.1                  # standard rates of S^-, S^+, S^z: scalar or per site
        dephasing = [0.0, 0.0, 0.05]
        [[model.couplings]]          # sum_e w_e sum_ab J_ab S_i^a S_j^b on the listed edges
        edges = [[0, 1], [1, 2]]     # or edges = "on_site" for S_i^a S_i^b
        weights = [1.0, 0.5]         # optional
        xx = 0.5
        yy = 0.5
        [[model.jumps]]              # tq.SpinJump: L = c_- S^- + c_+ S^+ + c_z S^z per site
        rate = 0.2
        c_minus = 1.0
        c_z = [0.0, 0.5]             # complex coefficients as [re, im]
    """
    from ._jumps.spin_jump import SpinJump
    from ._model.graphs import edge_list, on_site
    from ._model.model import Coupling, SpinModel

    n = n_sites if n_sites is not None else (len(S) if isinstance(S, list) else None)
    if n is None:
        n = 1
    if field is not None and not isinstance(field, dict):
        raise ConfigError(f"`model.field` = {field!r} must be a table such as {{ x = 1.0 }}.")
    if field is not None:
        bad = sorted(set(field) - {"x", "y", "z"})
        if bad:
            raise ConfigError(f"`model.field` has the keys {bad}; allowed: x, y, z.")
    built = []
    for i, c in enumerate(couplings or ()):
        where = f"model.couplings[{i}]"
        if not isinstance(c, dict) or "edges" not in c:
            raise ConfigError(f"`{where}` must be a table with `edges` and axis pairs (xx = ...).")
        pairs = {k: v for k, v in c.items() if k not in ("edges", "weights")}
        allowed = {a + b for a in "xyz" for b in "xyz"}
        if not pairs or set(pairs) - allowed:
            raise ConfigError(
                f"`{where}` has the keys {sorted(pairs)}; axis pairs allowed: {sorted(allowed)}."
            )
        if c["edges"] == "on_site":
            graph = on_site(n)
        else:
            try:
                graph = edge_list(c["edges"], n, c.get("weights"))
            except (ValueError, TypeError) as err:
                raise ConfigError(f"`{where}.edges` = {c['edges']!r}: {err}") from None
        try:
            built.append(Coupling(graph, pairs))
        except (ValueError, TypeError) as err:
            raise ConfigError(f"`{where}`: {err}") from None
    spin_jumps = []
    for i, j in enumerate(jumps or ()):
        where = f"model.jumps[{i}]"
        if not isinstance(j, dict) or "rate" not in j:
            raise ConfigError(f"`{where}` must be a table with `rate` and c_minus/c_plus/c_z.")
        bad = sorted(set(j) - {"rate", "c_minus", "c_plus", "c_z"})
        if bad:
            raise ConfigError(
                f"`{where}` has unknown keys {bad}; allowed: rate, c_minus, c_plus, c_z."
            )
        coef = {k: _complex(f"{where}.{k}", j[k]) for k in ("c_minus", "c_plus", "c_z") if k in j}
        for k, v in {"rate": j["rate"], **coef}.items():
            if isinstance(v, list) and len(v) != n:
                raise ConfigError(
                    f"`{where}.{k}` has {len(v)} values for {n} site(s): give one per site or "
                    "one for all."
                )
        try:
            spin_jumps.append(SpinJump(j["rate"], **coef))
        except (ValueError, TypeError) as err:
            raise ConfigError(f"`{where}`: {err}") from None
    return SpinModel(
        S,
        n_sites=n,
        field=field,
        couplings=tuple(built),
        decay=decay,
        gain=gain,
        dephasing=dephasing,
        jumps=tuple(spin_jumps),
    )


PRESETS = (
    "explicit",
    "superradiance",
    "collective_dephasing",
    "driven_spin",
    "one_axis_twisting",
    "lmg",
    "pt_dimer",
    "lmg_dimer",
    "heisenberg_chain",
    "pt_chain",
)
"""Names of the ``model.preset`` values: :func:`explicit_model`, else the function of that name
in :mod:`twoqs_jax._model.presets` (:func:`preset_function`)."""


def preset_function(name: str):
    """The function that builds preset ``name`` (imports the model layer, so JAX)."""
    if name == "explicit":
        return explicit_model
    return getattr(importlib.import_module("twoqs_jax._model.presets"), name)


@functools.cache
def preset_signature(name: str) -> inspect.Signature:
    """The signature of preset ``name`` without importing it: the presets module imports JAX
    (seconds), so it is read from the source (parameter names and which have defaults), and a
    configuration is checked before anything heavy loads. tests/test_config.py checks this
    against ``inspect.signature`` of every preset.
    """
    if name == "explicit":
        return inspect.signature(explicit_model)
    source = (pathlib.Path(__file__).parent / "_model" / "presets.py").read_text()
    fn = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name == name
    )
    args = fn.args
    positional = args.posonlyargs + args.args
    n_required = len(positional) - len(args.defaults)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [
        inspect.Parameter(a.arg, kind, default=inspect.Parameter.empty if i < n_required else None)
        for i, a in enumerate(positional)
    ]
    params += [
        inspect.Parameter(
            a.arg,
            inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty if d is None else None,
        )
        for a, d in zip(args.kwonlyargs, args.kw_defaults)
    ]
    return inspect.Signature(params)


METHODS = ("twa", "meanfield", "cumulants", "exact")
SCHEME_NOISES = {  # method.scheme -> allowed method.noise (the first is the default)
    "euler_maruyama": ("two_point", "gaussian"),
    "weak_order2": ("gaussian", "three_point"),
}
_SECTIONS = {"model", "state", "method", "sweep", "output"}
_METHOD_KEYS = {
    "name": str,
    "t_final": float,
    "n_save": int,
    "t_burn": float,
    "t_avg": float,
    "dt": float,
    "n_traj": int,
    "key": int,
    "representation": str,
    "precision": str,
    "chunk_size": int,
    "device": str,
    "conserve_spin": bool,
    "fock_sampling": str,
    "sampling": str,
    "constraint": str,
    "noise": str,
    "scheme": str,
    "diffusion": str,
    "correction": str,
    "every": float,
    "observables": tuple,  # a list of observable names
}
_STATE_KEYS = {"theta": float, "phi": float, "kind": str}
_SWEEP_KEYS = {"parameter": str, "values": list, "start": float, "stop": float, "num": int}
_OUTPUT_KEYS = {"path": str}


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key and what is allowed."""


def _check_keys(section: str, table: dict, allowed: dict) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table, got {table!r}.")
    out = {}
    for k, v in table.items():
        if k not in allowed:
            raise ConfigError(
                f"unknown key `{section}.{k}` = {v!r}; allowed keys: {sorted(allowed)}."
            )
        typ = allowed[k]
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if typ is tuple:
            if not (isinstance(v, list) and v and all(isinstance(x, str) for x in v)):
                raise ConfigError(f"`{section}.{k}` = {v!r} must be a non-empty list of names.")
            v = tuple(v)
        elif typ is list:
            if not (
                isinstance(v, list)
                and v
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            ):
                raise ConfigError(f"`{section}.{k}` = {v!r} must be a non-empty list of numbers.")
        elif not isinstance(v, typ) or isinstance(v, bool) and typ is not bool:
            raise ConfigError(
                f"`{section}.{k}` = {v!r} has type {type(v).__name__}; expected {typ.__name__}."
            )
        out[k] = v
    return out


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A validated run configuration (see the module docstring for the TOML layout)."""

    preset: str
    params: dict
    state: dict
    method: dict
    sweep: dict | None
    output: str | None

    def build_model(self, **override):
        """The :class:`SpinModel` for ``params`` updated by ``override``."""
        return preset_function(self.preset)(**{**self.params, **override})

    def check_model(self) -> None:
        """Build the model once, so that the model layer's own checks (negative rates, bad
        ``S``, ...) report in terms of the config keys (imports JAX).
        """
        try:
            self.build_model()
        except ValueError as err:
            raise ConfigError(f"[model] {err}") from None

    def build_state(self, n_sites: int):
        """The initial :class:`SpinCoherentState`."""
        from ._model.states import SpinCoherentState

        kind = self.state.get("kind")
        if kind is not None:
            theta = {"down": math.pi, "up": 0.0, "x": math.pi / 2}[kind]
            return SpinCoherentState(theta, 0.0, n_sites=n_sites)
        return SpinCoherentState(
            self.state.get("theta", math.pi), self.state.get("phi", 0.0), n_sites=n_sites
        )

    def sweep_values(self) -> "np.ndarray | None":
        """The swept parameter's grid (one-parameter sweeps), or ``None``."""
        if self.sweep is None or "parameter" not in self.sweep:
            return None
        import numpy as np

        if "values" in self.sweep:
            return np.asarray(self.sweep["values"], dtype=float)
        return np.linspace(self.sweep["start"], self.sweep["stop"], self.sweep["num"])

    def sweep_points(self) -> dict | None:
        """``{parameter: (P,) values}`` of every swept parameter at the ``P`` sweep points
        (a grid is flattened in C order, the last parameter fastest), or ``None``.
        """
        if self.sweep is None:
            return None
        if "parameter" in self.sweep:
            return {self.sweep["parameter"]: self.sweep_values()}
        names = [k for k in self.sweep if k != "mode"]
        import numpy as np

        lists = [np.asarray(self.sweep[k], dtype=float) for k in names]
        if self.sweep.get("mode", "grid") == "zip":
            return dict(zip(names, lists))
        mesh = np.meshgrid(*lists, indexing="ij")
        return {k: m.ravel() for k, m in zip(names, mesh)}

    def build_batch(self):
        """The batch of models at the sweep points (``jax.vmap`` over the swept parameters;
        ``S`` included), or the single model without a sweep.
        """
        points = self.sweep_points()
        if points is None:
            return self.build_model()
        import jax
        import jax.numpy as jnp

        return jax.vmap(lambda p: self.build_model(**p))(
            {k: jnp.asarray(v) for k, v in points.items()}
        )

    @property
    def steady(self) -> bool:
        """True for a steady-state run (``t_burn``/``t_avg`` given)."""
        return "t_burn" in self.method

    def saveat(self):
        """:class:`SaveAt` (``linspace(0, t_final, n_save)``) or :class:`SteadyState`."""
        import numpy as np

        from ._saveat import SaveAt, SteadyState

        m = self.method
        if self.steady:
            return SteadyState(t_burn=m["t_burn"], t_avg=m["t_avg"], every=m.get("every"))
        return SaveAt(np.linspace(0.0, m["t_final"], m.get("n_save", 101)))

    def method_object(self, name=None):
        """The method object of ``name`` (default: ``method.name``)."""
        from ._methods import (
            DEFAULT_CONSTRAINT,
            DEFAULT_CORRECTION,
            DEFAULT_SAMPLING,
            TWOQS,
            Cumulants,
            Exact,
            MeanField,
        )
        from ._sde.schemes import EulerMaruyama, WeakOrder2

        m = self.method
        name = m["name"] if name is None else name
        if name == "twa":
            sampling = m.get("sampling", m.get("fock_sampling", DEFAULT_SAMPLING))
            if "constraint" in m:
                constraint = None if m["constraint"] == "none" else m["constraint"]
            elif "conserve_spin" in m:
                constraint = "spin_length" if m["conserve_spin"] else None
            else:
                constraint = DEFAULT_CONSTRAINT
            scheme = m.get("scheme", "euler_maruyama")
            make = WeakOrder2 if scheme == "weak_order2" else EulerMaruyama
            return TWOQS(
                make(m["dt"], noise=m.get("noise", SCHEME_NOISES[scheme][0])),
                representation=m.get("representation", "W"),
                sampling=sampling,
                constraint=constraint,
                diffusion=m.get("diffusion"),
                correction=None
                if m.get("correction") == "none"
                else m.get("correction", DEFAULT_CORRECTION),
            )
        return {"meanfield": MeanField, "cumulants": Cumulants, "exact": Exact}[name]()

    def options(self, *, checkpoint=None, resume=False, progress=None):
        """:class:`Options` of a run (``precision`` and ``chunk_size`` from the file)."""
        from ._options import Options

        return Options(
            chunk_size=self.method.get("chunk_size"),
            dtype=self.method.get("precision", "float32"),
            checkpoint=checkpoint,
            resume=resume,
            progress=progress,
        )

    def as_dict(self) -> dict:
        """Plain-dict form (stored in results and checkpoints)."""
        return dataclasses.asdict(self)


_NOT_SWEPT = ("n_sites", "convention", "periodic", "lattice", "field", "couplings", "jumps")


def _parse_multi_sweep(table, sig, preset) -> dict:
    """``[sweep]`` over several parameters: ``mode = "grid"`` (default: every combination)
    or ``"zip"`` (the i-th values together), each parameter a list of numbers.
    """
    if not isinstance(table, dict):
        raise ConfigError(f"[sweep] must be a table, got {table!r}.")
    mode = table.get("mode", "grid")
    if mode not in ("grid", "zip"):
        raise ConfigError(f"`sweep.mode` = {mode!r}; allowed: ['grid', 'zip'].")
    allowed = [p for p in sig.parameters if p not in _NOT_SWEPT]
    names = [k for k in table if k != "mode"]
    if not names:
        raise ConfigError(
            "[sweep] needs `parameter = ...` with its values, or lists of values per "
            f"parameter (allowed for {preset!r}: {allowed})."
        )
    for k in names:
        if k not in allowed:
            raise ConfigError(f"`sweep.{k}`: not a parameter of {preset!r}; allowed: {allowed}.")
    out = _check_keys("sweep", {k: table[k] for k in names}, dict.fromkeys(names, list))
    if mode == "zip" and len({len(v) for v in out.values()}) > 1:
        lengths = {k: len(v) for k, v in out.items()}
        raise ConfigError(f"[sweep] mode = 'zip' needs lists of equal length, got {lengths}.")
    return {"mode": mode, **out}


def parse_config(table: dict, check_model: bool = True) -> RunConfig:
    """Validate a configuration dict (as read from TOML) and return a :class:`RunConfig`.

    Everything but the model's values is checked without importing JAX (the command line
    reports such errors at once); ``check_model`` then builds the model once
    (:meth:`RunConfig.check_model`, which imports JAX).
    """
    if not isinstance(table, dict):
        raise ConfigError("a configuration must be a TOML table.")
    for section in table:
        if section not in _SECTIONS:
            raise ConfigError(
                f"unknown section [{section}]; allowed sections: {sorted(_SECTIONS)}."
            )
    if "model" not in table:
        raise ConfigError("the configuration needs a [model] section with `preset = ...`.")
    model = dict(table["model"])
    preset = model.pop("preset", None)
    if preset not in PRESETS:
        raise ConfigError(f"`model.preset` = {preset!r}; allowed presets: {sorted(PRESETS)}.")
    sig = preset_signature(preset)
    for k, v in model.items():
        if k not in sig.parameters:
            raise ConfigError(
                f"unknown key `model.{k}` = {v!r} for preset {preset!r}; "
                f"allowed keys: {list(sig.parameters)}."
            )
        if isinstance(v, bool) and k != "periodic":
            raise ConfigError(f"`model.{k}` = {v!r} must be a number.")
    missing = [
        p.name
        for p in sig.parameters.values()
        if p.default is inspect.Parameter.empty and p.name not in model
    ]
    if missing:
        raise ConfigError(f"[model] preset {preset!r} needs the keys {missing}.")

    state = _check_keys("state", table.get("state", {}), _STATE_KEYS)
    if "kind" in state and state["kind"] not in ("down", "up", "x"):
        raise ConfigError(f"`state.kind` = {state['kind']!r}; allowed: ['down', 'up', 'x'].")

    method = _check_keys("method", table.get("method", {}), _METHOD_KEYS)
    if "observables" in method:
        from ._observables import OBSERVABLES

        unknown = [o for o in method["observables"] if o not in OBSERVABLES]
        if unknown:
            raise ConfigError(
                f"`method.observables` = {list(method['observables'])!r}: unknown {unknown}; "
                f"registered: {sorted(OBSERVABLES)}."
            )
        if "Sz" not in method["observables"]:
            raise ConfigError(
                f"`method.observables` = {list(method['observables'])!r} must include 'Sz' "
                "(the run summary reports it)."
            )
    name = method.setdefault("name", "twa")
    if name not in METHODS:
        raise ConfigError(f"`method.name` = {name!r}; allowed: {list(METHODS)}.")
    steady = "t_burn" in method or "t_avg" in method
    if steady and not ("t_burn" in method and "t_avg" in method):
        raise ConfigError("a steady-state run needs both `method.t_burn` and `method.t_avg`.")
    if not steady and "t_final" not in method:
        raise ConfigError("[method] needs `t_final` (time-resolved) or `t_burn` and `t_avg`.")
    for k in ("t_final", "t_avg", "dt"):
        if k in method and not method[k] > 0:
            raise ConfigError(f"`method.{k}` = {method[k]!r} must be > 0.")
    if "t_burn" in method and method["t_burn"] < 0:
        raise ConfigError(f"`method.t_burn` = {method['t_burn']!r} must be >= 0.")
    for k, lo in (("n_traj", 2), ("n_save", 2), ("chunk_size", 1)):
        if k in method and method[k] < lo:
            raise ConfigError(f"`method.{k}` = {method[k]!r} must be >= {lo}.")
    if method.get("representation", "W") not in ("W", "P", "Q"):
        raise ConfigError(
            f"`method.representation` = {method['representation']!r}; allowed: ['W', 'P', 'Q']."
        )
    if method.get("precision", "float32") not in ("float32", "float64"):
        raise ConfigError(
            f"`method.precision` = {method['precision']!r}; allowed: ['float32', 'float64']."
        )

    if method.get("device", "auto") not in ("auto", "cpu", "gpu"):
        raise ConfigError(
            f"`method.device` = {method['device']!r}; allowed: ['auto', 'cpu', 'gpu']."
        )
    for key in ("fock_sampling", "sampling"):
        if method.get(key, "fock") not in ("coherent", "fock"):
            raise ConfigError(f"`method.{key}` = {method[key]!r}; allowed: ['coherent', 'fock'].")
    if method.get("correction", "auto") not in ("auto", "third_order", "none"):
        raise ConfigError(
            f"`method.correction` = {method['correction']!r}; allowed: ['auto', 'third_order', "
            "'none']."
        )
    if method.get("constraint", "none") not in ("spin_length", "none"):
        raise ConfigError(
            f"`method.constraint` = {method['constraint']!r}; allowed: ['spin_length', 'none']."
        )
    scheme = method.get("scheme", "euler_maruyama")
    if scheme not in SCHEME_NOISES:
        raise ConfigError(f"`method.scheme` = {scheme!r}; allowed: {list(SCHEME_NOISES)}.")
    noises = SCHEME_NOISES[scheme]
    if method.get("noise", noises[0]) not in noises:
        raise ConfigError(
            f"`method.noise` = {method['noise']!r}; allowed with scheme {scheme!r}: {list(noises)}."
        )
    if scheme == "weak_order2" and (
        method.get("representation", "W") != "W" or method.get("diffusion") == "paper"
    ):
        raise ConfigError(
            "`method.scheme` = 'weak_order2' needs representation 'W' and the tangential "
            f"noise, got representation = {method.get('representation', 'W')!r}, diffusion = "
            f"{method.get('diffusion')!r}."
        )
    if "every" in method and not method["every"] > 0:
        raise ConfigError(f"`method.every` = {method['every']!r} must be > 0.")
    if "every" in method and "t_burn" not in method:
        raise ConfigError("`method.every` belongs to a steady state (`t_burn`, `t_avg`).")
    if name == "twa":
        for k in ("dt", "n_traj"):
            if k not in method:
                raise ConfigError(f"method 'twa' needs `method.{k}`.")

    sweep = None
    if "sweep" in table and "parameter" not in table["sweep"]:
        sweep = _parse_multi_sweep(table["sweep"], sig, preset)
    elif "sweep" in table:
        sweep = _check_keys("sweep", table["sweep"], _SWEEP_KEYS)
        par = sweep.get("parameter")
        allowed = [p for p in sig.parameters if p not in _NOT_SWEPT]
        if par not in allowed:
            raise ConfigError(f"`sweep.parameter` = {par!r}; allowed for {preset!r}: {allowed}.")
        if "num" in sweep and sweep["num"] < 1:
            raise ConfigError(f"`sweep.num` = {sweep['num']!r} must be >= 1.")
        if "values" not in sweep and not {"start", "stop", "num"} <= set(sweep):
            raise ConfigError("[sweep] needs `values = [...]` or `start`, `stop` and `num`.")

    output = _check_keys("output", table.get("output", {}), _OUTPUT_KEYS).get("path")
    cfg = RunConfig(
        preset=preset, params=model, state=state, method=method, sweep=sweep, output=output
    )
    if check_model:
        cfg.check_model()
    return cfg


def load_config(path, check_model: bool = True) -> RunConfig:
    """Read and validate a TOML configuration file (``check_model``: see
    :func:`parse_config`).
    """
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {err}.") from None
    return parse_config(table, check_model)
