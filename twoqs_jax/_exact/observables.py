"""The shared observables (``twoqs_jax/_solution.py``) from exact density matrices.

Every exact result goes through two steps: a small set of *base moments* (traces
``Tr(O rho)`` with full-space operators ``O``), then the shared observables derived from them
by one function, :func:`derive`, so time evolution (expectations inside ``mesolve``) and
steady states (``Tr(O rho)`` on the final matrix) give the same names and shapes.

Base moments, per site ``i`` (symmetric order): ``x, y, z`` (``<S_i^a>``) and
``xx, yy, zz, xy, xz, yz`` (``<(S_i^a S_i^b + S_i^b S_i^a) / 2>``); per pair ``i < j``:
``pm`` (``<S_i^+ S_j^->``) and ``zz2`` (``<S_i^z S_j^z>``).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._model.model import SpinModel
from .._observables import PRIMITIVES, evaluate, needed_primitives, resolve
from .._optional import require
from .operators import spin_lengths

if TYPE_CHECKING:
    import qutip
else:  # imported on first use of the exact references: an optional dependency
    qutip = require("qutip", "exact references (tq.Exact, tq.exact)")

EXACT_PRIMITIVES = tuple(p for p in PRIMITIVES if p != "spin_drift")
_FIRST = {"Sx": "x", "Sy": "y", "Sz": "z"}
_SECOND = {"Sx2": "xx", "Sy2": "yy", "Sz2": "zz", "SxSy": "xy", "SxSz": "xz", "SySz": "yz"}
_SITE_KEYS = ("x", "y", "z", "xx", "yy", "zz", "xy", "xz", "yz")


def check_observables(observables, n_sites: int = 1) -> tuple:
    """Validated observables (registry :mod:`twoqs_jax._observables`; ``None``: defaults)."""
    return resolve(observables, n_sites, "exact", EXACT_PRIMITIVES)


def needed_moments(observables) -> tuple[set, set]:
    """Base moments needed for ``observables``: (site keys, pair keys)."""
    site, pair = set(), set()
    for name in needed_primitives(observables):
        if name in _FIRST:
            site.add(_FIRST[name])
        elif name in _SECOND:
            site.add(_SECOND[name])
        elif name == "SpSm":
            site |= {"xx", "yy", "z"}
            pair.add("pm")
        elif name == "SzSz":
            site.add("zz")
            pair.add("zz2")
    return site, pair


def moment_operators(site_ops: list[dict], observables) -> dict:
    """Full-space operators of the base moments needed for ``observables``.

    Returns:
        dict ``(key, i)`` or ``(key, i, j)`` -> ``Qobj`` (Hermitian except ``pm``).
    """
    site, pair = needed_moments(observables)
    out = {}
    n = len(site_ops)
    for i, s in enumerate(site_ops):
        for key in _SITE_KEYS:
            if key not in site:
                continue
            if len(key) == 1:
                out[(key, i)] = s[key]
            elif key[0] == key[1]:
                out[(key, i)] = s[key[0]] * s[key[0]]
            else:
                a, b = s[key[0]], s[key[1]]
                out[(key, i)] = 0.5 * (a * b + b * a)
    for i in range(n):
        for j in range(i + 1, n):
            if "pm" in pair:
                out[("pm", i, j)] = site_ops[i]["+"] * site_ops[j]["-"]
            if "zz2" in pair:
                out[("zz2", i, j)] = site_ops[i]["z"] * site_ops[j]["z"]
    return out


def primitives(model, base: dict, observables, batch_shape=()) -> dict:
    """The primitive moments the observables need, from base moments (arrays with a common
    leading ``batch_shape``).
    """
    n = model.n_sites

    def site(key):
        return np.stack([np.real(base[(key, i)]) for i in range(n)], axis=-1)

    out = {}
    for name in needed_primitives(observables):
        if name in _FIRST:
            out[name] = site(_FIRST[name])
        elif name in _SECOND:
            out[name] = site(_SECOND[name])
        elif name == "SpSm":
            m = np.zeros(batch_shape + (n, n), dtype=complex)
            diag = site("xx") + site("yy") + site("z")  # S^+S^- = Sx^2 + Sy^2 + Sz
            for i in range(n):
                m[..., i, i] = diag[..., i]
                for j in range(i + 1, n):
                    v = np.asarray(base[("pm", i, j)], dtype=complex)
                    m[..., i, j] = v
                    m[..., j, i] = np.conj(v)
            out[name] = m
        elif name == "SzSz":
            m = np.zeros(batch_shape + (n, n))
            zz = site("zz")
            for i in range(n):
                m[..., i, i] = zz[..., i]
                for j in range(i + 1, n):
                    v = np.real(base[("zz2", i, j)])
                    m[..., i, j] = v
                    m[..., j, i] = v
            out[name] = m
    return out


def derive(model, base: dict, observables, batch_shape=()) -> dict:
    """The observables from base moments (arrays with a common leading ``batch_shape``)."""
    prims = primitives(model, base, observables, batch_shape)
    return evaluate(observables, prims, np.asarray(spin_lengths(model), dtype=float))


def as_density_matrix(model, rho) -> qutip.Qobj:
    """``rho`` as a density-matrix ``Qobj`` with the model's dims (kets are projected)."""
    from .operators import site_dims

    if not isinstance(rho, qutip.Qobj):
        raise ValueError(f"`rho` must be a qutip.Qobj, got {type(rho).__name__}.")
    dims = site_dims(model)
    D = int(np.prod(dims))
    if rho.isket:
        rho = rho.proj()
    if not rho.isoper or rho.shape != (D, D):
        raise ValueError(
            f"`rho` must be a ket or density matrix of dimension {D} (sites {dims}), got a "
            f"{rho.type} of shape {rho.shape}."
        )
    if rho.dims != [dims, dims]:
        rho = qutip.Qobj(rho.data, dims=[dims, dims])
    return rho


