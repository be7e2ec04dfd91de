"""Qudit-LMG backends of :func:`twoqs_jax.solve` (paper 001).

- :class:`MeanField`: the ``N -> infinity`` single-particle equations (:mod:`.meanfield`) from
  ``state`` (a ``(d, d)`` density matrix or its ``d^2 - 1`` coordinates) at ``ts[0]``;
  ``SteadyState`` needs a window (the time average of the solution).
- :class:`Exact`: the finite-N steady state (``SteadyState()``; the model needs ``n``, a
  window is ignored) by the brute-force solver (:mod:`.exact`), guarded by
  ``Exact(max_memory=...)`` in bytes. Exact dynamics are not implemented.

Observables: the shared first moments ``Sx, Sy, Sz`` of one particle (``<j_a>``, one "site"
of spin ``j``), and the model's own ``X, Y, Z`` (``<J_a>/(N j)``), ``purity`` and ``rho``.
"""

import jax.numpy as jnp
import numpy as np

from .._observables import dims_of, evaluate, resolve
from .._saveat import SaveAt, SteadyState
from .._solution import Solution

QUDIT_PRIMITIVES = ("Sx", "Sy", "Sz")


def _finish(method_name, model, native, times, stats, observables):
    observables = resolve(
        QUDIT_PRIMITIVES if observables is None else observables, 1, "qudit", QUDIT_PRIMITIVES
    )
    j = model.j
    prims = {
        "Sx": j * np.asarray(native["X"])[..., None],
        "Sy": j * np.asarray(native["Y"])[..., None],
        "Sz": j * np.asarray(native["Z"])[..., None],
    }
    spin = np.array([j])
    shared = evaluate(observables, prims, spin)
    lead = ("time",) if times is not None else ()
    dims = {o.name: dims_of(o, lead) for o in observables}
    return Solution(method_name, times, {**native, **shared}, {}, stats, dims=dims)


def solve_qudit_meanfield_backend(model, state, saveat, method, observables=None, options=None):
    """Mean-field backend (module docstring)."""
    from .meanfield import _integrate, coords_to_rho, rho_to_coords, scaled_spin

    if state is None:
        raise ValueError("`state` must be the initial single-particle density matrix (d, d).")
    d = model.d
    rho0 = jnp.asarray(state)
    if rho0.shape == (d, d):
        c0 = rho_to_coords(rho0)
    elif rho0.shape == (d * d - 1,):
        c0 = rho0
    else:
        raise ValueError(
            f"`state` must have shape {(d, d)} or {(d * d - 1,)}, got shape {rho0.shape}."
        )
    c0 = c0.astype(jnp.result_type(c0, model.V, float))
    if isinstance(saveat, SaveAt):
        ts, times, window = saveat.ts, saveat.ts, None
    else:
        saveat.require_window("the qudit mean-field equations")
        ts = np.concatenate([[0.0], saveat.sample_times(0.0, float(saveat.t_avg) / 200)])
        times, window = None, slice(1, None)
    throw = True if options is None else options.throw
    ts_j = jnp.asarray(ts, dtype=c0.dtype)
    if ts_j.shape[0] == 1:
        cs, result = c0[None], "single time"
    else:
        cs, result = _integrate(
            model, c0, ts_j, method.solver, method.rtol, method.atol, method.max_steps, throw
        )
    xyz = np.asarray(scaled_spin(d, cs))
    rho = np.asarray(coords_to_rho(cs, d))
    purity = np.einsum("tij,tji->t", rho, rho).real
    native = {"X": xyz[:, 0], "Y": xyz[:, 1], "Z": xyz[:, 2], "purity": purity}
    if window is not None:
        native = {k: np.mean(v[window], axis=0) for k, v in native.items()}
    else:
        native.update(rho=rho, coords=np.asarray(cs))
    stats = {"d": d, "solver": type(method.solver).__name__, "result": str(result)}
    return _finish("qudit_meanfield", model, native, times, stats, observables)


def solve_qudit_exact_backend(model, state, saveat, method, observables=None, options=None):
    """Exact steady-state backend (module docstring)."""
    from . import exact

    if not isinstance(saveat, SteadyState):
        raise ValueError(
            "the exact qudit solver computes steady states: use tq.SteadyState() (exact "
            "dynamics of the qudit model are not implemented)."
        )
    rho = exact.steady_state(model, max_memory=method.max_memory)
    ops = exact.operators(model, model.n)
    nj = model.n * model.j
    native = {
        "X": float(np.real(exact.expectation(rho, ops["Jx"]))) / nj,
        "Y": float(np.real(exact.expectation(rho, ops["Jy"]))) / nj,
        "Z": float(np.real(exact.expectation(rho, ops["Jz"]))) / nj,
        "purity": exact.purity(rho),
        "rho": rho,
    }
    native = {k: np.asarray(v) for k, v in native.items()}
    stats = {"d": model.d, "n": model.n}
    if saveat.has_window:
        stats["window_ignored"] = (saveat.t_burn, saveat.t_avg)
    return _finish("exact", model, native, None, stats, observables)
