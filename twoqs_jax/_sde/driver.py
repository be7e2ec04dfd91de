"""The chunk driver: runs a compiled chunk function over all chunks and merges statistics.

Chunks of ``chunk_size`` trajectories (whole statistics blocks of ``cfg.traj_block``) go
through one ahead-of-time compiled function (:mod:`.kernel`, or its sharded form,
:mod:`.sharding`); the per-block statistics are merged on the host in a fixed order
(:class:`~.statistics.BlockMerger`), checked for non-finite trajectories after every chunk,
optionally checkpointed after every chunk and shown with a progress bar (:mod:`.checkpoint`).
Trajectory ``i``'s numbers depend only on ``(key, i)``, whatever the chunk, device or resume; the
merge order depends only on global block indices, so the result does not depend on them, bit
for bit.
"""

import time

import jax
import numpy as np

from . import store
from .checkpoint import Checkpoint, fingerprint, progress_bar
from .kernel import KernelConfig, compiled_chunk, traced_config
from .sharding import chunk_indices, put_indices, sharded_chunk
from .statistics import BlockMerger

_EXECUTABLES: dict = {}


def compiled(fn, static, args):
    """AOT-compiled ``fn`` for ``args``, reused for the same static configuration and
    argument shapes/dtypes/tree (including the model's static edges). Lowering again costs
    seconds per call; a repeated call then reports a compile time near 0.

    Where JAX's persistent compilation cache is on, a new configuration is looked up in the
    executable store (:mod:`.store`: loaded without tracing, else compiled and stored); a
    call the store cannot key, or any failure of the store, takes the ordinary path.
    """
    leaves, treedef = jax.tree.flatten(args)
    try:
        sig = (static, treedef, tuple((x.shape, str(x.dtype)) for x in leaves))
        hash(sig)
    except TypeError:
        return _compile(fn, static, args)
    if sig not in _EXECUTABLES:
        if len(_EXECUTABLES) >= 32:
            _EXECUTABLES.pop(next(iter(_EXECUTABLES)))
        _EXECUTABLES[sig] = _compile(fn, static, args)
    return _EXECUTABLES[sig]


def _compile(fn, static, args):
    folder = store.directory()
    if folder is not None:
        exe = store.load_or_compile(fn, static, args, folder)
        if exe is not None:
            return exe
    return fn.lower(*args).compile()


def _blocks_first(x, pos: int, sharded: bool) -> np.ndarray:
    """Move the block axis (at ``pos`` of one device's output) to the front; a sharded output
    has a leading device axis, and device ``d`` holds the ``d``-th run of blocks.
    """
    x = np.asarray(x)
    if not sharded:
        return np.moveaxis(x, pos, 0)
    x = np.moveaxis(x, pos + 1, 1)
    return x.reshape((-1,) + x.shape[2:])


