"""Central-spin and Tavis-Cummings backends of :func:`twoqs_jax.solve`.

- :class:`Exact`: the permutation-invariant solver (:mod:`.exact`); ``SteadyState()`` gives
  the stationary state (a window is ignored), ``SaveAt`` the dynamics from ``state`` at
  ``ts[0]``. ``Exact(cutoff=...)`` is the cavity's Fock cut-off (default 20);
  ``Exact(max_memory=...)`` the memory limit in bytes.
- :class:`MeanField` (the first-order closure) and :class:`Cumulants` (``order`` 1-4): the
  closed moment equations of :mod:`.cumulant`. ``SteadyState()`` finds the fixed point (in
  the rotating frame of a lasing solution); with a window it averages the dynamics.

``state`` is ``(rho_central, rho_sat)``: the central density matrix (``(2, 2)``, index 0 =
up; ``(d, d)`` Fock space for the cavity) times identical satellites (``(2, 2)`` or the
up-population ``p_up``); ``None`` for steady states (and the cumulant default start).

Observables. The results hold the models' own moments (``sz0``, ``szn``, ``spn``,
``c_smn``, ... of :func:`.exact.solve_central_exact`) and, where the physics allows, the
shared names of :mod:`twoqs_jax._observables`: for a central spin, site 0 is the central spin
(``S = 1/2``, ``S_0 = sigma_0 / 2``) and site 1 the collective satellite spin
``J = sum_n sigma_n / 2``; for the Tavis-Cummings model (a cavity, not a spin) site 0 is
``J``. Available primitives: ``Sx, Sy, Sz, Sz2, SpSm, SzSz`` (so ``varz`` too).
"""

import numpy as np

from .._methods import MeanField
from .._observables import dims_of, evaluate, resolve
from .._saveat import SaveAt, SteadyState
from .._solution import Solution
from .model import TavisCummingsModel

CENTRAL_PRIMITIVES = ("Sx", "Sy", "Sz", "Sz2", "SpSm", "SzSz")
DEFAULT = ("Sx", "Sy", "Sz", "varz", "SpSm", "SzSz")


def shared_primitives(model, native: dict) -> dict:
    """Shared primitive moments from the native ones (leading time axis or none)."""
    N = model.N
    szn = np.asarray(native["szn"]).real
    spn = np.asarray(native["spn"])
    spn_smm = np.asarray(native.get("spn_smm", np.zeros_like(szn))).real
    szn_szm = np.asarray(native.get("szn_szm", np.zeros_like(szn))).real
    jz = N * szn / 2
    jp = N * spn  # <J^+>
    jpjm = N * (1 + szn) / 2 + N * (N - 1) * spn_smm  # <J^+ J^->
    jz2 = N / 4 + N * (N - 1) / 4 * szn_szm  # <J_z^2>
    if isinstance(model, TavisCummingsModel):
        one = lambda x: np.asarray(x)[..., None]  # noqa: E731
        pair = lambda x: np.asarray(x)[..., None, None]  # noqa: E731
        return {
            "Sx": one(jp.real),
            "Sy": one(jp.imag),
            "Sz": one(jz),
            "Sz2": one(jz2),
            "SpSm": pair(jpjm).astype(complex),
            "SzSz": pair(jz2),
        }
    sz0 = np.asarray(native["sz0"]).real
    sp0 = np.asarray(native["sp0"])
    c_smn = np.asarray(native["c_smn"])
    cz_szn = np.asarray(native["cz_szn"]).real
    sx = np.stack([sp0.real, jp.real], axis=-1)
    sy = np.stack([sp0.imag, jp.imag], axis=-1)
    sz = np.stack([sz0 / 2, jz], axis=-1)
    sz2 = np.stack([np.full_like(sz0, 0.25), jz2], axis=-1)
    s0j = N * c_smn  # <S_0^+ J^->
    spsm = np.empty(sz0.shape + (2, 2), complex)
    spsm[..., 0, 0] = (1 + sz0) / 2
    spsm[..., 0, 1] = s0j
    spsm[..., 1, 0] = np.conj(s0j)
    spsm[..., 1, 1] = jpjm
    zz = np.empty(sz0.shape + (2, 2))
    zz[..., 0, 0] = 0.25
    zz[..., 0, 1] = zz[..., 1, 0] = N * cz_szn / 4
    zz[..., 1, 1] = jz2
    return {"Sx": sx, "Sy": sy, "Sz": sz, "Sz2": sz2, "SpSm": spsm, "SzSz": zz}


