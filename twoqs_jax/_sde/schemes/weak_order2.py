r"""The simplified weak order-2.0 Taylor scheme (Ito; Kloeden & Platen 1992, Eq. 14.2.1).

For the Ito SDE ``dz = a(z) dt + sum_j b^j(z) dW^j`` (``z`` the real components of every
``alpha``, ``beta``; ``m`` real noises) one step is::

    z+ = z + a dt + sum_j b^j dW^j
         + 1/2 sum_{j1, j2} (L^{j1} b^{j2}) (dW^{j1} dW^{j2} + V_{j1 j2})
         + 1/2 sum_j (L^0 b^j + L^j a) dW^j dt + 1/2 (L^0 a) dt^2,

    L^j f = (Df)[b^j],   L^0 f = (Df)[a] + 1/2 sum_k (D^2 f)[b^k, b^k],
    V_jj = -dt,   V_{j1 j2} = -V_{j2 j1} = +-dt (a fair coin) for j1 < j2,

with ``dW^j`` Gaussian ``N(0, dt)`` or three-point (``+-sqrt(3 dt)`` with probability 1/6
each, 0 with 2/3): both have the first five moments that weak order 2 needs. The drift
``a`` and the noise columns ``b^j`` are read off the Euler-Maruyama increment of the same
lowered model (:func:`twoqs_jax._phase_space.drift.em_increment_real`, which is affine in
``dt`` and linear in ``dW``), so the scheme runs every model the Euler step runs; every
directional derivative is a ``jax.jvp`` (nested for the second derivatives).

Cost, by the structure of the noise: every noise of the package is *local* (the column of
row ``r`` at site ``i`` moves only site ``i`` and depends only on site ``i``), so
``L^{j1} b^{j2} = 0`` for columns of different sites and the sums over the ``m = R n``
columns collapse to sums over the ``R`` noise rows:

- ``sum L^{j1} b^{j2} dW dW = D(B dW)[B dW]`` (one jvp);
- ``sum_{j1} L^{j1} b^{j2} V_{j1 j2}`` over the rows ``r`` of a site: ``D(B e_r)[B V_{., r}]``
  with per-site coins (``R`` jvps; this is the ``-dt sum_j L^j b^j`` Ito term and the Levy
  area terms of the non-commutative tangential noise, whose columns do not commute:
  ``[B_1, B_2] = 2i (kappa/4) [M^+, M]``);
- the second-derivative sums ``1/4 dt^2 sum_k D^2 a[b^k, b^k] + 1/4 dt sum_k D^2(B dW)[b^k,
  b^k]`` are one nested jvp ``dt/4 D^2(a dt + B dW)[B eta, B eta]`` along a Rademacher probe
  ``eta`` (one independent sign per row and site, ``E[eta eta^T] = I``): an unbiased
  estimate whose fluctuation enters the step's moments at ``O(dt^3)`` only (weak order 2
  kept), where the exact sum over the columns would need ``n`` jvps through the couplings.

About ``R + 8`` evaluations of the Euler increment per step (``R`` = driven noise rows:
2 for decay, 4 for decay and gain, 1 for dephasing). With the spin-length constraint, the
projection follows the step as for Euler (:func:`twoqs_jax._sde.kernel.trajectory_step`).

Only the Wigner representation with the tangential noise (the default) is supported: paper
003's decay noise ``sqrt(max(|alpha|^2 - 1/2, 0))`` is not differentiable where it clips,
and the P and Q noise was not derived for this scheme (:class:`twoqs_jax.TWOQS` refuses
them with this scheme).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from ..._phase_space.drift import N_NOISE, em_increment_real
from .. import rng
from .base import AbstractItoScheme, check_dt_noise
from .increments import MAX_NOISE_BLOCK, AbstractIncrements

NOISES = ("gaussian", "three_point")
DEFAULT_NOISE = "gaussian"
# stream tag of the counter-based numbers (twoqs_jax._sde.rng uses 1-3)
TAG_WEAK_ORDER2 = 4
BITS_PER_WORD = 32


def n_words(rows: int) -> int:
    """32-bit words per step and site: one bit per pair of rows (the coins of ``V``) and
    one per row (the probe ``eta``).
    """
    return -(-(rows * (rows + 1) // 2) // BITS_PER_WORD) if rows else 0


class WeakOrder2Increments(AbstractIncrements):
    """Per step: ``rows`` increments (Gaussian or three-point) and :func:`n_words` words of
    random bits, each an ``(L, n)`` array per window (the bits follow the increments in the
    material tuple, and :meth:`at` returns them after the increment rows).
    """

    noise: str = eqx.field(static=True, default=DEFAULT_NOISE)
    chunk_axis = 1

    def window_limits(self, rows, n):
        return MAX_NOISE_BLOCK, max(rows + n_words(rows), 1) * n

    def draw(self, key, i, s0, length, rows, n, dtype, dt):
        # counter-based (twoqs_jax._sde.rng): slot (s R + r) n + site of the window's
        # stream, R = rows + n_words(rows); increments first, then the words of bits
        ks = rng.window_key(key, TAG_WEAK_ORDER2, s0)
        n_w = n_words(rows)
        per_step = (rows + n_w) * n
        sq = jnp.sqrt(jnp.asarray(dt, dtype))
        steps = jnp.arange(length, dtype=jnp.uint32) * jnp.uint32(per_step)

        def numbers(r):
            first = steps + jnp.uint32(r * n)
            if self.noise == "gaussian":
                return jax.vmap(lambda f: rng.normals(ks, i, f, n, dtype))(first) * sq
            # three-point: +-sqrt(3 dt) w.p. 1/6 each, 0 w.p. 2/3 (24-bit uniform)
            w = jax.vmap(lambda f: rng.words(ks, i, f, n))(first)
            u = (w >> jnp.uint32(8)).astype(jnp.int32).astype(dtype) * jnp.asarray(2.0**-24, dtype)
            s3 = jnp.asarray(math.sqrt(3.0), dtype) * sq
            return jnp.where(u < 1 / 6, s3, jnp.where(u >= 5 / 6, -s3, jnp.zeros((), dtype)))

        def bits(w):
            first = steps + jnp.uint32((rows + w) * n)
            return jax.vmap(lambda f: rng.words(ks, i, f, n))(first)

        return tuple(numbers(r) for r in range(rows)) + tuple(bits(w) for w in range(n_w))

    def at(self, material, s, dtype, dt):
        return tuple(m[s] for m in material)


def _add(*ts):
    return tuple(sum(c) for c in zip(*ts, strict=True))


def _scale(c, t):
    return tuple(c * x for x in t)


class WeakOrder2(AbstractItoScheme):
    r"""Simplified weak order-2.0 Taylor scheme (Kloeden & Platen 1992, Eq. 14.2.1), Ito.

    One step (``a`` the Ito drift, ``b^j`` the noise columns, ``dW^j`` the increments)::

        z+ = z + a dt + sum_j b^j dW^j
             + 1/2 sum_{j1 j2} L^{j1} b^{j2} (dW^{j1} dW^{j2} + V_{j1 j2})
             + 1/2 sum_j (L^0 b^j + L^j a) dW^j dt + 1/2 L^0 a dt^2,

    with ``L^j = b^j . grad``, ``L^0 = a . grad + 1/2 sum_k b^k b^k : grad grad``,
    ``V_jj = -dt`` and ``V_{j1 j2} = -V_{j2 j1} = +-dt`` (fair coin). Drift and noise
    columns come from the same lowered model as Euler-Maruyama's, all derivatives are
    ``jax.jvp`` (module :mod:`twoqs_jax._sde.schemes.weak_order2` for the cost and the
    structure used). The weak error of expectations is ``O(dt^2)`` instead of Euler's
    ``O(dt)``: for the driven spin above threshold the step bias of ``<S_z>/S`` is
    ``+0.14 dt`` with Euler and below ``5e-4`` at ``dt = 0.16`` with this scheme
    (docs/methods/fidelity.md#scheme). A step costs about ``R + 8`` Euler increments
    (``R``: real noises per site), so it pays when the accuracy goal is tight.

    Only for the Wigner representation with the tangential noise (the default of
    :class:`twoqs_jax.TWOQS`).

    Attributes:
        dt: the step (> 0), with the same grid rules as :class:`EulerMaruyama`.
        noise: ``"gaussian"`` (default): ``sqrt(dt) N(0, 1)``; ``"three_point"``:
            ``+-sqrt(3 dt)`` with probability 1/6 each and 0 with 2/3 (the same first five
            moments; weak order 2 needs no more).

    Examples:
        >>> import twoqs_jax as tq
        >>> method = tq.TWOQS(tq.WeakOrder2(dt=0.05))
    """

    dt: float = eqx.field(static=True)
    noise: str = eqx.field(static=True, default=DEFAULT_NOISE)

    requires_tangential = True

    def __init__(self, dt: float, noise: str = DEFAULT_NOISE) -> None:
        """``dt``: the step (> 0); ``noise``: ``"gaussian"`` or ``"three_point"``."""
        self.dt, self.noise = check_dt_noise(dt, noise, NOISES)

    @property
    def increments(self):
        """Increments and the random bits of the coins ``V`` and the probe ``eta``."""
        return WeakOrder2Increments(self.noise)

    def step(self, model, z, dW, k, fused, sqrt, tangential=False):
        """One weak order-2 step of one trajectory (real components, as Euler's)."""
        if not tangential:
            raise ValueError(
                "tq.WeakOrder2 needs the tangential Wigner noise (diffusion='tangential', "
                "representation='W')."
            )
        dt = self.dt
        n_inc = N_NOISE + sum(int(t.noise_rows) for t in getattr(model, "terms", ()))
        dw, words = tuple(dW[:n_inc]), tuple(dW[n_inc:])
        live = [r for r, x in enumerate(dw) if x is not None]
        none = (None,) * len(dw)

        def phi(y, w, h):  # the Euler increment a(y) h + B(y) w
            out, _ = em_increment_real(model, y, w, h, k, fused, sqrt, tangential)
            return tuple(o - x for o, x in zip(out, y, strict=True))

        def drift(y):
            return phi(y, none, 1.0)

        def jvp(f, u):
            return jax.jvp(f, (z,), (u,))[1]

        a = drift(z)
        if not live:  # deterministic: the second-order Taylor step
            return _add(z, _scale(dt, a), _scale(0.5 * dt * dt, jvp(drift, a))), jnp.zeros(
                z[0].shape, bool
            )
        dtype = z[0].dtype

        zeros = jnp.zeros(z[0].shape, dtype)

        def rows(values):  # a noise argument: ``values[r]`` in row r, 0 in other live rows
            return tuple(values.get(r, zeros) if x is not None else None for r, x in enumerate(dw))

        def noise(y, w):
            return phi(y, w, 0.0)

        bit = iter(range(BITS_PER_WORD * len(words)))

        def sign():
            c = next(bit)
            b = (words[c // BITS_PER_WORD] >> jnp.uint32(c % BITS_PER_WORD)) & jnp.uint32(1)
            return 2.0 * b.astype(dtype) - 1.0

        ones = jnp.ones(z[0].shape, dtype)
        # V: per site, V_rr = -dt, V_qr = -V_rq = +-dt for q < r (the coin of the pair)
        coin = {(q, r): sign() * dt for i, r in enumerate(live) for q in live[:i]}
        eta = {r: sign() for r in live}

        increment = phi(z, dw, dt)  # a dt + B dW
        bdw = _add(increment, _scale(-dt, a))
        total = [z, increment]
        # 1/2 sum L^{j1} b^{j2} (dW dW + V): D(B dW)[B dW] + sum_r D(B e_r)[B V_{., r}]
        second = jvp(lambda y: noise(y, dw), bdw)

        def v(q, r):  # the per-site V_{q r}
            if q == r:
                return -dt * ones
            return coin[(q, r)] if q < r else -coin[(r, q)]

        for r in live:
            tangent = noise(z, rows({q: v(q, r) for q in live}))
            second = _add(second, jvp(lambda y, r=r: noise(y, rows({r: ones})), tangent))
        total.append(_scale(0.5, second))
        # 1/2 (L^0 b^j + L^j a) dW^j dt + 1/2 L^0 a dt^2, first derivatives:
        # dt/2 (D(a dt + B dW)[a] + Da[B dW])
        first = _add(jvp(lambda y: phi(y, dw, dt), a), jvp(drift, bdw))
        total.append(_scale(0.5 * dt, first))
        # second derivatives: dt/4 D^2(a dt + B dW)[B eta, B eta] (unbiased probe)
        u = noise(z, rows(eta))
        curv = jax.jvp(lambda y: jax.jvp(lambda x: phi(x, dw, dt), (y,), (u,))[1], (z,), (u,))[1]
        total.append(_scale(0.25 * dt, curv))
        return _add(*total), jnp.zeros(z[0].shape, bool)
