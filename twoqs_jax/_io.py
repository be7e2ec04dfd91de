"""Self-describing results files (HDF5 through h5py).

One file per run holds every observable's mean and standard error with its coordinates,
the full model (its arrays), the method settings, the random key, package versions, the
device, wall time and the health figures of the run. :func:`load_results` gives everything
back as arrays with coordinates.

Layout::

    /                 attrs: format, format_version, method, created, versions (JSON),
                             device, settings (JSON), stats (JSON)
    /model/           spin, field, edges, coupling, decay, gain, dephasing (totals)
                      attrs: description (JSON: preset name and parameters, if known)
    /model/jumps/K    one group per jump Module (K = 0, 1, ...), attrs: type; its arrays
    /coords/          e.g. time (T,), and sweep parameters (P,)
    /mean/NAME        dataset, attrs: dims (JSON list of coordinate names or "site")
    /sem/NAME         standard errors (stochastic methods only)

Writes are atomic: the file is written under a temporary name and renamed.
"""

import dataclasses
import datetime
import json
import os
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._model.model import SpinModel
from ._optional import require
from ._solution import Solution

FORMAT = "twoqs_jax-results"
FORMAT_VERSION = 1


def package_versions() -> dict:
    """Versions of the packages a result depends on."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("twoqs_jax", "jax", "jaxlib", "numpy", "diffrax", "equinox", "qutip"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def device_description() -> str:
    """The JAX devices in use, in words (e.g. ``'cpu x1'``, ``'NVIDIA H100 x1'``)."""
    import jax

    devs = jax.devices()
    kinds = {}
    for d in devs:
        kinds[getattr(d, "device_kind", d.platform)] = (
            kinds.get(getattr(d, "device_kind", d.platform), 0) + 1
        )
    return ", ".join(f"{k} x{v}" for k, v in kinds.items())


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array__"):
        a = np.asarray(obj)
        return a.tolist() if a.size <= 4096 else f"array{a.shape}"
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


@dataclasses.dataclass(frozen=True)
class Results:
    """What :func:`load_results` returns.

    Attributes:
        solution: the :class:`Solution` (means, standard errors, times, stats).
        model: the :class:`SpinModel` rebuilt from the file (``None`` if none was stored).
        coords: coordinate name -> array (``time``, sweep parameters, ...).
        dims: observable name -> list of its axis names.
        meta: file attributes (method, versions, device, settings, created, ...).
    """

    solution: Solution
    model: SpinModel | None
    coords: dict
    dims: dict
    meta: dict

    def __getitem__(self, name):
        """``res["Sz"]`` is ``res.solution["Sz"]``."""
        return self.solution[name]

    def to_xarray(self):
        """The solution as an ``xarray.Dataset`` with the file's coordinates and axis names."""
        xr = require("xarray", "Results.to_xarray")

        data = {}
        for name, value in self.solution.mean.items():
            dims = tuple(self.dims.get(name, self.solution.dims_of(name)))
            data[name] = (dims, np.asarray(value))
            if name in self.solution.sem:
                data[f"{name}_sem"] = (dims, np.asarray(self.solution.sem[name]))
        return xr.Dataset(data, coords=self.coords, attrs={"method": self.solution.method})


