"""The TWOQS backend of :func:`twoqs_jax.solve` (``method=TWOQS(...)``).

Truncated Wigner for open quantum spins (paper 003, Huber, Kirton, Rabl): every site is a
pair of Schwinger bosons ``(a, b)`` with phase-space amplitudes ``(alpha, beta)``; the master
equation (standard Lindblad form, hbar = 1) becomes Ito SDEs after the truncated Wigner
and positive diffusion approximations, integrated by the method's scheme for many
independent trajectories; expectation values are trajectory averages of ordering-corrected
symbols, each with its standard error. Error of the method: O(1/S).

Pipeline: checks on concrete arrays (batches included) -> the model lowered to dense arrays
(:mod:`._phase_space.lowering`) -> one kernel configuration (:mod:`._sde.config`) -> the
chunk driver (:mod:`._sde.driver`) -> means, standard errors and jackknife errors.
"""

import dataclasses
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_int
from ._keys import key_info, resolve_key
from ._model.model import SpinModel
from ._model.states import SpinCoherentState
from ._observables import PRIMITIVES, dims_of, resolve
from ._options import DEFAULT_CHUNK, Options
from ._phase_space.lowering import lower
from ._saveat import SaveAt
from ._sde import third_order
from ._sde.checkpoint import fingerprint
from ._sde.config import kernel_config
from ._sde.driver import run_chunks
from ._sde.sharding import resolve_devices
from ._sde.statistics import traj_block
from ._solution import Solution
from ._validity import assess, spin_length_change, window_drift


class TrajectoryBlowUp(RuntimeError):
    """TWOQS trajectories reached NaN or inf (the run stopped at the chunk where it happened)."""


class FailedPointsWarning(RuntimeWarning):
    """Some points of a sweep failed (their results are NaN, ``stats["status"]`` says why)."""


def _block_time(cfg, grid, block) -> float:
    t0 = float(grid.times[0]) if grid.times is not None else 0.0
    return t0 + (int(block) + 1) * cfg.block * cfg.dt


def _cause(cfg) -> str:
    return (
        f"likely cause: the step dt = {cfg.dt:g} is too large for the model's rates, fields "
        "and couplings (halve `dt`), or the model's parameters make it unstable"
    )


def resolve_dtype(dtype):
    """``"float32"``/``"float64"`` (default: float64 when jax_enable_x64 is on)."""
    if dtype is None:
        return "float64" if jax.config.jax_enable_x64 else "float32"
    name = jnp.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in ("float32", "float64"):
        raise ValueError(f"`dtype` must be 'float32' or 'float64', got {dtype!r}.")
    if name == "float64" and not jax.config.jax_enable_x64:
        raise ValueError(
            "`dtype`='float64' needs jax_enable_x64; call "
            "jax.config.update('jax_enable_x64', True) first."
        )
    return name


def check_state(model, state):
    """Validate a product-coherent initial state against ``model``; ``state_batched``."""
    if not isinstance(state, SpinCoherentState):
        raise ValueError(
            f"`state` must be a twoqs_jax.SpinCoherentState, got {type(state).__name__}."
        )
    n = model.n_sites
    batched = model.spin.ndim == 2
    if state.theta.shape[-1] != n:
        raise ValueError(f"`state` has {state.theta.shape[-1]} sites but the model has {n}.")
    state_batched = state.theta.ndim == 2
    if state_batched and (not batched or state.theta.shape[0] != model.spin.shape[0]):
        raise ValueError(
            f"a batch of states (angles of shape {state.theta.shape}) needs a batch of models "
            f"of the same length; the model's spin has shape {model.spin.shape}."
        )
    return state_batched


