"""Random material of the noise windows: two-point and Gaussian increments.

The kernel draws the random numbers of a noise window of ``L`` consecutive steps at once,
from one key per trajectory and window (see :func:`twoqs_jax._sde.kernel.noise_layout`).

- :class:`TwoPointIncrements`: weak increments ``+-sqrt(dt)`` with probability 1/2 each (the
  first three moments of Wiener increments, which is what the weak order 1 of Euler-Maruyama
  needs: the simplified weak Euler scheme of Kloeden and Platen). The material of a window of
  up to 32 steps is ``(rows, n)`` 32-bit words; step ``s`` uses bit ``s`` of every word,
  extracted inside the fused step (no increments are ever stored).
- :class:`GaussianIncrements`: ``sqrt(dt) N(0, 1)``, ``(L, rows, n)`` numbers per window (at
  most ``NOISE_NUMBERS`` per trajectory and ``MAX_NOISE_BLOCK`` steps).
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp

NOISE_NUMBERS = 1024
MAX_NOISE_BLOCK = 64
BITS_PER_WORD = 32


class AbstractIncrements(eqx.Module):
    """How a scheme draws and reads its random material (abstract)."""

    # axis of the per-trajectory material once vmapped over a chunk's trajectories
    chunk_axis: eqx.AbstractClassVar[int]

    @abc.abstractmethod
    def window_limits(self, rows: int, n: int) -> tuple[int, int]:
        """``(max steps per window, numbers per step)``."""

    @abc.abstractmethod
    def draw(self, key, length: int, rows: int, n: int, dtype, dt: float):
        """The material of one trajectory for a window of ``length`` steps."""

    @abc.abstractmethod
    def at(self, material, s, dtype, dt: float):
        """``(rows, n)`` increments of step ``s`` (position in the window)."""


class TwoPointIncrements(AbstractIncrements):
    """Weak two-point increments ``+-sqrt(dt)`` (one random bit each)."""

    chunk_axis = 0

    def window_limits(self, rows, n):
        return BITS_PER_WORD, 0

    def draw(self, key, length, rows, n, dtype, dt):
        return jax.random.bits(key, (rows, n), jnp.uint32)

    def at(self, material, s, dtype, dt):
        sq = jnp.sqrt(jnp.asarray(dt, dtype))
        bit = (material >> s.astype(jnp.uint32)) & jnp.uint32(1)
        return jnp.where(bit == 1, sq, -sq)


class GaussianIncrements(AbstractIncrements):
    """Wiener increments ``sqrt(dt) N(0, 1)``."""

    chunk_axis = 1

    def window_limits(self, rows, n):
        return MAX_NOISE_BLOCK, max(rows, 1) * n

    def draw(self, key, length, rows, n, dtype, dt):
        return jax.random.normal(key, (length, rows, n), dtype) * jnp.sqrt(jnp.asarray(dt, dtype))

    def at(self, material, s, dtype, dt):
        return material[s]