def save_results(
    path,
    solution: Solution,
    *,
    model: SpinModel | None = None,
    settings: dict | None = None,
    coords: dict | None = None,
    dims: dict | None = None,
    description: dict | None = None,
    overwrite: bool = False,
) -> str:
    """Write ``solution`` (and the model and settings that made it) to an HDF5 file.

    Args:
        path: output file (``.h5``).
        solution: the result to store.
        model: the model, stored as its arrays (batched models are stored batched).
        settings: method settings (dt, n_traj, key, ...), stored as JSON.
        coords: extra coordinates, e.g. ``{"Omega": omegas}`` for a sweep; ``time`` is added
            from ``solution.times``.
        dims: observable -> axis names; by default a leading sweep coordinate (if any), then
            ``time`` (if any), then ``site`` axes.
        description: how the model was made (preset name and parameters), JSON.
        overwrite: replace an existing file; otherwise an existing ``path`` is an error.

    Returns:
        The path written.
    """
    h5py = require("h5py", "tq.save and tq.load")

    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"`path` {path!r} exists; pass overwrite=True to replace it.")
    coords = dict(coords or {})
    if solution.times is not None:
        coords.setdefault("time", np.asarray(solution.times))
    sweep_names = [k for k in coords if k != "time"]
    dims = dict(dims or {})
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    from ._sde.checkpoint import atomic_target

    # created with the user's umask (readable by the group, as `open` would), renamed at the end
    with atomic_target(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["method"] = solution.method
            f.attrs["created"] = datetime.datetime.now(datetime.UTC).isoformat()
            f.attrs["versions"] = json.dumps(package_versions())
            f.attrs["device"] = device_description()
            f.attrs["settings"] = json.dumps(_jsonable(settings or {}))
            f.attrs["stats"] = json.dumps(_jsonable(dict(solution.stats)))
            if model is not None:
                g = f.create_group("model")
                for name in ("spin", "field", "coupling", "decay", "gain", "dephasing"):
                    g.create_dataset(name, data=np.asarray(getattr(model, name)))
                g.create_dataset("edges", data=np.asarray(model.edges))
                g.attrs["description"] = json.dumps(_jsonable(description or {}))
                jg = g.create_group("jumps")
                for k, jump in enumerate(model.jumps):
                    one = jg.create_group(str(k))
                    one.attrs["type"] = type(jump).__name__
                    for name in jump.real_fields + jump.complex_fields:
                        one.create_dataset(name, data=np.asarray(getattr(jump, name)))
            c = f.create_group("coords")
            for name, value in coords.items():
                c.create_dataset(name, data=np.asarray(value))
            for group, table in (("mean", solution.mean), ("sem", solution.sem)):
                g = f.create_group(group)
                for name, value in table.items():
                    arr = np.asarray(value)
                    d = g.create_dataset(name, data=arr)
                    names = dims.get(name)
                    if names is None:
                        names = sweep_names[:1] + (["time"] if solution.times is not None else [])
                        names = names + ["site"] * (arr.ndim - len(names))
                        names = names[: arr.ndim]
                    d.attrs["dims"] = json.dumps(list(names))
    return path


def _load_jump(group):
    from ._model.jumps import JUMP_TYPES

    name = str(group.attrs["type"])
    if name not in JUMP_TYPES:
        raise ValueError(f"the results file holds an unknown jump type {name!r}.")
    cls = JUMP_TYPES[name]
    return cls(**{k: np.asarray(v) for k, v in group.items()})


def load_results(path) -> Results:
    """Read a file written by :func:`save_results`.

    A missing file raises ``FileNotFoundError``; a damaged, truncated or foreign file a
    ``ValueError`` of one line that names it.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"results file {path!r} does not exist.")
    try:
        return _load_results(path)
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as err:
        if isinstance(err, ValueError) and path in str(err):
            raise
        why = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(
            f"results file {path!r} is damaged or not a twoqs_jax results file ({why})."
        ) from None


def _load_results(path) -> Results:
    h5py = require("h5py", "tq.save and tq.load")

    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"`path` {path!r} is not a twoqs_jax results file.")
        meta = {
            "method": str(f.attrs["method"]),
            "created": str(f.attrs["created"]),
            "versions": json.loads(f.attrs["versions"]),
            "device": str(f.attrs["device"]),
            "settings": json.loads(f.attrs["settings"]),
            "format_version": int(f.attrs["format_version"]),
        }
        stats = json.loads(f.attrs["stats"])
        coords = {k: np.asarray(v) for k, v in f["coords"].items()}
        mean = {k: np.asarray(v) for k, v in f["mean"].items()}
        sem = {k: np.asarray(v) for k, v in f["sem"].items()}
        dims = {k: json.loads(v.attrs["dims"]) for k, v in f["mean"].items()}
        model = None
        if "model" in f:
            g = f["model"]
            arrays = {k: np.asarray(v) for k, v in g.items() if k != "jumps"}
            meta["description"] = json.loads(g.attrs["description"])
            if arrays["spin"].ndim == 1:
                if "jumps" in g:
                    jumps = [_load_jump(g["jumps"][k]) for k in sorted(g["jumps"], key=int)]
                    for name in ("decay", "gain", "dephasing"):
                        arrays.pop(name, None)
                    model = SpinModel.from_arrays(**arrays, jumps=jumps)
                else:
                    model = SpinModel.from_arrays(**arrays)
            else:
                meta["model_arrays"] = arrays  # a batched (sweep) model: kept as arrays
    times = coords.get("time")
    sol = Solution(
        method=meta["method"],
        times=times,
        mean=mean,
        sem=sem,
        stats=stats,
        dims={k: tuple(v) for k, v in dims.items()},
        coords={k: v for k, v in coords.items() if k != "time"},
    )
    return Results(solution=sol, model=model, coords=coords, dims=dims, meta=meta)


def save(
    path: str | os.PathLike[str],
    solution: Solution,
    *,
    model: Any = None,
    coords: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> str:
    """Save a :class:`Solution` (and optionally the model that made it) to an HDF5 file.

    Args:
        path: output file (``.h5``); written atomically.
        solution: the result.
        model: the :class:`SpinModel` (one or a batch), stored as its arrays and jumps.
        coords: extra coordinates, e.g. ``{"Omega": omegas}`` for the batch axis of a sweep
            (``time`` comes from ``solution.times``; ``solution.coords`` are included).
        settings: method settings to keep with the result (JSON).
        overwrite: replace an existing file (otherwise an error).

    Returns:
        The path written. Read it back with :func:`load`.

    Examples:
        >>> tq.save("run.h5", sol, model=model)  # doctest: +SKIP
        >>> res = tq.load("run.h5"); res.solution["Sz"]  # doctest: +SKIP
    """
    all_coords = {**dict(solution.coords), **dict(coords or {})}
    dims = {name: list(solution.dims_of(name)) for name in solution.mean}
    sweep = [k for k in all_coords if k != "time"]
    if sweep:  # name the batch axis after the first sweep coordinate
        dims = {k: [sweep[0] if d == "batch" else d for d in v] for k, v in dims.items()}
    return save_results(
        path,
        solution,
        model=model,
        settings=settings,
        coords=all_coords,
        dims=dims,
        overwrite=overwrite,
    )


def load(path: str | os.PathLike[str]) -> Results:
    """Read a file written by :func:`save` (or the CLI): a :class:`Results` with the
    ``solution``, the ``model`` (``None`` for a batch of models, kept as arrays in ``meta``),
    ``coords``, ``dims`` and ``meta`` (versions, device, settings).
    """
    return load_results(path)
