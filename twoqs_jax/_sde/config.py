"""The one function that builds the TWOQS kernel configuration from the user's objects.

:func:`kernel_config` validates the time grid against the scheme's step (honoured exactly or
refused, never changed), turns the method's strings into static objects and booleans, reads
the (concrete) noise structure of the lowered model, and sorts the observables into
per-trajectory values and jackknife groups. Everything traced downstream only sees the
resulting :class:`~twoqs_jax._sde.kernel.KernelConfig`.
"""

import dataclasses

import jax
import numpy as np

from .._config import autodiff_drift
from .._identity import IdentityCache
from .._observables import Observable, needed_primitives
from .._phase_space.drift import coupling_mask, field_mask
from .._saveat import SaveAt, SteadyState, steps_of
from .kernel import KernelConfig, saving_mask


@dataclasses.dataclass(frozen=True)
class Grid:
    """The step grid of a run: ``times`` (``(T,)`` or ``None``), steps per block, blocks."""

    times: np.ndarray | None
    block: int
    n_blocks: int
    save_initial: bool
    save_blocks: tuple | None
    avg_from: int | None
    window: tuple | None = None  # (t_burn, t_avg) actually used


def _gcd_grid(steps: np.ndarray):
    positive = steps[steps > 0]
    block = int(np.gcd.reduce(positive))
    return block, int(positive.max() // block), positive


def time_grid(saveat, dt: float) -> Grid:
    """The step grid of ``saveat`` for the step ``dt`` (refused if the times are off-grid)."""
    if isinstance(saveat, SaveAt):
        ts = saveat.ts
        if ts.size < 2:
            raise ValueError(
                f"TWOQS needs at least two saving times (the initial state at ts[0] and a "
                f"later one), got ts = {ts.tolist()}."
            )
        rel = ts - ts[0]
        steps = np.array(
            [steps_of(f"ts[{i}] - ts[0]", float(r), dt) for i, r in enumerate(rel)], np.int64
        )
        block, n_blocks, positive = _gcd_grid(steps)
        return Grid(
            times=ts,
            block=block,
            n_blocks=n_blocks,
            save_initial=True,
            save_blocks=saving_mask(positive, block, n_blocks),
            avg_from=None,
        )
    if isinstance(saveat, SteadyState):
        saveat.require_window("TWOQS")
        every = dt if saveat.every is None else float(saveat.every)
        block = steps_of("every", every, dt)
        n_burn = steps_of("t_burn", float(saveat.t_burn), every, "every")
        n_avg = steps_of("t_avg", float(saveat.t_avg), every, "every")
        return Grid(
            times=None,
            block=block,
            n_blocks=n_burn + n_avg,
            save_initial=False,
            save_blocks=None,
            avg_from=n_burn,
            window=(n_burn * block * dt, n_avg * block * dt),
        )
    raise ValueError(
        f"`saveat` must be a tq.SaveAt or tq.SteadyState, got {type(saveat).__name__}."
    )


def noise_structure(lowered) -> tuple:
    """``(jumps, dephasing, term_rows, ladder)`` from the concrete rates of a lowered model
    (``ladder``: whether any decay, any gain rate is nonzero).
    """
    try:
        ladder = (
            bool(np.any(np.asarray(lowered.decay) > 0)),
            bool(np.any(np.asarray(lowered.gain) > 0)),
        )
        jumps = ladder[0] or ladder[1]
        deph = bool(np.any(np.asarray(lowered.dephasing) > 0))
    except jax.errors.TracerArrayConversionError:
        raise ValueError(
            "`model` must hold concrete arrays (call the solver outside jit)."
        ) from None
    term_rows = tuple(int(t.noise_rows) for t in lowered.terms)
    return jumps, deph, term_rows, ladder


def sort_observables(observables) -> tuple:
    """``(primitives, linear, grouped)`` for :class:`KernelConfig` (``spin_drift`` is always
    computed: the run's health monitor ``stats["spin_drift_max"]``).
    """
    from .._observables import OBSERVABLES

    linear, nonlinear = [], []
    for o in observables:
        if isinstance(o, Observable) and not o.linear:
            nonlinear.append(o)
        else:
            linear.append((o.name, o))
    if not any(key == "spin_drift" for key, _ in linear):
        linear.append(("spin_drift", OBSERVABLES["spin_drift"]))
    grouped = needed_primitives(nonlinear)
    prims = needed_primitives([o for _, o in linear] + nonlinear)
    return prims, tuple(linear), grouped


def window_names(linear) -> tuple:
    """The per-trajectory keys of the spin components among the linear observables (the
    relaxation signal compares their first and second half-window averages).
    """
    return tuple(key for key, _ in linear if key in ("Sx", "Sy", "Sz"))


def kernel_config(lowered, saveat, method, observables, n_traj, chunk_size, dtype) -> tuple:
    """``(KernelConfig, Grid)`` of a TWOQS run (module docstring).

    Args:
        lowered: the lowered (concrete) model (:func:`twoqs_jax._phase_space.lowering.lower`).
        saveat: :class:`SaveAt` or :class:`SteadyState`.
        method: the :class:`TWOQS` method.
        observables: resolved observables (:func:`twoqs_jax._observables.resolve`).
        n_traj: number of trajectories (validated).
        chunk_size: trajectories per chunk (validated, <= n_traj).
        dtype: ``"float32"`` or ``"float64"``.
    """
    grid = time_grid(saveat, method.scheme.dt)
    (jumps, deph, term_rows, ladder), mask, fmask = _model_structure(lowered)
    prims, linear, grouped = sort_observables(observables)
    fused = not autodiff_drift()
    cfg = KernelConfig(
        k=method.k,
        scheme=method.scheme,
        block=grid.block,
        n_blocks=grid.n_blocks,
        save_initial=grid.save_initial,
        save_blocks=grid.save_blocks,
        avg_from=grid.avg_from,
        primitives=prims,
        linear=linear,
        grouped=grouped,
        n_groups=method.n_groups,
        chunk_size=chunk_size,
        n_traj=n_traj,
        fock=method.sampling == "fock",
        dtype=dtype,
        jumps=jumps,
        dephasing=deph,
        term_rows=term_rows,
        fused=fused,
        conserve_spin=method.constraint == "spin_length",
        tangential=method.resolved_diffusion == "tangential",
        ladder=ladder,
        window_names=window_names(linear),
        # the site-major step (the fast path) where the scheme takes it
        site_major=bool(method.scheme.site_major) and fused,
        coupling_mask=mask,
        field_mask=fmask,
    )
    return cfg, grid


def _model_structure(lowered) -> tuple:
    """``(noise_structure, coupling_mask, field_mask)`` of a lowered model, kept while the
    (immutable) object lives: reading them moves the model's arrays to the host.
    """
    hit = _STRUCTURE.get(lowered)
    if hit is None:
        hit = (noise_structure(lowered), coupling_mask(lowered), field_mask(lowered))
        _STRUCTURE.put(lowered, hit)
    return hit


_STRUCTURE = IdentityCache()
