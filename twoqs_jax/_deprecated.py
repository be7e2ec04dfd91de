"""The entry points of the previous API, kept for one release as thin wrappers that warn.

Each wrapper emits a ``DeprecationWarning`` naming its replacement, translates its arguments
into the objects of :func:`twoqs_jax.solve` / :func:`twoqs_jax.gradient`, and returns what
the old function returned. Two behaviours changed on purpose (they gave wrong numbers):
a time grid that is not a multiple of ``dt`` is refused instead of rounded, and the initial
state of the ODE solvers sits at ``times[0]`` (not at ``t = 0``), as for the exact solvers.
"""

import contextlib
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import jax

    from ._solution import Solution

_ADVICE = "; see the README, 'A first simulation'"


def warn(old: str, new: str) -> None:
    """Emit the deprecation warning of ``old`` (names the replacement)."""
    warnings.warn(
        f"twoqs_jax.{old} is deprecated and will be removed in the next release; use "
        f"{new} instead{_ADVICE}.",
        DeprecationWarning,
        stacklevel=3,
    )


@contextlib.contextmanager
def _fused(fused: bool):
    if fused:
        yield
        return
    old = os.environ.get("TWOQS_AUTODIFF_DRIFT")
    os.environ["TWOQS_AUTODIFF_DRIFT"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["TWOQS_AUTODIFF_DRIFT"]
        else:
            os.environ["TWOQS_AUTODIFF_DRIFT"] = old


def _twoqs_method(dt, representation, fock_sampling, noise, n_groups, conserve_spin):
    from ._methods import TWOQS
    from ._sde.schemes import EulerMaruyama

    return TWOQS(
        EulerMaruyama(dt, noise=noise),
        representation=representation,
        sampling=fock_sampling,
        constraint="spin_length" if conserve_spin else None,
        n_groups=n_groups,
        diffusion="paper",  # the previous API had paper 003's decay/gain noise only
    )


def _observables(observables, functions, n_sites):
    from ._observables import PhaseSpaceFunction, default_observables

    functions = dict(functions or {})
    if observables is None:
        observables = default_observables(n_sites, "twoqs") + tuple(functions)
    out = []
    for o in observables:
        out.append(PhaseSpaceFunction(o, functions[o]) if o in functions else o)
    return tuple(out)


def _options(chunk_size, dtype, checkpoint, resume, progress, shard, devices):
    from ._options import Options

    return Options(
        chunk_size=chunk_size,
        dtype=dtype,
        checkpoint=None if checkpoint is None else os.fspath(checkpoint),
        resume=bool(resume),
        progress=progress,
        shard=shard,
        devices=devices,
    )


def simulate_twa(
    model: Any,
    state: Any,
    *,
    t_final: float,
    dt: float,
    n_traj: int,
    key: "int | jax.Array",
    representation: str = "W",
    n_save: int = 51,
    save_times: ArrayLike | None = None,
    observables: str | Sequence[Any] | None = None,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    chunk_size: int | None = None,
    dtype: str | None = None,
    fock_sampling: str = "coherent",
    noise: str = "two_point",
    n_groups: int = 32,
    fused: bool = True,
    conserve_spin: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool | None = None,
    shard: bool | None = None,
    devices: Sequence[Any] | None = None,
) -> "Solution":
    """Deprecated: ``tq.solve(model, state, tq.SaveAt(ts), tq.TWOQS(...), n_traj=, key=)``.

    The saving times are ``np.linspace(0, t_final, n_save)`` (or ``save_times``, with 0
    prepended if absent); they must be multiples of ``dt``. The old defaults (paper 003's
    coherent sampling, no spin-length constraint) are kept.
    """
    from ._saveat import SaveAt
    from ._solve import solve

    warn("simulate_twa", "tq.solve(model, state, tq.SaveAt(ts), tq.TWOQS(tq.EulerMaruyama(dt)))")
    if save_times is None:
        ts = np.linspace(0.0, float(t_final), int(n_save)) if n_save > 1 else [0.0, t_final]
    else:
        st = np.atleast_1d(np.asarray(save_times, dtype=float))
        ts = st if st[0] == 0 else np.concatenate([[0.0], st])
    method = _twoqs_method(dt, representation, fock_sampling, noise, n_groups, conserve_spin)
    with _fused(fused):
        sol = solve(
            model,
            state,
            SaveAt(ts),
            method,
            n_traj=n_traj,
            key=key,
            observables=_observables(observables, functions, model.n_sites),
            options=_options(chunk_size, dtype, checkpoint, resume, progress, shard, devices),
        )
    if save_times is not None and np.atleast_1d(save_times)[0] != 0:
        sol = _drop_first(sol)
    return sol


def _drop_first(sol):
    from ._solution import Solution

    batched = any("batch" in d for d in sol.dims.values())
    ax = 1 if batched else 0

    def drop(v):
        return np.delete(np.asarray(v), 0, axis=ax)

    return Solution(
        method=sol.method,
        times=sol.times[1:],
        mean={k: drop(v) for k, v in sol.mean.items()},
        sem={k: drop(v) for k, v in sol.sem.items()},
        stats=sol.stats,
        dims=sol.dims,
    )


def steady_state_twa(
    model: Any,
    state: Any,
    *,
    t_burn: float,
    t_avg: float,
    dt: float,
    n_traj: int,
    key: "int | jax.Array",
    representation: str = "W",
    avg_every: int = 1,
    observables: str | Sequence[Any] | None = None,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    chunk_size: int | None = None,
    dtype: str | None = None,
    fock_sampling: str = "coherent",
    noise: str = "two_point",
    n_groups: int = 32,
    fused: bool = True,
    conserve_spin: bool = False,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool | None = None,
    shard: bool | None = None,
    devices: Sequence[Any] | None = None,
) -> "Solution":
    """Deprecated: ``tq.solve(model, state, tq.SteadyState(t_burn, t_avg, every),
    tq.TWOQS(...), n_traj=, key=)`` with ``every = avg_every * dt``.
    """
    from ._saveat import SteadyState
    from ._solve import solve

    warn("steady_state_twa", "tq.solve(model, state, tq.SteadyState(t_burn, t_avg), tq.TWOQS(...))")
    method = _twoqs_method(dt, representation, fock_sampling, noise, n_groups, conserve_spin)
    with _fused(fused):
        return solve(
            model,
            state,
            SteadyState(t_burn=t_burn, t_avg=t_avg, every=int(avg_every) * float(dt)),
            method,
            n_traj=n_traj,
            key=key,
            observables=_observables(observables, functions, model.n_sites),
            options=_options(chunk_size, dtype, checkpoint, resume, progress, shard, devices),
        )


class TwaGradient:
    """Deprecated result of :func:`twa_gradient` (value, value_sem, grad, grad_sem, stats)."""

    def __init__(self, value, value_sem, grad, grad_sem, stats):
        self.value, self.value_sem = value, value_sem
        self.grad, self.grad_sem, self.stats = grad, grad_sem, stats


def twa_gradient(
    make_model: Callable[[Any], Any],
    params: Any,
    state: Any,
    *,
    t_burn: float,
    t_avg: float,
    dt: float,
    n_traj: int,
    key: "int | jax.Array",
    observable: str = "Sz",
    representation: str = "W",
    avg_every: int = 1,
    chunk_size: int = 1024,
    dtype: str | None = None,
    fock_sampling: str = "coherent",
    noise: str = "two_point",
    conserve_spin: bool = False,
    mode: str = "forward",
) -> TwaGradient:
    """Deprecated: ``tq.gradient(make_model, params, state, tq.SteadyState(...),
    tq.TWOQS(...), n_traj=, key=, observables=(...))``. A named observable is averaged over
    the sites, as before; only the linear ones ``Sx Sy Sz Sx2 Sy2 Sz2`` are accepted here.
    """
    from ._gradient import gradient
    from ._observables import Observable, PhaseSpaceFunction
    from ._options import Options
    from ._saveat import SteadyState

    warn("twa_gradient", "tq.gradient(make_model, params, state, tq.SteadyState(...), ...)")
    if callable(observable):
        obs = PhaseSpaceFunction("f", observable)
    else:
        if observable not in ("Sx", "Sy", "Sz", "Sx2", "Sy2", "Sz2"):
            raise ValueError(
                f"`observable` must be one of ['Sx', 'Sy', 'Sz', 'Sx2', 'Sy2', 'Sz2'] or a "
                f"function, got {observable!r}."
            )
        # the old result was the average over the sites, per trajectory
        obs = Observable(
            "f", (observable,), lambda m, spin: m[observable].mean(-1), linear=True, kind="scalar"
        )
    if not callable(make_model):
        raise ValueError(f"`make_model` must be callable, got {type(make_model).__name__}.")
    if mode not in ("forward", "reverse"):
        raise ValueError(f"`mode` must be one of ['forward', 'reverse'], got {mode!r}.")
    method = _twoqs_method(dt, representation, fock_sampling, noise, 32, conserve_spin)
    g = gradient(
        make_model,
        params,
        state,
        SteadyState(t_burn=t_burn, t_avg=t_avg, every=int(avg_every) * float(dt)),
        method,
        n_traj=n_traj,
        key=key,
        observables=(obs,),
        options=Options(chunk_size=chunk_size, dtype=dtype),
        mode=mode,
    )
    return TwaGradient(float(g.mean["f"]), float(g.sem["f"]), g.grad["f"], g.grad_sem["f"], g.stats)


def _deterministic_saveat(t_final, times, n_save):
    from ._saveat import SaveAt

    if (times is None) == (t_final is None):
        raise ValueError(
            f"give exactly one of `times` and `t_final`, got times={times!r}, t_final={t_final!r}."
        )
    if times is None:
        if not float(t_final) > 0:
            raise ValueError(f"`t_final` must be > 0, got {t_final!r}.")
        if int(n_save) < 2:
            raise ValueError(f"`n_save` must be >= 2, got {n_save!r}.")
        return SaveAt(np.linspace(0.0, float(t_final), int(n_save)))
    return SaveAt(times)


def solve_meanfield(
    model: Any,
    state: Any = None,
    *,
    t_final: float | None = None,
    times: ArrayLike | None = None,
    n_save: int = 201,
    solver: Any = None,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    max_steps: int = 1_000_000,
    throw: bool = True,
) -> "Solution":
    """Deprecated: ``tq.solve(model, state, tq.SaveAt(ts), tq.MeanField(...))`` (the initial
    state now sits at ``times[0]``).
    """
    import diffrax

    from ._methods import MeanField
    from ._model.states import spin_down
    from ._options import Options
    from ._solve import solve

    warn("solve_meanfield", "tq.solve(model, state, tq.SaveAt(ts), tq.MeanField())")
    method = MeanField(
        solver=diffrax.Tsit5() if solver is None else solver,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
    )
    state = spin_down(model.n_sites) if state is None else state
    return solve(
        model,
        state,
        _deterministic_saveat(t_final, times, n_save),
        method,
        options=Options(throw=throw),
    )


def solve_cumulants(
    model: Any,
    state: Any = None,
    *,
    order: int = 2,
    t_final: float | None = None,
    times: ArrayLike | None = None,
    n_save: int = 201,
    solver: Any = None,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    max_steps: int = 1_000_000,
    throw: bool = True,
) -> "Solution":
    """Deprecated: ``tq.solve(model, state, tq.SaveAt(ts), tq.Cumulants(order=2))`` (the
    initial state now sits at ``times[0]``).
    """
    import diffrax

    from ._methods import Cumulants
    from ._model.states import spin_down
    from ._options import Options
    from ._solve import solve

    warn("solve_cumulants", "tq.solve(model, state, tq.SaveAt(ts), tq.Cumulants(order=2))")
    if order != 2:
        raise ValueError(f"`order` must be one of [2], got {order!r}.")
    method = Cumulants(
        order=order,
        solver=diffrax.Tsit5() if solver is None else solver,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
    )
    state = spin_down(model.n_sites) if state is None else state
    return solve(
        model,
        state,
        _deterministic_saveat(t_final, times, n_save),
        method,
        options=Options(throw=throw),
    )


def solve_exact(
    model: Any,
    state: Any,
    times: ArrayLike,
    *,
    observables: str | Sequence[Any] | None = None,
    max_memory: float | None = None,
    options: dict | None = None,
) -> "Solution":
    """Deprecated: ``tq.solve(model, state, tq.SaveAt(times), tq.Exact(...))``."""
    from ._methods import Exact
    from ._saveat import SaveAt
    from ._solve import solve

    warn("solve_exact", "tq.solve(model, state, tq.SaveAt(times), tq.Exact())")
    return solve(
        model,
        state,
        SaveAt(times),
        Exact(max_memory=max_memory, options=options),
        observables=observables,
    )


def steady_state_exact(
    model: Any,
    *,
    observables: str | Sequence[Any] | None = None,
    max_memory: float | None = None,
) -> "Solution":
    """Deprecated: ``tq.solve(model, None, tq.SteadyState(), tq.Exact(...))``."""
    from ._methods import Exact
    from ._saveat import SteadyState
    from ._solve import solve

    warn("steady_state_exact", "tq.solve(model, None, tq.SteadyState(), tq.Exact())")
    return solve(model, None, SteadyState(), Exact(max_memory=max_memory), observables=observables)