def add_chunk(cfg, merger, out, first, part, batched, sharded) -> tuple:
    """Merge one chunk's per-block output (first trajectory ``first``) into ``merger``;
    returns this chunk's ``(non-finite trajectories, first non-finite time block)`` (per
    batch point for a sweep).
    """
    b = cfg.traj_block
    k = cfg.chunk_size // b
    counts = np.clip(cfg.n_traj - (first + b * np.arange(k)), 0, b)
    keep = counts > 0  # blocks wholly beyond n_traj (end of the run) are dropped
    pos = int(batched) + int(part == "saved")
    body = out[part]
    tables = {
        name: {n: _blocks_first(v, pos, sharded)[keep] for n, v in body[name].items()}
        for name in ("mean", "m2", "gsum")
    }
    health = {
        n: _blocks_first(out[n], int(batched), sharded)[keep]
        for n in ("clipped", "bad", "bad_block")
    }
    merger.add(counts[keep], tables["mean"], tables["m2"], tables["gsum"], **health)
    return np.sum(health["bad"], axis=0), np.min(health["bad_block"], axis=0)


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
    overwrite=False,
    progress=None,
    devices=None,
    fingerprint_of=None,
    on_blowup=None,
):
    """Driver loop over chunks; returns the merged statistics, timings and run segments.

    Args:
        cfg: the kernel configuration.
        lowered: the lowered model (the kernel's argument).
        state: the initial :class:`SpinCoherentState`.
        key: the run's PRNG key.
        batched, state_batched: a batch of models (and of initial angles).
        part: ``"saved"`` (time-resolved) or ``"avg"`` (steady state).
        checkpoint, resume, overwrite: write the merge state atomically after every chunk,
            continue from that file, or let a fresh run replace it (see :mod:`.checkpoint`).
        progress: progress bar over chunks.
        devices: a tuple of devices to shard every chunk's trajectory axis over, or ``None``.
        fingerprint_of: ``() -> dict`` of what a checkpoint must agree on.
        on_blowup: ``(chunk, n_chunks, count, first_block) -> Exception | None``, called
            after a chunk with non-finite trajectories; an exception returned is raised at
            once (before the chunk is checkpointed).

    Returns:
        ``(merger, compile_time, wall_time, segments)``: the :class:`BlockMerger` and the
        list of run segments (first trajectory, devices and chunk size of each start).
    """
    b = cfg.traj_block
    k = cfg.chunk_size // b
    n_blocks = -(-cfg.n_traj // b)
    ckpt, merger = None, None
    if checkpoint is not None:
        ckpt = Checkpoint(checkpoint, resume=resume, overwrite=overwrite)
        ckpt.preflight()
        ckpt.fingerprint = fingerprint_of()
        merger = ckpt.load(cfg.n_groups)  # refuses a file of another run before any work
    if merger is None:
        merger = BlockMerger(cfg.n_groups)
    start = merger.next_block
    segments = list(ckpt.history) if ckpt is not None else []
    segments.append(
        {
            "first_traj": start * b,
            "n_devices": 1 if devices is None else len(devices),
            "chunk_size": cfg.chunk_size,
        }
    )
    if ckpt is not None:
        ckpt.history = segments
    # converted on the host (an eager jnp conversion compiles a small program per process);
    # n_traj is traced: a new n_traj does not recompile
    theta = np.asarray(state.theta, cfg.dtype)
    phi = np.asarray(state.phi, cfg.dtype)
    n_traj = np.int32(cfg.n_traj)
    static = traced_config(cfg)
    if devices is None:
        # NumPy arguments: the compiled call takes them on its fast path, cheaper than a
        # device_put per argument (about 0.15 ms each on one CPU core)
        fn = compiled_chunk(static, batched, state_batched)

        def indices(first):
            return np.int32(first)
    else:
        fn, sharding = sharded_chunk(static, batched, state_batched, devices)
        theta, phi, n_traj = jax.device_put((theta, phi, n_traj))

        def indices(first):
            return put_indices(chunk_indices(cfg, first, len(devices)), sharding)

    t0 = time.perf_counter()
    exe = compiled(
        fn,
        (static, batched, state_batched, devices),
        (lowered, theta, phi, key, indices(0), n_traj),
    )
    t_compile = time.perf_counter() - t0
    done = -(-start // k)
    n_chunks = done + -(-(n_blocks - start) // k)
    bar = progress_bar(n_chunks, done, cfg.chunk_size, progress)
    t0 = time.perf_counter()
    for c in range(done, n_chunks):
        first = (start + (c - done) * k) * b
        out = jax.device_get(exe(lowered, theta, phi, key, indices(first), n_traj))
        bad, bad_block = add_chunk(cfg, merger, out, first, part, batched, devices is not None)
        if np.any(bad > 0) and on_blowup is not None:
            err = on_blowup(c + 1, n_chunks, bad, bad_block)
            if err is not None:
                if bar is not None:
                    bar.close()
                raise err
        if ckpt is not None:
            try:
                ckpt.save(merger)
            except OSError as err:
                raise type(err)(
                    f"could not write checkpoint {ckpt.path!r} after chunk {c + 1} of "
                    f"{n_chunks} ({err.strerror or err}); the previous checkpoint is intact: "
                    "free space and resume."
                ) from None
        if bar is not None:
            bar.update(1)
            rate = (c + 1 - done) * cfg.chunk_size / max(time.perf_counter() - t0, 1e-9)
            bar.set_postfix({"traj/s": f"{rate:.3g}"})
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0
    return merger, t_compile, wall, segments


__all__ = ["add_chunk", "compiled", "fingerprint", "run_chunks"]
