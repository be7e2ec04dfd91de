"""Random material of the noise windows: two-point and Gaussian increments.

The kernel reads the random numbers of a noise window of ``L`` consecutive steps (see
:func:`twoqs_jax._sde.kernel.noise_layout`). They are counter-based
(:mod:`twoqs_jax._sde.rng`): trajectory ``i``'s numbers in the window starting at global
step ``s0`` hash ``(i, slot)`` under the window key ``threefry2x32(run key, (tag, s0))``, so
they depend only on ``(key, i, step, row, site)``, never on the chunk, the device or a
restart.

- :class:`TwoPointIncrements`: weak increments ``+-sqrt(dt)`` with probability 1/2 each (the
  first three moments of Wiener increments, which is what the weak order 1 of Euler-Maruyama
  needs: the simplified weak Euler scheme of Kloeden and Platen). The material of a window of
  up to 32 steps is ``rows`` arrays of ``(n,)`` 32-bit words (slot ``r n + site``); step
  ``s`` uses bit ``s`` of every word, extracted inside the fused step (no increments are
  ever stored).
- :class:`GaussianIncrements`: ``sqrt(dt) N(0, 1)`` (Box-Muller, :func:`.rng.normals`; slot
  ``(s rows + r) n + site``). The material is only the window key and the trajectory
  index: each step hashes its own numbers inside the fused update (nothing is stored).

The two-point material is a tuple with one array per noise row: once vmapped over a chunk,
every row is a contiguous ``(chunk, n)`` array. An update that reads several rows (the
tangential decay noise reads two) is then vectorised by XLA:CPU; with the rows interleaved
in one ``(chunk, rows, n)`` array it was not (10x slower, measured in the kernel
performance study).
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from .. import rng

NOISE_NUMBERS = 1024
MAX_NOISE_BLOCK = 64
BITS_PER_WORD = 32


class AbstractIncrements(eqx.Module):
    """How a scheme draws and reads its random material (abstract)."""

    # axis of the per-trajectory material once vmapped over a chunk's trajectories
    chunk_axis: eqx.AbstractClassVar[int]
    # whether the kernel computes a step's increments one step ahead and carries them
    # (materialised once per step: worth it when they are costly to recompute in every
    # update that reads them, e.g. hashed Gaussian numbers)
    pipelined: ClassVar[bool] = False

    @abc.abstractmethod
    def window_limits(self, rows: int, n: int) -> tuple[int, int]:
        """``(max steps per window, numbers stored per step)`` (the kernel keeps at most
        ``NOISE_NUMBERS`` stored numbers per trajectory and window).
        """

    @abc.abstractmethod
    def draw(self, key, i, s0, length: int, rows: int, n: int, dtype, dt: float):
        """The material of trajectory ``i`` (global index, uint32 or int) for the window of
        ``length`` steps starting at global step ``s0``; ``key`` is the run's key. Build it
        from :func:`twoqs_jax._sde.rng.window_key` with a tag of the class's own. Two-point
        and Gaussian increments also take a ``(T,)`` array ``i``: the same numbers of ``T``
        trajectories, site-major (rows ``(n, T)`` from :meth:`at`; the kernel's site-major
        step).
        """

    @abc.abstractmethod
    def at(self, material, s, dtype, dt: float):
        """The ``rows`` ``(n,)`` increments of step ``s`` (position in the window), a tuple."""


class TwoPointIncrements(AbstractIncrements):
    """Weak two-point increments ``+-sqrt(dt)`` (one random bit each)."""

    chunk_axis = 0

    def window_limits(self, rows, n):
        return BITS_PER_WORD, 0

    def draw(self, key, i, s0, length, rows, n, dtype, dt):
        ks = rng.window_key(key, rng.TAG_TWO_POINT, s0)
        return tuple(rng.words(ks, i, r * n, n) for r in range(rows))

    def at(self, material, s, dtype, dt):
        sq = jnp.sqrt(jnp.asarray(dt, dtype))
        shift = jnp.asarray(s).astype(jnp.uint32)
        return tuple(jnp.where((w >> shift) & jnp.uint32(1) == 1, sq, -sq) for w in material)


class GaussianWindow(eqx.Module):
    """The Gaussian material of one trajectory and window: the window key words, the
    trajectory index (uint32 scalars) and the static layout ``(rows, n)``.
    """

    k0: jax.Array
    k1: jax.Array
    i: jax.Array
    rows: int = eqx.field(static=True)
    n: int = eqx.field(static=True)


class GaussianIncrements(AbstractIncrements):
    """Wiener increments ``sqrt(dt) N(0, 1)``, hashed inside the step that reads them."""

    chunk_axis = 0
    pipelined = True

    def window_limits(self, rows, n):
        # the slots (s rows + r) n + site of a window are 32-bit counters
        return max(1, min(MAX_NOISE_BLOCK, (2**32 - 1) // max(rows * n, 1))), 0

    def draw(self, key, i, s0, length, rows, n, dtype, dt):
        k0, k1 = rng.window_key(key, rng.TAG_GAUSSIAN, s0)
        return GaussianWindow(k0, k1, jnp.asarray(i).astype(jnp.uint32), rows, n)

    def at(self, material, s, dtype, dt):
        m = material
        sq = jnp.sqrt(jnp.asarray(dt, dtype))
        base = jnp.asarray(s).astype(jnp.uint32) * jnp.uint32(m.rows * m.n)
        return tuple(
            rng.normals((m.k0, m.k1), m.i, base + r * m.n, m.n, dtype) * sq for r in range(m.rows)
        )
