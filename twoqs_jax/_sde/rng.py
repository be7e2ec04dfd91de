"""Counter-based random numbers of the kernel, in plain uint32 ``jnp`` operations.

Every number of the kernel (increments and initial sample; ``jax.random`` only for the
Gamma variate of Q initial samples) is a pure function of ``(run key, stream, window,
trajectory, slot)``:
Threefry-2x32 with 20 rounds (Salmon et al., SC'11; the generator behind JAX's default
keys; :func:`threefry2x32` reproduces Random123's known-answer vectors). A stream's window
key is ``threefry2x32(run key, (tag, s0))`` (:func:`window_key`, a scalar), and trajectory
``i``'s numbers are ``threefry2x32(window key, (i, slot))``. Results therefore do not depend
on the chunk size, the sharding or a checkpoint restart. Streams (tags): two-point words
``TAG_TWO_POINT``, Gaussian increments ``TAG_GAUSSIAN``, the initial sample ``TAG_INITIAL``
(one window, ``s0 = 0``; slots ``r n + site`` for its draw ``r`` of :func:`polar`:
:func:`twoqs_jax._sde.kernel.initial_sample`). JAX's ``fold_in(key, d)`` hashes
the counter ``(0, d)``, so with a tag ``> 0`` the streams never meet the trajectory keys
``fold_in(key, i)``.

Why not ``jax.random`` inside the step loop (measured on XLA:CPU, jax 0.10, one core; see
``docs/performance.md``): JAX's CPU lowering of threefry is a rolled loop over whole arrays
whose two output words are xored into one (~26 ns per 32-bit word at scale),
``jax.random.normal`` adds ``erf_inv``, and every call site costs about a second of
compilation. Written as elementwise ``jnp`` operations the hash fuses into the update that
consumes it, with no loop and no buffer (~4 ns per normal). ``jnp.cos`` is a scalar libm
call on XLA:CPU (~13 ns), hence the polynomial :func:`cos_2pi`.

Conventions:

- :func:`words`: one 32-bit word (``w0 ^ w1`` of one hash) per row and site.
- :func:`normals`: Box-Muller's cosine half from the two words of one hash,
  ``x = sqrt(-2 ln u1) cos(2 pi u2)`` with ``u1 = (w0 >> 8 + 1) 2^-24`` in (0, 1] and
  ``u2 = (w1 >> 8) 2^-24`` in [0, 1): standard normal up to the 24-bit resolution of the
  uniforms, ``|x| <= sqrt(48 ln 2) = 5.77`` (tail mass beyond: 8e-9, irrelevant for weak
  schemes, whose errors are moments).
- :func:`polar`: both Box-Muller halves in polar form from one hash, ``(e, cos 2 pi u2,
  sin 2 pi u2)`` with ``e = -ln u1 ~ Exp(1)`` (same ``u1, u2``): ``sqrt(e) e^{2 pi i u2}``
  is a standard complex normal (``E|z|^2 = 1``), ``e`` its squared modulus and the
  phase uniform and independent of it (the initial sample's draw).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

U32 = jnp.uint32
STREAMS = "threefry2x32-20 counters v2"
"""Name of the random streams (checkpoints record it: another version's streams differ;
v2: the initial sample is counter-based too, stream ``TAG_INITIAL``)."""
TAG_TWO_POINT = 1
TAG_GAUSSIAN = 2
TAG_INITIAL = 3
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA


def threefry2x32(k0, k1, x0, x1, rounds: int = 20):
    """Threefry-2x32 of the counter ``(x0, x1)`` under the key ``(k0, k1)``.

    Args:
        k0, k1, x0, x1: uint32 arrays (broadcast against each other).
        rounds: 20 (the standard, Crush-resistant with margin).

    Returns:
        ``(y0, y1)``, both output words.

    Examples:
        >>> import jax.numpy as jnp
        >>> u = jnp.uint32
        >>> [hex(int(w)) for w in threefry2x32(u(0), u(0), u(0), u(0))]
        ['0x6b200159', '0x99ba4efe']
    """
    k0, k1, x0, x1 = (jnp.asarray(v).astype(U32) for v in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ U32(_PARITY))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for r in range(rounds):
        rot = _ROTATIONS[(r // 4) % 2][r % 4]
        x0 = x0 + x1
        x1 = (x1 << U32(rot)) | (x1 >> U32(32 - rot))
        x1 = x1 ^ x0
        if r % 4 == 3:
            j = r // 4 + 1
            x0 = x0 + ks[j % 3]
            x1 = x1 + ks[(j + 1) % 3] + U32(j)
    return x0, x1


def window_key(key, tag: int, s0):
    """Scalar key words ``threefry2x32(key, (tag, s0))`` of stream ``tag`` at window (or
    step) ``s0``; ``key`` is a typed JAX key (its first two data words are used).
    """
    kd = jax.random.key_data(key).ravel()
    return threefry2x32(kd[0], kd[1], U32(tag), jnp.asarray(s0).astype(U32))


def _slots(first, n: int):
    return jnp.asarray(first).astype(U32) + jnp.arange(n, dtype=U32)


def _counters(i, first, n: int):
    """``(i, slots)`` broadcast to ``(n,)`` for a scalar ``i``, or to the site-major
    ``(n, T)`` for a ``(T,)`` array of trajectories (sites on the major axis).
    """
    i, slots = jnp.asarray(i), _slots(first, n)
    if i.ndim:
        return i[None, :], slots[:, None]
    return i, slots


def words(ks, i, first, n: int):
    """``(n,)`` uint32 words of trajectory ``i``, counters ``(i, first + site)``, under the
    key words ``ks``; for a ``(T,)`` array ``i`` of trajectories, the site-major ``(n, T)``
    words of all of them (the same numbers).
    """
    w0, w1 = threefry2x32(ks[0], ks[1], *_counters(i, first, n))
    return w0 ^ w1


def cos_2pi(u):
    """``cos(2 pi u)`` for real ``u`` from multiplies and adds only (|error| < 2e-7).

    With ``t = u - round(u)``, ``cos(2 pi t) = sin(2 pi (1/4 - |t|))``, and ``sin x`` is its
    Taylor polynomial of degree 11 on ``[-pi/2, pi/2]``.
    """
    a = jnp.abs(u - jnp.round(u))
    x = (0.25 - a) * (2 * np.pi)
    x2 = x * x
    p = -2.5052108385441720e-08
    p = p * x2 + 2.7557319223985893e-06
    p = p * x2 - 1.9841269841269841e-04
    p = p * x2 + 8.3333333333333333e-03
    p = p * x2 - 1.6666666666666666e-01
    return x + x * x2 * p


def _unit(w, dtype, open_low: bool):
    v = lax.convert_element_type((w >> U32(8)).astype(jnp.int32), dtype)
    return (v + 1 if open_low else v) * jnp.asarray(2.0**-24, dtype)


def normals(ks, i, first, n: int, dtype):
    """``(n,)`` standard normals of trajectory ``i``, counters ``(i, first + site)``, under
    the key words ``ks`` (module docstring: Box-Muller from the two words of one hash); for
    a ``(T,)`` array ``i``, the site-major ``(n, T)`` normals of all of them.
    """
    w0, w1 = threefry2x32(ks[0], ks[1], *_counters(i, first, n))
    u1, u2 = _unit(w0, dtype, True), _unit(w1, dtype, False)
    return jnp.sqrt(jnp.asarray(-2.0, dtype) * jnp.log(u1)) * cos_2pi(u2).astype(dtype)


def polar(ks, i, first, n: int, dtype):
    """``(e, c, s)``, ``(n,)`` each, of trajectory ``i``, counters ``(i, first + site)``,
    under the key words ``ks`` (module docstring): ``e = -ln u1`` exponential of mean 1 and
    ``(c, s) = (cos, sin)(2 pi u2)`` a uniform phase, independent; ``sqrt(2 e) (c, s)`` are
    the two standard normals of Box-Muller. For a ``(T,)`` array ``i``, site-major ``(n, T)``.
    """
    w0, w1 = threefry2x32(ks[0], ks[1], *_counters(i, first, n))
    u1, u2 = _unit(w0, dtype, True), _unit(w1, dtype, False)
    e = -jnp.log(u1)
    return e, cos_2pi(u2).astype(dtype), cos_2pi(u2 - 0.25).astype(dtype)