def expectations(
    model: SpinModel, rho: Any, observables: str | Sequence[Any] | None = None
) -> dict:
    """The shared observables of a density matrix (or ket) of the model's Hilbert space.

    Args:
        model: the :class:`SpinModel` whose space ``rho`` lives in.
        rho: ``Qobj`` ket or density matrix, dimension ``prod_i (2 S_i + 1)``.
        observables: names or Observable objects (registry
            :mod:`twoqs_jax._observables`; default: the registry's defaults).

    Returns:
        dict name -> array: per-site ``(n,)`` moments, ``SpSm``/``SzSz`` ``(n, n)``, ``xi2``
        scalar (site 0).

    Examples:
        >>> m = tq.driven_spin(5, 0.5)
        >>> tq.expectations(m, tq.steady_state_rho(m))["Sz"]  # doctest: +SKIP
    """
    from .operators import check_model, site_operators

    check_model(model)
    observables = check_observables(observables, model.n_sites)
    rho = as_density_matrix(model, rho)
    ops = moment_operators(site_operators(model), observables)
    base = {k: qutip.expect(op, rho) for k, op in ops.items()}
    out = derive(model, base, observables)
    return {k: (v[()] if np.ndim(v) == 0 else v) for k, v in out.items()}


def purity(rho: qutip.Qobj) -> float:
    """``Tr(rho^2)`` of a density matrix (1 for pure states, ``1/D`` for the mixed state)."""
    if not isinstance(rho, qutip.Qobj):
        raise ValueError(f"`rho` must be a qutip.Qobj, got {type(rho).__name__}.")
    if rho.isket or rho.isbra:
        return float(abs(rho.norm()) ** 4)
    return float(np.real((rho * rho).tr()))


def reduced_state(model: SpinModel, rho: Any, site: int) -> qutip.Qobj:
    """Reduced density matrix of one site, ``Tr_{other sites} rho``, dimension ``2 S_i + 1``."""
    from .._checks import check_int

    rho = as_density_matrix(model, rho)
    site = check_int("site", site, minimum=0)
    if site >= model.n_sites:
        raise ValueError(f"`site` must be in 0..{model.n_sites - 1}, got {site}.")
    if model.n_sites == 1:
        return rho
    return rho.ptrace(site)
