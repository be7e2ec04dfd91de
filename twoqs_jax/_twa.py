"""Public TWOQS entry points: :func:`simulate_twa` and :func:`steady_state_twa`.

Truncated Wigner for open quantum spins (paper 003, Huber, Kirton, Rabl): every site is a
pair of Schwinger bosons ``(a, b)`` with phase-space amplitudes ``(alpha, beta)``; the master
equation (standard Lindblad form, hbar = 1) becomes Ito SDEs after the truncated Wigner
and positive diffusion approximations, integrated by Euler-Maruyama for many independent
trajectories; expectation values are trajectory averages of ordering-corrected symbols,
each with its standard error. Error of the method: O(1/S).
"""

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_in, check_int
from ._model.model import SpinModel
from ._model.states import SpinCoherentState
from ._phase_space.observables import (
    ALL,
    DERIVED,
    GROUPED,
    _NEEDS,
    default_observables,
    derived,
    primitives_needed,
)
from ._phase_space.sampling import FOCK_SAMPLINGS
from ._phase_space.symbols import REPRESENTATIONS
from ._sde.checkpoint import Checkpoint, fingerprint, progress_bar
from ._sde.kernel import NOISES, KernelConfig, compiled_chunk, saving_mask
from ._sde.sharding import chunk_indices, put_indices, resolve_devices, sharded_chunk
from ._sde.statistics import RunningStats
from ._solution import Solution

DEFAULT_CHUNK = 4096


