"""Run mechanics of :func:`twoqs_jax.solve`: chunks, devices, precision, progress, checkpoints.

Nothing here changes the physics or the numbers: the same key gives the same result, bit for
bit, for any ``chunk_size``, sharding or resume (every trajectory's random numbers
depend only on ``(key, trajectory_index)``, and statistics are reduced over fixed blocks of
trajectories in a fixed order, docs/derivations/kernel.md#deterministic-reduction). Debug switches are environment variables, read in
:mod:`twoqs_jax._config` (e.g. ``TWOQS_AUTODIFF_DRIFT=1``).
"""

import os

import equinox as eqx

from ._checks import check_int

DEFAULT_CHUNK = 4096


def _as_tuple(devices):
    if devices is None:
        return None
    try:
        return tuple(devices)
    except TypeError:
        raise ValueError(f"`devices` must be a sequence of jax devices, got {devices!r}.") from None


class Options(eqx.Module):
    """How to run a solve (not what to compute).

    Attributes:
        chunk_size: TWOQS trajectories per compiled call (memory bound; default
            ``min(n_traj, 4096)``), rounded up to whole statistics blocks (at most 64
            trajectories; ``stats["traj_block"]``, ``stats["chunk_size"]``).
        devices: the devices to shard over (default ``jax.devices()``, all hosts after
            ``jax.distributed.initialize()``).
        shard: shard every chunk's trajectory axis over ``devices``. ``None`` (default):
            when there is more than one device and ``chunk_size`` is divisible by their
            number; ``True``: always (``chunk_size`` must be divisible); ``False``: one
            device. The numbers equal the one-device numbers bit for bit.
        dtype: ``"float32"`` or ``"float64"`` for TWOQS trajectories (default: float64 when
            ``jax_enable_x64`` is on, else float32).
        progress: a progress bar over chunks (``None``: only on an interactive terminal).
        checkpoint: path of a checkpoint file: the merged TWOQS statistics are written there
            atomically after every chunk, so a killed run loses at most one chunk.
        resume: continue from ``checkpoint``; the result is bit for bit the one of an
            uninterrupted run with the same key (any chunk size or number of devices). A
            damaged file or one of another run is refused, naming what differs.
        overwrite: a fresh run (``resume=False``) may replace an existing ``checkpoint``
            (otherwise it is refused before any work).
        throw: raise on a failed solve: a single TWOQS run stops at the first chunk with a
            non-finite trajectory (naming chunk, time and count); a sweep (batch of models)
            goes on, returns NaN at its failed points with ``stats["status"]`` and a
            ``FailedPointsWarning``, and raises only if every point failed. ODE step limit.
            ``False`` returns NaN where the solve failed and says so in ``stats``.

    Examples:
        >>> import twoqs_jax as tq
        >>> opts = tq.Options(chunk_size=8192, dtype="float32", progress=False)
    """

    chunk_size: int | None = eqx.field(static=True, default=None)
    devices: tuple | None = eqx.field(static=True, default=None, converter=_as_tuple)
    shard: bool | None = eqx.field(static=True, default=None)
    dtype: str | None = eqx.field(static=True, default=None)
    progress: bool | None = eqx.field(static=True, default=None)
    checkpoint: str | None = eqx.field(static=True, default=None)
    resume: bool = eqx.field(static=True, default=False)
    overwrite: bool = eqx.field(static=True, default=False)
    throw: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if self.chunk_size is not None:
            check_int("chunk_size", self.chunk_size, minimum=1)
        if self.shard not in (None, True, False):
            raise ValueError(f"`shard` must be None, True or False, got {self.shard!r}.")
        if self.dtype is not None:
            import numpy as np

            name = self.dtype if isinstance(self.dtype, str) else np.dtype(self.dtype).name
            if name not in ("float32", "float64"):
                raise ValueError(f"`dtype` must be 'float32' or 'float64', got {self.dtype!r}.")
        if self.progress not in (None, True, False):
            raise ValueError(f"`progress` must be None, True or False, got {self.progress!r}.")
        if self.checkpoint is not None and not isinstance(self.checkpoint, str | os.PathLike):
            raise ValueError(f"`checkpoint` must be a path, got {self.checkpoint!r}.")
        for name in ("resume", "overwrite", "throw"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be True or False, got {getattr(self, name)!r}.")
        if self.resume and self.checkpoint is None:
            raise ValueError("`resume=True` needs a `checkpoint` path.")