def _spins(model):
    if isinstance(model, TavisCummingsModel):
        return np.array([model.N / 2])
    return np.array([0.5, model.N / 2])


def _finish(method_name, model, native, times, stats, observables):
    observables = resolve(
        DEFAULT if observables is None else observables,
        len(_spins(model)),
        "central-spin",
        CENTRAL_PRIMITIVES,
    )
    prims = shared_primitives(model, native)
    spin = _spins(model)
    shared = evaluate(observables, prims, spin[None, :] if times is not None else spin)
    lead = ("time",) if times is not None else ()
    dims = {o.name: dims_of(o, lead) for o in observables}
    mean = {**{k: np.asarray(v) for k, v in native.items()}, **shared}
    return Solution(method_name, times, mean, {}, stats, dims=dims)


def _check_state(state, required: bool):
    if state is None:
        if required:
            raise ValueError(
                "`state` must be (rho_central, rho_sat) for dynamics: the central density "
                "matrix and the satellites' (2, 2) matrix or up-population p_up."
            )
        return None
    try:
        rho_c, rho_s = state
    except (TypeError, ValueError):
        raise ValueError(
            f"`state` must be a pair (rho_central, rho_sat), got {type(state).__name__}."
        ) from None
    return np.asarray(rho_c, dtype=complex), rho_s


def solve_central_exact_backend(model, state, saveat, method, observables=None, options=None):
    """Exact backend (module docstring)."""
    from .exact import solve_central_exact

    n_max = 20 if method.cutoff is None else method.cutoff
    if isinstance(saveat, SteadyState):
        sol = solve_central_exact(model, None, n_max=n_max, max_memory=method.max_memory)
        stats = dict(sol.stats)
        if saveat.has_window:
            stats["window_ignored"] = (saveat.t_burn, saveat.t_avg)
        return _finish("exact", model, sol.mean, None, stats, observables)
    initial = _check_state(state, required=True)
    sol = solve_central_exact(
        model, saveat.ts, initial=initial, n_max=n_max, max_memory=method.max_memory
    )
    return _finish("exact", model, sol.mean, saveat.ts, dict(sol.stats), observables)


def solve_central_closure_backend(model, state, saveat, method, observables=None, options=None):
    """Mean-field / cumulant backend (module docstring)."""
    from .cumulant import solve_central_cumulant

    order = 1 if isinstance(method, MeanField) else method.order
    initial = _check_state(state, required=False)
    kw = dict(rtol=method.rtol, atol=method.atol, max_steps=method.max_steps)
    kw["solver"] = method.solver
    kw["u1"] = None if isinstance(method, MeanField) else method.u1
    throw = True if options is None else options.throw
    if isinstance(saveat, SaveAt):
        sol = solve_central_cumulant(model, order, saveat.ts, initial=initial, **kw)
        return _finish(sol.method, model, sol.mean, saveat.ts, dict(sol.stats), observables)
    if not saveat.has_window:
        sol = solve_central_cumulant(model, order, None, initial=initial, throw=throw, **kw)
        return _finish(sol.method, model, sol.mean, None, dict(sol.stats), observables)
    samples = saveat.sample_times(0.0, float(saveat.t_avg) / 200)
    ts = np.concatenate([[0.0], samples])
    sol = solve_central_cumulant(model, order, ts, initial=initial, **kw)
    native = {k: np.mean(np.asarray(v)[1:], axis=0) for k, v in sol.mean.items()}
    stats = {**dict(sol.stats), "t_burn": saveat.t_burn, "t_avg": saveat.t_avg}
    return _finish(sol.method, model, native, None, stats, observables)