def _check_float(name, value, *, positive=False, nonnegative=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a real number, got {value!r}.") from None
    if not math.isfinite(v):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    if positive and v <= 0:
        raise ValueError(f"`{name}` must be > 0, got {value!r}.")
    if nonnegative and v < 0:
        raise ValueError(f"`{name}` must be >= 0, got {value!r}.")
    return v


def _resolve_dtype(dtype):
    if dtype is None:
        return "float64" if jax.config.jax_enable_x64 else "float32"
    name = jnp.dtype(dtype).name if not isinstance(dtype, str) else dtype
    check_in("dtype", name, ("float32", "float64"))
    if name == "float64" and not jax.config.jax_enable_x64:
        raise ValueError(
            "`dtype`='float64' needs jax_enable_x64; call "
            "jax.config.update('jax_enable_x64', True) first."
        )
    return name


def _resolve_key(key):
    if isinstance(key, (int, np.integer)):
        return jax.random.key(int(key))
    if not isinstance(key, jax.Array):
        raise ValueError(f"`key` must be an int seed or a jax PRNG key, got {type(key).__name__}.")
    return key


def _key_info(key):
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return {"impl": str(jax.random.key_impl(key)), "data": jax.random.key_data(key).tolist()}
    return {"impl": "raw", "data": np.asarray(key).tolist()}


def _prepare(
    model,
    state,
    representation,
    n_traj,
    observables,
    functions,
    chunk_size,
    dtype,
    fock_sampling,
    noise,
    n_groups,
):
    """Validate everything that does not depend on the time grid; return the pieces."""
    if not isinstance(model, SpinModel):
        raise ValueError(f"`model` must be a twoqs_jax.SpinModel, got {type(model).__name__}.")
    check_in("representation", representation, tuple(REPRESENTATIONS))
    k = REPRESENTATIONS[representation]
    n_traj = check_int("n_traj", n_traj, minimum=2)
    n = model.n_sites
    batched = model.spin.ndim == 2
    if not isinstance(state, SpinCoherentState):
        raise ValueError(
            f"`state` must be a twoqs_jax.SpinCoherentState, got {type(state).__name__}."
        )
    state_batched = state.theta.ndim == 2
    if state.theta.shape[-1] != n:
        raise ValueError(f"`state` has {state.theta.shape[-1]} sites but the model has {n}.")
    if state_batched and (not batched or state.theta.shape[0] != model.spin.shape[0]):
        raise ValueError(
            f"a batch of states (angles of shape {state.theta.shape}) needs a batch of models "
            f"of the same length; the model's spin has shape {model.spin.shape}."
        )
    functions = dict(functions or {})
    for name, f in functions.items():
        if not callable(f) or name in ALL:
            raise ValueError(
                f"`functions[{name!r}]` must be a callable with a name not in {list(ALL)}."
            )
    if observables is None:
        observables = default_observables(n) + tuple(functions)
    observables = tuple(observables)
    for o in observables:
        if o not in ALL and o not in functions:
            raise ValueError(
                f"unknown observable {o!r} in `observables`; known: {list(ALL)} "
                f"and the names in `functions`."
            )
    chunk_size = min(n_traj, DEFAULT_CHUNK) if chunk_size is None else chunk_size
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    check_in("fock_sampling", fock_sampling, FOCK_SAMPLINGS)
    check_in("noise", noise, NOISES)
    n_groups = check_int("n_groups", n_groups, minimum=2)
    dtype = _resolve_dtype(dtype)
    # the noise structure is static: read the (concrete) rates once
    try:
        jumps = bool(np.any(np.asarray(model.decay) > 0) or np.any(np.asarray(model.gain) > 0))
        deph = bool(np.any(np.asarray(model.dephasing) > 0))
    except jax.errors.TracerArrayConversionError:
        raise ValueError(
            "`model` must hold concrete arrays (call the solver outside jit)."
        ) from None
    names = primitives_needed(tuple(o for o in observables if o not in functions) + ("spin_drift",))
    names = names + tuple(o for o in observables if o in functions)
    grouped = tuple(g for g in GROUPED if any(g in _NEEDS[d] for d in observables if d in DERIVED))
    return dict(
        k=k,
        n_traj=n_traj,
        batched=batched,
        state_batched=state_batched,
        observables=observables,
        functions=functions,
        chunk_size=min(chunk_size, n_traj),
        dtype=dtype,
        jumps=jumps,
        deph=deph,
        names=names,
        grouped=grouped,
        n_groups=n_groups,
    )


_EXECUTABLES: dict = {}


def _compiled(fn, static, args):
    """AOT-compiled ``fn`` for ``args``, reused for the same static configuration and
    argument shapes/dtypes/tree (including the model's static edges). Lowering again costs
    seconds per call; a repeated call then reports a compile time near 0."""
    leaves, treedef = jax.tree.flatten(args)
    try:
        sig = (static, treedef, tuple((x.shape, str(x.dtype)) for x in leaves))
        hash(sig)
    except TypeError:
        return fn.lower(*args).compile()
    if sig not in _EXECUTABLES:
        if len(_EXECUTABLES) >= 32:
            _EXECUTABLES.pop(next(iter(_EXECUTABLES)))
        _EXECUTABLES[sig] = fn.lower(*args).compile()
    return _EXECUTABLES[sig]


def _stats_piece(cfg, out, idx, part, batched):
    """RunningStats of one chunk (or one device's share of it) with global indices ``idx``."""
    idx = idx[idx < cfg.n_traj]
    if idx.size == 0:
        return None
    gcount = np.bincount(idx % cfg.n_groups, minlength=cfg.n_groups)
    body = dict(out[part], clipped=out["clipped"], bad=out["bad"])
    # the group axis comes after the parameter axis (batched) and time axis (saved)
    pos = int(batched) + int(part == "saved")
    body["gsum"] = {k: np.moveaxis(v, pos, 0) for k, v in body["gsum"].items()}
    return RunningStats.from_chunk(body, len(idx), gcount)


def _run(
    cfg: KernelConfig,
    model,
    state,
    key,
    batched,
    part,
    state_batched=False,
    checkpoint=None,
    resume=False,
    progress=None,
    devices=None,
):
    """Driver loop over chunks; returns merged RunningStats and timings.

    With ``checkpoint`` (a path) the merged statistics are written atomically after every
    chunk, and ``resume=True`` continues from that file (see :mod:`._sde.checkpoint`).
    With ``devices`` (a tuple, see :func:`._sde.sharding.resolve_devices`) every chunk's
    trajectory axis is sharded over them and the per-device statistics are merged here.
    """
    n_chunks = -(-cfg.n_traj // cfg.chunk_size)
    ckpt, start, stats = None, 0, None
    if checkpoint is not None:
        from . import __version__

        ckpt = Checkpoint(checkpoint, resume=resume)
        ckpt.fingerprint = fingerprint(cfg, model, state, _key_info(key), __version__)
        start, stats = ckpt.load()  # refuses a file of another run before any work
    theta = jnp.asarray(state.theta, cfg.dtype)
    phi = jnp.asarray(state.phi, cfg.dtype)
    if devices is None:
        fn = compiled_chunk(cfg, batched, state_batched)

        def indices(c):
            return jnp.asarray(c, jnp.int32)
    else:
        fn, sharding = sharded_chunk(cfg, batched, state_batched, devices)

        def indices(c):
            return put_indices(chunk_indices(cfg, c, len(devices)), sharding)

    t0 = time.perf_counter()
    compiled = _compiled(
        fn, (cfg, batched, state_batched, devices), (model, theta, phi, key, indices(0))
    )
    t_compile = time.perf_counter() - t0
    bar = progress_bar(n_chunks, start, cfg.chunk_size, progress)
    t0 = time.perf_counter()
    for c in range(start, n_chunks):
        out = jax.device_get(compiled(model, theta, phi, key, indices(c)))
        if devices is None:
            pieces = [(out, c * cfg.chunk_size + np.arange(cfg.chunk_size))]
        else:
            idx = chunk_indices(cfg, c, len(devices))
            pieces = [(jax.tree.map(lambda x, d=d: x[d], out), idx[d]) for d in range(len(idx))]
        for o, idx in pieces:
            s = _stats_piece(cfg, o, idx, part, batched)
            if s is not None:
                stats = s if stats is None else stats.merge(s)
        if ckpt is not None:
            ckpt.save(c + 1, stats)
        if bar is not None:
            bar.update(1)
            rate = (c + 1 - start) * cfg.chunk_size / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix({"traj/s": f"{rate:.3g}"})
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0
    return stats, t_compile, wall


def _finalize(stats: RunningStats, observables, model, time_axis: bool):
    bad = float(np.max(stats.nonfinite))
    if bad > 0:
        raise RuntimeError(
            f"TWOQS trajectories blew up: {int(bad)} trajectories reached NaN or inf. "
            "The Euler-Maruyama step is unstable; use a smaller `dt`."
        )
    mean, sem = {}, {}
    spin0 = np.asarray(model.spin, dtype=np.float64)[..., 0]
    if time_axis:
        spin0 = spin0[..., None]
    for o in observables:
        if o == "SpSm":
            mean[o] = stats.mean["SpSm_re"] + 1j * stats.mean["SpSm_im"]
            sem[o] = stats.sem("SpSm_re") + 1j * stats.sem("SpSm_im")
        elif o in DERIVED:
            mean[o], sem[o] = stats.jackknife(lambda m, o=o: derived(o, m, spin0))
        else:
            mean[o], sem[o] = stats.mean[o], stats.sem(o)
    return mean, sem


def _common_stats(cfg, stats, key, representation, t_compile, wall, n_sites):
    site_steps = cfg.n_traj * cfg.block * cfg.n_blocks * n_sites
    drift = stats.mean["spin_drift"]
    return {
        "n_traj": cfg.n_traj,
        "dt": cfg.dt,
        "n_steps": cfg.block * cfg.n_blocks,
        "representation": representation,
        "key": _key_info(key),
        "clip_fraction": (np.asarray(stats.clipped) / site_steps).tolist(),
        "spin_drift_max": float(np.max(np.abs(drift))),
        "chunk_size": cfg.chunk_size,
        "dtype": cfg.dtype,
        "noise": cfg.noise,
        "fock_sampling": cfg.fock_sampling,
        "compile_time": t_compile,
        "wall_time": wall,
        "site_steps_per_s": site_steps / wall if wall > 0 else float("nan"),
    }


def _device_stats(info, devs):
    info["n_devices"] = 1 if devs is None else len(devs)
    info["device"] = str(jax.devices()[0] if devs is None else devs[0])
    return info


def steady_window(dt, t_burn, t_avg, avg_every):
    """Validate a steady-state window; return ``(dt, block, n_burn, n_avg)`` in blocks of
    ``avg_every`` steps (the states averaged are those at ``t_burn + j * block * dt``,
    ``j = 1 .. n_avg``)."""
    dt = _check_float("dt", dt, positive=True)
    t_burn = _check_float("t_burn", t_burn, nonnegative=True)
    t_avg = _check_float("t_avg", t_avg, positive=True)
    block = check_int("avg_every", avg_every, minimum=1)
    n_avg = int(round(t_avg / (dt * block)))
    if n_avg < 1:
        raise ValueError(f"`t_avg` must be >= avg_every * dt = {block * dt}, got {t_avg}.")
    n_burn = int(round(t_burn / (dt * block)))
    return dt, block, n_burn, n_avg


def simulate_twa(
    model,
    state,
    *,
    t_final,
    dt,
    n_traj,
    key,
    representation="W",
    n_save=51,
    save_times=None,
    observables=None,
    functions=None,
    chunk_size=None,
    dtype=None,
    fock_sampling="coherent",
    noise="two_point",
    n_groups=32,
    fused=True,
    conserve_spin=False,
    checkpoint=None,
    resume=False,
    progress=None,
    shard=None,
    devices=None,
) -> Solution:
    r"""Time evolution of expectation values by TWOQS trajectories.

    Integrates the Ito SDEs of representation ``k`` (W: 0, P: 1, Q: -1) with
    Euler-Maruyama, ``z_{t+dt} = z_t + A(z_t) dt + B(z_t) dW``, for ``n_traj`` independent
    trajectories sampled from ``state`` (conventions: :mod:`twoqs_jax._phase_space.drift`).

    Args:
        model: :class:`SpinModel`, or a batch of models (leading axis on every parameter
            array, e.g. ``jax.vmap(lambda om: driven_spin(100, om))(omegas)``): the batch runs
            in one compiled call with the same random numbers for every parameter point, and
            every result array gets a leading parameter axis.
        state: :class:`SpinCoherentState` (one coherent state per site), or with a batch of
            models a batch of states (angles ``(P, n)``, e.g. stacked with ``jax.tree.map``).
        t_final: final time (>= dt).
        dt: Euler-Maruyama step (> 0); times are rounded to multiples of ``dt``.
        n_traj: number of trajectories (>= 2).
        key: int seed or JAX PRNG key; trajectory ``i`` uses ``fold_in(key, i)``, so the
            numbers do not depend on ``chunk_size``.
        representation: "W" (Wigner, default; needed for nonlinear Hamiltonians), "P", "Q".
        n_save: number of equally spaced saving times from 0 to ``t_final``.
        save_times: explicit saving times in ``[0, t_final]`` (overrides ``n_save``).
        observables: names from :mod:`twoqs_jax._solution` plus ``spin_drift``
            (``<(a^+a + b^+b)/2> - S``, a health monitor); default: all single-site ones,
            and ``SpSm``, ``SzSz`` for up to 10 sites.
        functions: ``{name: f(alpha, beta)}`` user functions of the ``(n,)`` amplitudes of
            one trajectory, averaged as they are (the caller chooses their ordering).
        chunk_size: trajectories per compiled call (memory bound; default 4096).
        dtype: "float32" or "float64" (default: float64 when jax_enable_x64 is on, else
            float32).
        fock_sampling: Wigner sampling of the Fock state, "coherent" (paper 003 Eq. 18) or
            "fock" (exact Fock-state mean and variance of ``|beta|^2``, uniform phase).
            With "coherent" every trajectory's Schwinger-boson number
            ``N = |alpha|^2 + |beta|^2`` has the spread ``Var N = 2S + 1/2`` instead of the
            Fock value ``1/2``, which adds ``S/2`` to the variance along the mean spin
            (``Var(S_z)`` of ``spin_up()``/``spin_down()`` is ``S/2`` at t = 0 instead of 0).
            For variances and squeezing near polarised states use
            ``fock_sampling="fock", conserve_spin=True``; the default follows paper 003.
            See notes/engine.md, "Second moments along the mean spin".
        noise: "two_point" (default): weak increments ``+-sqrt(dt)`` with probability 1/2
            each. They have the first three moments of Wiener increments, which is what the
            weak order 1 of Euler-Maruyama needs (Kloeden & Platen, the simplified weak
            Euler scheme), and cost one random bit each, read inside the fused step: 7x the
            Gaussian throughput on one CPU core (benchmarks/results/suite.md). Every test
            against exact results passes with either; in the one case where both time-step
            errors were measured, the two-point one was smaller (notes/engine.md).
            "gaussian": ``sqrt(dt) N(0, 1)`` increments, needed when single trajectories
            should be Wiener paths (not only their averages).
        n_groups: jackknife groups for the standard errors of variances and ``xi2``.
        fused: hand-written Hamiltonian drift (default) or the autodiff reference.
        conserve_spin: ``False`` (default) integrates paper 003's SDEs as they are. Their
            positive diffusion approximation drives independent noises on ``alpha`` and
            ``beta``, so each trajectory's spin length ``|alpha|^2 + |beta|^2`` diffuses
            (variance growing like ``2 kappa |alpha|^2 |beta|^2 t``) although the master
            equation conserves it exactly. ``True`` rescales both amplitudes of every site
            after each step back to the trajectory's initial length (a projection; the
            initial spin-length distribution is then conserved, as in the exact dynamics).
            An option of this package, not of paper 003; see notes/engine.md for measurements.
            Without it the spin-length diffusion adds to the variance along the mean spin
            over time (``Var(S_z)`` of a driven spin grows without bound). With
            ``fock_sampling="fock"`` the relaxed ground state keeps ``Var(S_z) = 1/4``
            (exact 0): the vacuum noise rebuilt in the relaxing mode is uncorrelated with the
            conserved ``N``, an O(1) error of the method, not of the sampling.
        checkpoint: path of a checkpoint file: the merged statistics are written there
            atomically after every chunk, so a killed run loses at most one chunk.
        resume: continue from ``checkpoint`` if it exists; the result is bit-for-bit the
            one of an uninterrupted run with the same key. A file of another run (other
            model, settings, key or version) is refused with the reason.
        progress: show a progress bar over chunks (trajectories/s, ETA); ``None`` shows it
            only on an interactive terminal.
        shard: shard every chunk's trajectory axis over ``devices`` (``jax.shard_map`` on a
            1D mesh). ``None`` (default): shard when there is more than one device and
            ``chunk_size`` is divisible by their number; ``True``: always (``chunk_size``
            must be divisible); ``False``: one device. The numbers equal the one-device
            numbers for the same key up to floating-point reduction order.
        devices: the devices to shard over (default ``jax.devices()``, all hosts after
            ``jax.distributed.initialize()``).

    Returns:
        ``Solution(method="twa")`` with ``times`` ``(T,)``, ``mean``/``sem`` arrays
        ``(T, ...)`` (``SpSm`` complex, its sem is ``sem_re + 1j sem_im``) and ``stats``.

    Example:
        >>> import twoqs_jax as tq
        >>> sol = tq.simulate_twa(tq.driven_spin(10, 1.5), tq.spin_down(), t_final=2.0,
        ...                       dt=0.01, n_traj=1000, key=0)
        >>> sol["Sz"].shape
        (51, 1)
    """
    p = _prepare(
        model,
        state,
        representation,
        n_traj,
        observables,
        functions,
        chunk_size,
        dtype,
        fock_sampling,
        noise,
        n_groups,
    )
    dt = _check_float("dt", dt, positive=True)
    t_final = _check_float("t_final", t_final)
    if t_final < dt:
        raise ValueError(f"`t_final` must be >= dt = {dt}, got {t_final}.")
    n_steps = int(round(t_final / dt))
    if save_times is None:
        n_save = check_int("n_save", n_save, minimum=1)
        if n_save > 1:
            steps = np.round(np.linspace(0, n_steps, n_save)).astype(np.int64)
        else:
            steps = np.array([n_steps])
    else:
        st = np.atleast_1d(np.asarray(save_times, dtype=float))
        if st.ndim != 1 or st.size == 0 or not np.all(np.isfinite(st)):
            raise ValueError(
                f"`save_times` must be a non-empty 1D array of finite times, got {save_times!r}."
            )
        out = (st < -1e-9 * dt) | (st > n_steps * dt * (1 + 1e-12) + 1e-9 * dt)
        if np.any(out):
            raise ValueError(
                f"`save_times` must lie in [0, t_final = {n_steps * dt}], got {st[out].tolist()}."
            )
        steps = np.round(st / dt).astype(np.int64)
    steps = np.unique(steps)
    positive = steps[steps > 0]
    if positive.size == 0:
        raise ValueError("`save_times` must contain a time >= dt.")
    block = int(np.gcd.reduce(positive))
    n_blocks = int(positive.max() // block)
    cfg = KernelConfig(
        k=p["k"],
        dt=dt,
        block=block,
        n_blocks=n_blocks,
        save_initial=bool(steps[0] == 0),
        save_blocks=saving_mask(positive, block, n_blocks),
        avg_from=None,
        names=p["names"],
        grouped=p["grouped"],
        n_groups=p["n_groups"],
        chunk_size=p["chunk_size"],
        n_traj=p["n_traj"],
        noise=noise,
        fock_sampling=fock_sampling,
        dtype=p["dtype"],
        jumps=p["jumps"],
        dephasing=p["deph"],
        fused=bool(fused),
        conserve_spin=bool(conserve_spin),
        functions=tuple(p["functions"].items()),
    )
    key = _resolve_key(key)
    devs = resolve_devices(shard, devices, cfg.chunk_size)
    stats, t_compile, wall = _run(
        cfg,
        model,
        state,
        key,
        p["batched"],
        "saved",
        p["state_batched"],
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
        devices=devs,
    )
    mean, sem = _finalize(stats, p["observables"], model, time_axis=True)
    for name, v in mean.items():  # one row per saving time, whatever the grid
        if np.shape(v)[int(p["batched"])] != len(steps):
            raise RuntimeError(
                f"internal error: {name!r} has {np.shape(v)} rows for {len(steps)} saving times."
            )
    info = _device_stats(
        _common_stats(cfg, stats, key, representation, t_compile, wall, model.n_sites), devs
    )
    info["t_final"] = n_steps * dt
    return Solution(method="twa", times=steps * dt, mean=mean, sem=sem, stats=info)


def steady_state_twa(
    model,
    state,
    *,
    t_burn,
    t_avg,
    dt,
    n_traj,
    key,
    representation="W",
    avg_every=1,
    observables=None,
    functions=None,
    chunk_size=None,
    dtype=None,
    fock_sampling="coherent",
    noise="two_point",
    n_groups=32,
    fused=True,
    conserve_spin=False,
    checkpoint=None,
    resume=False,
    progress=None,
    shard=None,
    devices=None,
) -> Solution:
    r"""Steady state by per-trajectory time averages over ``[t_burn, t_burn + t_avg]``.

    Each trajectory averages the observable symbols over the states at
    ``t_burn + j * avg_every * dt`` (``j = 1 .. t_avg / (avg_every dt)``); means and standard
    errors are then taken over the independent trajectories. Variances are
    ``<S_a^2> - <S_a>^2`` of the time-averaged moments. Other arguments as in
    :func:`simulate_twa`.

    Returns:
        ``Solution(method="twa", times=None)``; arrays have no time axis (a leading
        parameter axis for a batch of models).

    Example:
        >>> import twoqs_jax as tq
        >>> sol = tq.steady_state_twa(tq.driven_spin(100, 0.5), tq.spin_down(), t_burn=10.0,
        ...                           t_avg=5.0, dt=0.01, n_traj=500, key=0)
        >>> float(sol["Sz"][0]) < 0
        True
    """
    p = _prepare(
        model,
        state,
        representation,
        n_traj,
        observables,
        functions,
        chunk_size,
        dtype,
        fock_sampling,
        noise,
        n_groups,
    )
    dt, block, n_burn, n_avg = steady_window(dt, t_burn, t_avg, avg_every)
    cfg = KernelConfig(
        k=p["k"],
        dt=dt,
        block=block,
        n_blocks=n_burn + n_avg,
        save_initial=False,
        save_blocks=None,
        avg_from=n_burn,
        names=p["names"],
        grouped=p["grouped"],
        n_groups=p["n_groups"],
        chunk_size=p["chunk_size"],
        n_traj=p["n_traj"],
        noise=noise,
        fock_sampling=fock_sampling,
        dtype=p["dtype"],
        jumps=p["jumps"],
        dephasing=p["deph"],
        fused=bool(fused),
        conserve_spin=bool(conserve_spin),
        functions=tuple(p["functions"].items()),
    )
    key = _resolve_key(key)
    devs = resolve_devices(shard, devices, cfg.chunk_size)
    stats, t_compile, wall = _run(
        cfg,
        model,
        state,
        key,
        p["batched"],
        "avg",
        p["state_batched"],
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
        devices=devs,
    )
    mean, sem = _finalize(stats, p["observables"], model, time_axis=False)
    info = _device_stats(
        _common_stats(cfg, stats, key, representation, t_compile, wall, model.n_sites), devs
    )
    info.update(t_burn=n_burn * block * dt, t_avg=n_avg * block * dt)
    return Solution(method="twa", times=None, mean=mean, sem=sem, stats=info)