def device_memory(devices) -> float | None:
    """Bytes one device can hold (GPU: its limit; CPU: the machine's memory), or ``None``."""
    import os

    dev = jax.devices()[0] if devices is None else devices[0]
    try:
        stats = dev.memory_stats() or {}
        if stats.get("bytes_limit"):
            return float(stats["bytes_limit"])
    except Exception:  # not every backend reports memory
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _values_bound(cfg, n_sites: int) -> int | None:
    """An upper bound of the number of per-trajectory values of
    :func:`~._sde.kernel.trajectory_values` from the kinds of the package's own observables
    (each counted as complex, every grouped primitive too), without tracing them; ``None``
    where an observable is not the package's (its shape is known only by tracing it).
    """
    from ._observables import Observable

    size = {"site": n_sites, "pair": n_sites * n_sites, "scalar": 1}
    total = 0
    for _, obs in cfg.linear:
        module = getattr(getattr(obs, "fn", None), "__module__", None) or ""
        if not isinstance(obs, Observable) or not module.startswith("twoqs_jax"):
            return None
        if obs.kind not in size:
            return None
        total += 2 * size[obs.kind]
    for p in cfg.grouped:
        if PRIMITIVES.get(p) not in size:
            return None
        total += 2 * size[PRIMITIVES[p]]
    return total


