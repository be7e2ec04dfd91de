"""Random material of the noise windows: two-point and Gaussian increments.

The kernel draws the random numbers of a noise window of ``L`` consecutive steps at once,
from one key per trajectory and window (see :func:`twoqs_jax._sde.kernel.noise_layout`).

- :class:`TwoPointIncrements`: weak increments ``+-sqrt(dt)`` with probability 1/2 each (the
  first three moments of Wiener increments, which is what the weak order 1 of Euler-Maruyama
  needs: the simplified weak Euler scheme of Kloeden and Platen). The material of a window of
  up to 32 steps is ``rows`` arrays of ``(n,)`` 32-bit words; step ``s`` uses bit ``s`` of
  every word, extracted inside the fused step (no increments are ever stored).
- :class:`GaussianIncrements`: ``sqrt(dt) N(0, 1)``, ``rows`` arrays of ``(L, n)`` numbers per
  window (at most ``NOISE_NUMBERS`` per trajectory and ``MAX_NOISE_BLOCK`` steps).

The material is a tuple with one array per noise row (the numbers are those of one
``(rows, n)`` or ``(L, rows, n)`` draw, cut into rows): once vmapped over a chunk, every row
is a contiguous ``(chunk, n)`` array. An update that reads several rows (the tangential
decay noise reads four) is then vectorised by XLA:CPU; with the rows interleaved in one
``(chunk, rows, n)`` array it was not (10x slower, measured in the kernel performance study).
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
        """The ``rows`` ``(n,)`` increments of step ``s`` (position in the window), a tuple."""


class TwoPointIncrements(AbstractIncrements):
    """Weak two-point increments ``+-sqrt(dt)`` (one random bit each)."""

    chunk_axis = 0

    def window_limits(self, rows, n):
        return BITS_PER_WORD, 0

    def draw(self, key, length, rows, n, dtype, dt):
        words = jax.random.bits(key, (rows, n), jnp.uint32)
        return tuple(words[r] for r in range(rows))

    def at(self, material, s, dtype, dt):
        sq = jnp.sqrt(jnp.asarray(dt, dtype))
        shift = s.astype(jnp.uint32)
        return tuple(jnp.where((w >> shift) & jnp.uint32(1) == 1, sq, -sq) for w in material)


class GaussianIncrements(AbstractIncrements):
    """Wiener increments ``sqrt(dt) N(0, 1)``."""

    chunk_axis = 1

    def window_limits(self, rows, n):
        return MAX_NOISE_BLOCK, max(rows, 1) * n

    def draw(self, key, length, rows, n, dtype, dt):
        x = jax.random.normal(key, (length, rows, n), dtype) * jnp.sqrt(jnp.asarray(dt, dtype))
        return tuple(x[:, r] for r in range(rows))

    def at(self, material, s, dtype, dt):
        return tuple(m[s] for m in material)
