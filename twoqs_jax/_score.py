r"""The likelihood-ratio score of a TWOQS step, from the scheme's own noise description.

One Euler-Maruyama-type step of one trajectory is ``z' = y + A(y; p) dt + B(y; p) dW``
(``y`` the projected state, ``dW`` the step's increment rows). Nothing here knows the noise
model: both pieces are read off the scheme's step (:meth:`AbstractScheme.step`):

- ``B(y)``: the step is linear in its increments, so column ``r`` is the derivative of the
  step along increment row ``r`` (``jax.jvp``; rows act on their own site, so one ``jvp``
  per row gives the column of every site);
- ``dA/dp dt``: the derivative of the step with the increments set to zero along the
  model's tangent (``jax.jvp`` of ``lower o make_model``).

Tilting the increments' law so that ``E[dW] = eps delta dt`` changes the drift by
``eps B delta``; with ``B delta = dA/dp`` this is the chain at ``p + eps`` to the scheme's
weak order, and its likelihood ratio has the score ``s = delta . dW`` (two-point increments:
``prod_r (1 + eps delta_r dW_r)``; Gaussian ones: Girsanov; the same score). Only the
physical tangent directions need matching: the common phase ``i z`` leaves every observable
unchanged and, with the spin-length projection, the radial direction ``z`` is removed by the
next projection (a weak change of order ``dt^2`` per step). Per site, with
``w1 = (-Re b, Im b, Re a, -Im a) / r`` and ``w2 = i w1`` (``Q = [w1, w2]``), the
minimum-norm solution is

    delta = M^T (M M^T)^{-1} Q^T dA/dp,    M = Q^T B   (2 x rows).

Where ``M M^T`` is singular (no noise acts on a direction the drift's tangent needs) the
step's score is set to zero and counted (``lr_unmatched_fraction``): the estimate is then
biased and says so.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._phase_space.drift import split
from ._phase_space.lowering import lower
from ._sde.kernel import (
    block_noise,
    initial_sample,
    noise_layout,
    observed,
    project,
    scan_blocks,
    step_increments,
    trajectory_step,
    trajectory_values,
)

SINGULAR = 1e-10
"""``det(M M^T) <= SINGULAR * tr(M M^T)^2`` counts as singular."""


def _safe_sqrt(x):
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1)), 0)


def step_score(cfg, model, dmodels, y, inc, sqrt=_safe_sqrt):
    """Score ``s_q = delta_q . dW`` of one step for every parameter direction.

    Args:
        cfg: the kernel configuration (scheme, representation, ...).
        model: the lowered model at ``p``.
        dmodels: tuple of its tangents ``d(lower o make_model)/dp_q``.
        y: the projected state ``(Re a, Im a, Re b, Im b)``, each ``(n,)``.
        inc: the step's increment rows (tuple, ``None`` for rows not driven).

    Returns:
        ``(scores (P,), unmatched (n,) bool)``: ``unmatched`` marks sites where the drift
        tangent needs a direction no noise drives (score set to 0 there).
    """
    zeros = tuple(None if r is None else jnp.zeros_like(r) for r in inc)

    def step(m, w):
        z = cfg.scheme.step(m, y, w, cfg.k, cfg.fused, sqrt, cfg.tangential)[0]
        return jnp.stack(z, axis=-1)  # (n, 4)

    drift_tangents = [jax.jvp(lambda m: step(m, zeros), (model,), (dm,))[1] for dm in dmodels]
    cols = []
    for r, row in enumerate(inc):
        if row is None:
            continue
        t = tuple(
            None if x is None else (jnp.ones_like(x) if j == r else jnp.zeros_like(x))
            for j, x in enumerate(inc)
        )
        cols.append((r, jax.jvp(lambda w: step(model, w), (zeros,), (t,))[1]))
    ar, ai, br, bi = y
    rad = jnp.sqrt(ar**2 + ai**2 + br**2 + bi**2)
    w1 = jnp.stack([-br, bi, ar, -ai], axis=-1) / rad[:, None]
    w2 = jnp.stack([-bi, -br, ai, ar], axis=-1) / rad[:, None]
    n = ar.shape[0]
    if not cols:
        zero = jnp.zeros((), ar.dtype)
        unmatched = jnp.zeros(n, bool)
        for dA in drift_tangents:
            unmatched = unmatched | (jnp.sum(dA**2, axis=-1) > 0)
        return jnp.stack([zero for _ in dmodels]), unmatched
    m1 = jnp.stack([jnp.sum(w1 * c, axis=-1) for _, c in cols])  # (R, n)
    m2 = jnp.stack([jnp.sum(w2 * c, axis=-1) for _, c in cols])
    a, b, c = jnp.sum(m1 * m1, 0), jnp.sum(m1 * m2, 0), jnp.sum(m2 * m2, 0)
    det = a * c - b * b
    ok = det > SINGULAR * (a + c) ** 2
    safe = jnp.where(ok, det, 1.0)
    dw = jnp.stack([inc[r] for r, _ in cols])  # (R, n)
    scores, unmatched = [], jnp.zeros(n, bool)
    for dA in drift_tangents:
        h1 = jnp.sum(w1 * dA, axis=-1) / cfg.dt
        h2 = jnp.sum(w2 * dA, axis=-1) / cfg.dt
        u1 = (c * h1 - b * h2) / safe
        u2 = (a * h2 - b * h1) / safe
        delta = m1 * u1 + m2 * u2  # (R, n)
        need = (h1 != 0) | (h2 != 0)
        unmatched = unmatched | (need & ~ok)
        scores.append(jnp.sum(jnp.where(ok, delta * dw, 0)))
    return jnp.stack(scores), unmatched


def lr_trajectory(cfg, make_model, unflatten, vec, theta, phi, key, i, record):
    """One trajectory at ``p``: the observables and the cumulative scores at the recorded
    block ends (``record``: static tuple of block indices; the initial state is recorded
    first, with score 0), and the count of unmatched site-steps.
    """
    dtype = jnp.dtype(cfg.dtype)

    def lowered(v):
        return jax.tree.map(
            lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x,
            lower(make_model(unflatten(v))),
        )

    basis = jnp.eye(vec.shape[0], dtype=vec.dtype)
    model = lowered(vec)
    dmodels = tuple(jax.jvp(lowered, (vec,), (basis[q],))[1] for q in range(vec.shape[0]))
    spin = model.spin
    n = spin.shape[0]
    sampling = "fock" if cfg.fock else "coherent"
    a, b = initial_sample(key, i, spin, theta, phi, cfg.k, sampling, dtype)
    r0 = jnp.sqrt(jnp.abs(a) ** 2 + jnp.abs(b) ** 2)
    length = noise_layout(cfg, n)[0]
    n_par = vec.shape[0]

    def observe(z):
        x, y = observed(cfg, z, r0)
        return trajectory_values(cfg, x, y, spin)

    def noise_at(s0):
        return block_noise(cfg, key, i, s0, length, n, dtype)

    def advance(carry, noise, offsets):
        def step(carry, s):
            z, W, bad = carry
            inc = step_increments(cfg, noise, s, dtype)
            score, unmatched = step_score(cfg, model, dmodels, project(cfg, z, r0), inc)
            z, _ = trajectory_step(cfg, model, z, inc, r0, _safe_sqrt)
            return (z, W + score, bad + jnp.sum(unmatched, dtype=jnp.int32)), None

        return lax.scan(step, carry, offsets)[0]

    def end_of_block(carry, ib):
        z, W, _ = carry
        return carry, (observe(z), W)

    z0 = split(a, b)
    init = (z0, jnp.zeros(n_par, dtype), jnp.zeros((), jnp.int32))
    (_, _, bad), (vals, Ws) = scan_blocks(cfg, n, init, noise_at, advance, end_of_block)
    keep = np.asarray(record, dtype=int)
    first = observe(z0)
    vals = jax.tree.map(lambda f, v: jnp.concatenate([f[None], v[keep]], 0), first, vals)
    Ws = jnp.concatenate([jnp.zeros((1, n_par), dtype), Ws[keep]], 0)
    return vals, Ws, bad


@functools.lru_cache(maxsize=16)
def compiled_lr(cfg, make_model, treedef, shapes, record):
    """``jit(vmap(lr_trajectory))`` over a chunk's trajectory indices (cached)."""
    sizes = [int(np.prod(s)) for s in shapes]

    def unflatten(v):
        parts = jnp.split(v, np.cumsum(sizes)[:-1]) if len(sizes) > 1 else [v]
        return treedef.unflatten([q.reshape(s) for q, s in zip(parts, shapes, strict=True)])

    def one(v, theta, phi, key, i):
        return lr_trajectory(cfg, make_model, unflatten, v, theta, phi, key, i, record)

    return jax.jit(jax.vmap(one, in_axes=(None, None, None, None, 0)))


def noise_parameters(make_model, params) -> bool:
    """Whether ``params`` move any jump rate of the lowered model (the noise amplitudes)."""
    from jax.flatten_util import ravel_pytree

    vec, unravel = ravel_pytree(jax.tree.map(lambda x: jnp.asarray(x, float), params))

    def rates(v):
        m = lower(make_model(unravel(v)))
        leaves = [m.decay, m.gain, m.dephasing] + jax.tree.leaves(m.terms)
        return [x for x in leaves if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)]

    jac = jax.jit(jax.jacfwd(rates))(vec)
    return any(bool(np.any(np.asarray(j) != 0)) for j in jac)