def check_memory(cfg, n_sites: int, n_batch: int, devices) -> None:
    """Refuse before compiling a chunk whose working set cannot fit on a device.

    Estimate per trajectory (bytes = item size x): the carried state and its copies
    (16 n), the noise window (at most 1024 numbers), and 4 copies of the per-trajectory
    values of the observables (values, time averages, temporaries); times the trajectories
    one device holds and the batch of models. A rough upper bound: only a chunk beyond it is
    refused, naming ``chunk_size`` and a size that fits.
    """
    from ._sde.kernel import trajectory_values

    limit = device_memory(devices)
    if limit is None:
        return
    item = np.dtype(cfg.dtype).itemsize
    per_device = cfg.chunk_size // (1 if devices is None else len(devices))

    def estimate(n_values):
        per_traj = item * (16 * n_sites + 1024 + 4 * n_values) * n_batch
        return per_traj, per_traj * per_device

    bound = _values_bound(cfg, n_sites)
    if bound is not None and estimate(bound)[1] <= limit:
        return  # fits even with the bound: no need to trace the observables (new processes)
    cplx = jnp.complex64 if cfg.dtype == "float32" else jnp.complex128
    amp = jax.ShapeDtypeStruct((n_sites,), cplx)
    try:
        values = jax.eval_shape(
            lambda a, b, s: trajectory_values(cfg, a, b, s),
            amp,
            amp,
            jax.ShapeDtypeStruct((n_sites,), jnp.dtype(cfg.dtype)),
        )
        n_values = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(values))
    except Exception:  # an estimate only: fall back to one value per site
        n_values = n_sites
    per_traj, need = estimate(n_values)
    if need > limit:
        fits = max(cfg.traj_block, int(0.5 * limit / per_traj) // cfg.traj_block * cfg.traj_block)
        raise ValueError(
            f"`chunk_size` = {cfg.chunk_size} needs about {need / 2**30:.3g} GiB per device "
            f"(estimated), more than the {limit / 2**30:.3g} GiB available; use chunk_size <= "
            f"{fits}."
        )


def finalize(stats, cfg, observables, spin, time_axis: bool):
    """Means and standard errors of the observables from the merged statistics."""
    spin = np.asarray(spin, dtype=np.float64)
    if time_axis:
        spin = spin[..., None, :]
    mean, sem = {}, {}
    for o in observables:
        key = o.name
        if key in stats.mean:
            mean[key], sem[key] = stats.mean[key], stats.sem(key)
        elif key + "__re" in stats.mean:
            mean[key] = stats.mean[key + "__re"] + 1j * stats.mean[key + "__im"]
            sem[key] = stats.sem(key + "__re") + 1j * stats.sem(key + "__im")
        else:  # nonlinear: from the trajectory means of its primitives, jackknife errors

            def fn(m, o=o):
                m = dict(m)
                for p in [k[:-4] for k in m if k.endswith("__re")]:
                    m[p] = m.pop(p + "__re") + 1j * m.pop(p + "__im")
                with np.errstate(divide="ignore", invalid="ignore"):
                    return np.asarray(o.fn(m, spin))

            with np.errstate(invalid="ignore"):
                mean[key], sem[key] = stats.jackknife(fn)
    return mean, sem


def point_status(merger, cfg, grid, batched: bool) -> list:
    """``"ok"`` or ``"failed: ..."`` per batch point (one entry for a single model)."""
    bad = np.atleast_1d(merger.nonfinite)
    first = np.atleast_1d(merger.bad_block)
    out = []
    for n, b in zip(bad, first):
        if n == 0:
            out.append("ok")
        else:
            out.append(
                f"failed: {int(n)} of {cfg.n_traj} trajectories reached NaN or inf (first by "
                f"t = {_block_time(cfg, grid, b):g})"
            )
    return out


def mask_failed(mean: dict, sem: dict, status: list, batched: bool) -> None:
    """Set the results of failed points to NaN (in place)."""
    failed = np.array([s != "ok" for s in status])
    if not failed.any():
        return
    for table in (mean, sem):
        for k, v in table.items():
            v = np.array(v, dtype=np.result_type(v, np.float64))
            if batched:
                v[failed] = np.nan
            else:
                v[...] = np.nan
            table[k] = v


def solve_twoqs(
    model, state, saveat, method, *, n_traj, key, observables=None, options=None
) -> Solution:
    """TWOQS trajectories of ``model`` from ``state`` (see :func:`twoqs_jax.solve`)."""
    if not isinstance(model, SpinModel):
        raise ValueError(f"`model` must be a twoqs_jax.SpinModel, got {type(model).__name__}.")
    from ._jumps.correlated import CorrelatedJump

    if any(isinstance(j, CorrelatedJump) for j in model.jumps):
        # jumps shared by several sites: the separate integrator of modes and correlated jumps
        from ._twoqs_cavity import solve_twoqs_cavity

        return solve_twoqs_cavity(
            model,
            state,
            saveat,
            method,
            n_traj=n_traj,
            key=key,
            observables=observables,
            options=options,
        )
    options = Options() if options is None else options
    model.validate()
    state_batched = check_state(model, state)
    n_traj = check_int("n_traj", n_traj, minimum=2)
    seed = key if isinstance(key, int | np.integer) and not isinstance(key, bool) else None
    key = resolve_key(key)
    observables = resolve(observables, model.n_sites, "twoqs", PRIMITIVES)
    chunk = options.chunk_size if options.chunk_size is not None else DEFAULT_CHUNK
    chunk = min(check_int("chunk_size", chunk, minimum=1), n_traj)
    # statistics blocks of `b` trajectories are the atomic unit of the reduction: chunks hold
    # whole blocks (rounded up), so any chunking or sharding gives the same bits
    b = traj_block(n_traj, method.n_groups)
    chunk = -(-chunk // b) * b
    dtype = resolve_dtype(options.dtype)
    lowered = lower(model)
    cfg, grid = kernel_config(lowered, saveat, method, observables, n_traj, chunk, dtype)
    cfg = dataclasses.replace(cfg, traj_block=b)
    batched = model.spin.ndim == 2
    devs = resolve_devices(options.shard, options.devices, cfg.chunk_size, b)
    part = "saved" if isinstance(saveat, SaveAt) else "avg"
    check_memory(cfg, model.n_sites, model.spin.shape[0] if batched else 1, devs)
    third = third_order.reason_not(method, cfg, model, saveat)
    if method.correction == "third_order" and third is not None:
        raise ValueError(
            f"`correction`='third_order' does not apply to this run: {third}; use "
            "correction='auto' or None."
        )
    if method.correction is None:
        third = "correction=None"
    elif third is None and not third_order.nonlinear(model):
        third = "no bilinear term in the Hamiltonian, so no third-order term"

    def on_blowup(c, n_chunks, count, first_block):
        # a single run stops at once; a sweep goes on (failed points are reported at the end)
        if batched or not options.throw:
            return None
        return TrajectoryBlowUp(
            f"TWOQS trajectories blew up in chunk {c} of {n_chunks}: {int(count)} of its "
            f"{cfg.chunk_size} trajectories reached NaN or inf, the first by "
            f"t = {_block_time(cfg, grid, first_block):g}; the run stopped there "
            f"({_cause(cfg)})."
        )

    def fingerprint_of():
        from . import __version__

        return fingerprint(cfg, model, state, key_info(key, seed), __version__)

    merger, t_compile, wall, segments = run_chunks(
        cfg,
        lowered,
        state,
        key,
        batched,
        part,
        state_batched,
        checkpoint=options.checkpoint,
        resume=options.resume,
        overwrite=options.overwrite,
        progress=options.progress,
        devices=devs,
        fingerprint_of=fingerprint_of,
        on_blowup=on_blowup,
    )
    stats = merger.result()
    if third is None:  # the third-order correction of closed dynamics (method.correction)
        t0 = time.perf_counter()
        corr, n_c = third_order.correction_stats(cfg, model, state, key, batched, stats.group_count)
        stats, held = third_order.shift(stats, corr, 1 if batched else 0)
        cut = held["cut"].any(axis=-1)  # per batch point (a scalar for one model)
        first = held["cut"].argmax(axis=-1)
        times = np.asarray(grid.times)
        third_info = {
            "applied": True,
            "n_traj": n_c,
            "spread_ratio": held["spread_ratio"],
            "cut_at": np.where(cut, times[first], np.nan).tolist()
            if batched
            else (float(times[first]) if cut else None),
            "time": time.perf_counter() - t0,
        }
    else:
        third_info = {"applied": False, "reason": third}
    time_axis = grid.times is not None
    status = point_status(merger, cfg, grid, batched)
    failed = [i for i, st in enumerate(status) if st != "ok"]
    if failed and options.throw and len(failed) == len(status):
        raise TrajectoryBlowUp(
            f"TWOQS trajectories blew up at every point: {status[0]} ({_cause(cfg)})."
        )
    mean, sem = finalize(stats, cfg, observables, model.spin, time_axis)
    mask_failed(mean, sem, status, batched)
    if failed:
        where = f"{len(failed)} of {len(status)} sweep points" if batched else "the run"
        warnings.warn(
            f"TWOQS: {where} failed ({status[failed[0]]}; {_cause(cfg)}); their results are "
            "NaN and stats['status'] says which.",
            FailedPointsWarning,
            stacklevel=3,
        )
    lead = (("batch",) if batched else ()) + (("time",) if time_axis else ())
    dims = {o.name: dims_of(o, lead) for o in observables}
    n_steps = cfg.block * cfg.n_blocks
    site_steps = cfg.n_traj * n_steps * model.n_sites
    info = {
        "n_traj": cfg.n_traj,
        "dt": cfg.dt,
        "n_steps": n_steps,
        "representation": method.representation,
        "sampling": method.sampling,
        "constraint": method.constraint,
        "diffusion": method.resolved_diffusion,
        "third_order": third_info,
        "scheme": type(method.scheme).__name__,
        "noise": getattr(method.scheme, "noise", None),
        "key": key_info(key, seed),
        "clip_fraction": (np.asarray(stats.clipped) / site_steps).tolist(),
        "spin_drift_max": float(np.nanmax(np.abs(stats.mean["spin_drift"])))
        if not np.all(np.isnan(stats.mean["spin_drift"]))
        else float("nan"),
        "spin_length_change": spin_length_change(stats, model.spin),
        "window_drift": window_drift(stats),
        "nonfinite_trajectories": float(np.max(stats.nonfinite)),
        "status": status if batched else status[0],
        "traj_block": cfg.traj_block,
        "segments": segments,
        "chunk_size": cfg.chunk_size,
        "dtype": cfg.dtype,
        "compile_time": t_compile,
        "wall_time": wall,
        "site_steps_per_s": site_steps / wall if wall > 0 else float("nan"),
        "n_devices": 1 if devs is None else len(devs),
        "device": str(jax.devices()[0] if devs is None else devs[0]),
    }
    if grid.window is not None:
        info.update(t_burn=grid.window[0], t_avg=grid.window[1])
    info["flags"] = assess(info)
    return Solution(
        method="twa",
        times=None if grid.times is None else np.asarray(grid.times),
        mean=mean,
        sem=sem,
        stats=info,
        dims=dims,
    )
