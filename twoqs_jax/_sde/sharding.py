"""Sharding the trajectory axis of a chunk over devices (``jax.shard_map`` on a 1D mesh).

A chunk of ``chunk_size`` global trajectory indices is reshaped to ``(D, chunk_size / D)``
and laid out over a 1D :class:`jax.sharding.Mesh` of ``D`` devices (axis name ``"traj"``).
Every device runs :func:`twoqs_jax._sde.kernel.run_indices` on its own indices (whole
statistics blocks of consecutive trajectories); the per-block statistics are all-gathered, so
the output is replicated and every process can read it, and the host merges the blocks in
their global order (:class:`~.statistics.BlockMerger`). Trajectory ``i``'s numbers depend
only on ``(key, i)`` whatever device runs it and every block is reduced by the same fixed
tree, so the result equals the one-device result for the same key bit for bit.

Multi-host: call ``jax.distributed.initialize()`` in every process first (on CPU hosts with
``jax_cpu_collectives_implementation = "gloo"``); ``jax.devices()`` then lists the devices of
all hosts and the same code shards over them, every process reading the replicated
statistics (tests/test_multihost.py: two processes on one machine).
"""

import functools

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .kernel import KernelConfig, run_indices

AXIS = "traj"


def resolve_devices(shard, devices, chunk_size: int, block: int = 1):
    """The device tuple to shard over, or ``None`` for a plain one-device run.

    Args:
        shard: ``None`` (auto: shard when more than one device is given or visible and
            the chunk's statistics blocks divide evenly among them), ``True`` (must shard) or
            ``False``.
        devices: ``None`` (``jax.devices()``) or a sequence of devices.
        chunk_size: trajectories per chunk (a multiple of ``block``).
        block: trajectories per statistics block (every device gets whole blocks).
    """
    if shard not in (None, True, False):
        raise ValueError(f"`shard` must be None, True or False, got {shard!r}.")
    if shard is False:
        return None
    if devices is None:
        devices = jax.devices()
    else:
        try:
            devices = tuple(devices)
        except TypeError:
            raise ValueError(
                f"`devices` must be a sequence of jax devices, got {devices!r}."
            ) from None
        if not devices or not all(isinstance(d, jax.Device) for d in devices):
            raise ValueError(
                f"`devices` must be a non-empty sequence of jax devices, got {devices!r}."
            )
    devices = tuple(devices)
    n = len(devices)
    if shard is True:
        if chunk_size % (n * block):
            raise ValueError(
                f"`shard=True` needs `chunk_size` divisible by the {n} devices times the "
                f"{block} trajectories of a statistics block ({n * block}), got {chunk_size}."
            )
        return devices
    if n > 1 and chunk_size % (n * block) == 0:
        return devices
    return None


@functools.lru_cache(maxsize=64)
def sharded_chunk(cfg: KernelConfig, batched: bool, state_batched: bool, devices: tuple):
    """Jitted ``(model, theta, phi, key, idx, n_traj) -> statistics`` with ``idx`` ``(D, m)``
    sharded over ``devices``; every output gets a leading device axis ``D`` and is
    replicated on all devices.
    """
    mesh = Mesh(np.array(devices), (AXIS,))
    fn = functools.partial(run_indices, cfg)
    if batched:
        ax = 0 if state_batched else None
        fn = jax.vmap(fn, in_axes=(0, ax, ax, None, None, None))

    def local(model, theta, phi, key, idx, n_traj):
        out = fn(model, theta, phi, key, idx[0], n_traj)
        # every device gets every device's (small) statistics: the output is replicated, so
        # each process of a multi-host run can read all of it from its own devices
        return jax.tree.map(lambda x: jax.lax.all_gather(x, AXIS), out)

    mapped = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(P(), P(), P(), P(), P(AXIS), P()),
        out_specs=P(),
        check_vma=False,  # per-device work, then one all-gather of the statistics
    )
    return jax.jit(mapped), NamedSharding(mesh, P(AXIS))


def chunk_indices(cfg: KernelConfig, first: int, n_devices: int) -> np.ndarray:
    """``(D, chunk_size / D)`` global trajectory indices of the chunk starting at ``first``."""
    idx = first + np.arange(cfg.chunk_size)
    return idx.reshape(n_devices, -1).astype(np.int32)


def put_indices(idx: np.ndarray, sharding) -> jax.Array:
    """Place the ``(D, m)`` indices with one row per device (from the host array: a device
    array would be resharded by a small compiled program in every new process).
    """
    return jax.device_put(np.asarray(idx), sharding)
