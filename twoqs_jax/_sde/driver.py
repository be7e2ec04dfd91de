"""The chunk driver: runs a compiled chunk function over all chunks and merges statistics.

Chunks of ``chunk_size`` trajectories go through one ahead-of-time compiled function
(:mod:`.kernel`, or its sharded form, :mod:`.sharding`); their statistics are merged exactly
(:class:`~.statistics.RunningStats`), optionally checkpointed after every chunk and shown
with a progress bar (:mod:`.checkpoint`). Trajectory ``i`` draws from ``fold_in(key, i)``
whatever the chunk, device or resume, so the result does not depend on them.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from .checkpoint import Checkpoint, fingerprint, progress_bar
from .kernel import KernelConfig, compiled_chunk
from .sharding import chunk_indices, put_indices, sharded_chunk
from .statistics import RunningStats

_EXECUTABLES: dict = {}


def compiled(fn, static, args):
    """AOT-compiled ``fn`` for ``args``, reused for the same static configuration and
    argument shapes/dtypes/tree (including the model's static edges). Lowering again costs
    seconds per call; a repeated call then reports a compile time near 0.
    """
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


def stats_piece(cfg, out, idx, part, batched):
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


def run_chunks(
    cfg: KernelConfig,
    lowered,
    state,
    key,
    batched,
    part,
    state_batched=False,
    checkpoint=None,
    resume=False,
    progress=None,
    devices=None,
    fingerprint_of=None,
):
    """Driver loop over chunks; returns merged RunningStats and timings.

    Args:
        cfg: the kernel configuration.
        lowered: the lowered model (the kernel's argument).
        state: the initial :class:`SpinCoherentState`.
        key: the run's PRNG key.
        batched, state_batched: a batch of models (and of initial angles).
        part: ``"saved"`` (time-resolved) or ``"avg"`` (steady state).
        checkpoint, resume: write the merged statistics atomically after every chunk and
            continue from that file (see :mod:`.checkpoint`).
        progress: progress bar over chunks.
        devices: a tuple of devices to shard every chunk's trajectory axis over, or ``None``.
        fingerprint_of: ``() -> dict`` of what a checkpoint must agree on.

    Returns:
        ``(stats, compile_time, wall_time)``.
    """
    n_chunks = -(-cfg.n_traj // cfg.chunk_size)
    ckpt, start, stats = None, 0, None
    if checkpoint is not None:
        ckpt = Checkpoint(checkpoint, resume=resume)
        ckpt.fingerprint = fingerprint_of()
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
    exe = compiled(
        fn, (cfg, batched, state_batched, devices), (lowered, theta, phi, key, indices(0))
    )
    t_compile = time.perf_counter() - t0
    bar = progress_bar(n_chunks, start, cfg.chunk_size, progress)
    t0 = time.perf_counter()
    for c in range(start, n_chunks):
        out = jax.device_get(exe(lowered, theta, phi, key, indices(c)))
        if devices is None:
            pieces = [(out, c * cfg.chunk_size + np.arange(cfg.chunk_size))]
        else:
            idx = chunk_indices(cfg, c, len(devices))
            pieces = [(jax.tree.map(lambda x, d=d: x[d], out), idx[d]) for d in range(len(idx))]
        for o, idx in pieces:
            s = stats_piece(cfg, o, idx, part, batched)
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


__all__ = ["compiled", "fingerprint", "run_chunks", "stats_piece"]
