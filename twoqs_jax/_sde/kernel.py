"""The jitted chunk function: ``(model, angles, key, chunk_index) -> chunk statistics``.

``jax.vmap`` over the trajectories of a chunk inside a ``lax.scan`` over blocks of
``block`` Euler-Maruyama steps (an inner ``lax.scan``). Trajectory ``i`` (global index) draws
every random number from ``fold_in(key, i)``: its initial sample from ``fold_in(key, i)`` itself and
the increments of the noise block (``nb`` consecutive steps, drawn at once; see
:func:`noise_block`) starting at step ``s0`` from ``fold_in(., s0 + 1)``. Results are
therefore the same for any chunk size and any sharding of the trajectory axis
(:mod:`twoqs_jax._sde.sharding`).

The model is an argument of the jitted function (a PyTree, never a closure constant), so a
batch of models is a ``vmap`` away and pathwise gradients w.r.t. its parameters are possible.
Statistics stay in the scan: chunk means and ``M2`` at the saving blocks, or per-trajectory
time averages over a window for steady states; never whole trajectories.
"""

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._phase_space.drift import N_NOISE, em_increment
from .._phase_space.observables import trajectory_observables
from .._phase_space.sampling import sample_initial

NOISES = ("gaussian", "two_point")


@dataclasses.dataclass(frozen=True)
class KernelConfig:
    """Static description of one compiled chunk function (hashable; jit specialises on it).

    Attributes:
        k: representation (0 W, 1 P, -1 Q).
        dt: time step.
        block: Euler-Maruyama steps per block.
        n_blocks: number of blocks (``n_steps = block * n_blocks``).
        save_initial: also record the statistics at ``t = 0``.
        save_blocks: per block, whether to record statistics at its end (``None``: no saving).
        avg_from: for steady states, the first block whose end state enters the
            per-trajectory time average (``None``: time-resolved run).
        names: linear observables to estimate (primitive names and user function names).
        grouped: names whose per-group sums are kept for the jackknife.
        n_groups: jackknife groups.
        chunk_size, n_traj: trajectories per chunk and in all.
        noise: "gaussian" or "two_point" (weak increments ``+-sqrt(dt)``).
        fock_sampling: Wigner sampling of the Fock state ("coherent" or "fock").
        dtype: real dtype name of the trajectories.
        jumps, dephasing: whether any decay/gain, dephasing rate is nonzero (noise needed).
        fused: hand-written Hamiltonian drift (else the autodiff reference).
        conserve_spin: after every step rescale ``(alpha, beta)`` of each site so that
            ``|alpha|^2 + |beta|^2`` keeps its initial value (see ``simulate_twa``).
        functions: ``((name, f), ...)`` user functions of ``(alpha, beta)``.
    """

    k: int
    dt: float
    block: int
    n_blocks: int
    save_initial: bool
    save_blocks: tuple | None
    avg_from: int | None
    names: tuple
    grouped: tuple
    n_groups: int
    chunk_size: int
    n_traj: int
    noise: str
    fock_sampling: str
    dtype: str
    jumps: bool
    dephasing: bool
    fused: bool = True
    conserve_spin: bool = False
    functions: tuple[tuple[str, Callable], ...] = ()


# Increments of a whole block of ``nb`` steps are drawn from one key per trajectory (one
# ``fold_in`` per block instead of per step), as long as a block holds at most this many
# numbers per trajectory (memory: chunk_size x NOISE_NUMBERS x itemsize).
NOISE_NUMBERS = 1024
MAX_NOISE_BLOCK = 64


def noise_rows(cfg: KernelConfig) -> int:
    """Number of real Wiener processes per site actually driven (4 jump + 1 dephasing)."""
    return (4 if cfg.jumps else 0) + (1 if cfg.dephasing else 0)


def noise_block(cfg: KernelConfig, n: int) -> int:
    """Steps per noise block: the largest divisor of ``cfg.block`` (<= MAX_NOISE_BLOCK) whose
    increments of one trajectory fit in ``NOISE_NUMBERS`` numbers (static)."""
    per_step = max(noise_rows(cfg), 1) * n
    best = 1
    for nb in range(1, min(cfg.block, MAX_NOISE_BLOCK) + 1):
        if cfg.block % nb == 0 and nb * per_step <= NOISE_NUMBERS:
            best = nb
    return best


def block_increments(cfg: KernelConfig, key, nb: int, n: int, dtype):
    """``(nb, N_NOISE, n)`` Wiener increments of one trajectory for ``nb`` steps, one key.

    Gaussian: ``sqrt(dt) N(0, 1)``. Two-point weak increments: ``+-sqrt(dt)`` from the bits
    of 32-bit words (32 increments per word).
    """
    rows = noise_rows(cfg)
    if rows == 0:
        return jnp.zeros((nb, N_NOISE, n), dtype)
    sq = jnp.sqrt(jnp.asarray(cfg.dt, dtype))
    if cfg.noise == "gaussian":
        x = jax.random.normal(key, (nb, rows, n), dtype)
    else:
        total = nb * rows * n
        n_words = -(-total // 32)
        bits = jax.random.bits(key, (n_words,), jnp.uint32)
        b = (bits[:, None] >> jnp.arange(32, dtype=jnp.uint32)[None, :]) & 1
        x = (2 * b.reshape(-1)[:total].astype(dtype) - 1).reshape(nb, rows, n)
    x = x * sq
    zeros = jnp.zeros((nb, 1, n), dtype)
    if cfg.jumps and cfg.dephasing:
        return x
    if cfg.jumps:
        return jnp.concatenate([x, zeros], axis=1)
    return jnp.concatenate([jnp.zeros((nb, 4, n), dtype), x], axis=1)


def trajectory_step(cfg: KernelConfig, model, alpha, beta, dW, n_init, sqrt=jnp.sqrt):
    """One Euler-Maruyama step of one trajectory, with the spin-length projection when
    ``cfg.conserve_spin`` (rescale both modes of every site to the initial
    ``|alpha|^2 + |beta|^2 = n_init``). Returns ``(alpha, beta, clipped site count)``.
    Shared by the kernel and the pathwise gradients (which pass a clip-safe ``sqrt``)."""
    a, b, c = em_increment(model, alpha, beta, dW, cfg.dt, cfg.k, cfg.fused, sqrt)
    if cfg.conserve_spin:
        r = jnp.sqrt(n_init / (jnp.abs(a) ** 2 + jnp.abs(b) ** 2))
        a, b = a * r, b * r
    return a, b, jnp.sum(c, dtype=jnp.int32)


def _chunk_moments(cfg: KernelConfig, q: dict, weight, groups):
    """Masked chunk mean, M2 and per-group sums of per-trajectory values ``q``."""
    n_c = jnp.sum(weight)
    mean, m2, gsum = {}, {}, {}
    for name, v in q.items():
        w = weight.reshape((-1,) + (1,) * (v.ndim - 1)).astype(v.dtype)
        # `where`, not `w * v`: a padding trajectory (w = 0) that blew up must not turn the
        # chunk's statistics into NaN (0 * NaN = NaN) while the blow-up counter ignores it.
        v = jnp.where(w > 0, v, jnp.zeros_like(v))
        mu = jnp.sum(v, axis=0) / n_c
        mean[name] = mu
        m2[name] = jnp.sum(jnp.where(w > 0, (v - mu) ** 2, 0), axis=0)
        if name in cfg.grouped:
            gsum[name] = jax.ops.segment_sum(v, groups, num_segments=cfg.n_groups)
    return {"mean": mean, "m2": m2, "gsum": gsum}


def run_chunk(cfg: KernelConfig, model, theta, phi, key, chunk_index):
    """Simulate one chunk of trajectories and return its statistics (device arrays).

    Args:
        cfg: static configuration.
        model: :class:`SpinModel` of one parameter point (PyTree argument).
        theta, phi: ``(n,)`` initial Bloch angles.
        key: PRNG key of the whole run.
        chunk_index: integer (traced) index of this chunk.

    Returns:
        dict with ``saved`` (stacked over saving points: ``mean``, ``m2``, ``gsum``) or
        ``avg`` (the same for the time averages), ``clipped`` (clipped site-steps) and ``bad``
        (trajectories with a non-finite state).
    """
    idx = chunk_index * cfg.chunk_size + jnp.arange(cfg.chunk_size)
    return run_indices(cfg, model, theta, phi, key, idx)


def run_indices(cfg: KernelConfig, model, theta, phi, key, idx):
    """:func:`run_chunk` for an explicit ``(m,)`` array of global trajectory indices
    (indices ``>= cfg.n_traj`` are padding and get weight 0). Trajectory ``i`` draws its
    initial sample from ``fold_in(key, i)`` and the increments of the noise block starting
    at step ``s0`` from ``fold_in(fold_in(key, i), s0 + 1)``."""
    dtype = jnp.dtype(cfg.dtype)
    model = jax.tree.map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, model
    )
    spin = model.spin
    n = spin.shape[0]
    weight = (idx < cfg.n_traj).astype(dtype)
    groups = idx % cfg.n_groups
    tkeys = jax.vmap(lambda i: jax.random.fold_in(key, i))(idx)
    fns = dict(cfg.functions)

    # the initial sample uses the trajectory key itself, noise blocks fold_in(., s0 + 1)
    a, b = jax.vmap(
        lambda kk: sample_initial(kk, spin, theta, phi, cfg.k, cfg.fock_sampling, dtype)
    )(tkeys)
    a_init, b_init = a, b
    n_init = jnp.abs(a) ** 2 + jnp.abs(b) ** 2

    def observe(a, b):
        return jax.vmap(lambda x, y: trajectory_observables(x, y, spin, cfg.k, cfg.names, fns))(
            a, b
        )

    nb = noise_block(cfg, n)

    def step(carry, dW):
        a, b, clip = carry
        a, b, c = jax.vmap(
            lambda x, y, w, n0: trajectory_step(cfg, model, x, y, w, n0)
        )(a, b, dW, n_init)
        return (a, b, clip + c), None

    def noise_block_steps(carry, s0):
        # one key per trajectory and noise block: (chunk, nb, N_NOISE, n) increments
        dW = jax.vmap(
            lambda kk: block_increments(cfg, jax.random.fold_in(kk, s0 + 1), nb, n, dtype)
        )(tkeys)
        carry, _ = lax.scan(step, carry, jnp.moveaxis(dW, 1, 0))
        return carry, None

    def moments_of_state(a, b):
        return _chunk_moments(cfg, observe(a, b), weight, groups)

    template = jax.eval_shape(moments_of_state, a, b)
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template)

    q_template = jax.eval_shape(observe, a, b)
    acc0 = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), q_template)
    save_flags = jnp.asarray(cfg.save_blocks if cfg.save_blocks is not None else (False,))

    def block(carry, ib):
        a, b, clip, bad, acc = carry
        starts = ib * cfg.block + nb * jnp.arange(cfg.block // nb)
        (a, b, clip), _ = lax.scan(noise_block_steps, (a, b, clip), starts)
        finite = jnp.all(jnp.isfinite(a), axis=-1) & jnp.all(jnp.isfinite(b), axis=-1)
        bad = bad | ~finite
        if cfg.avg_from is not None:
            acc = lax.cond(
                ib >= cfg.avg_from,
                lambda acc: jax.tree.map(jnp.add, acc, observe(a, b)),
                lambda acc: acc,
                acc,
            )
        if cfg.save_blocks is not None:
            out = lax.cond(save_flags[ib], moments_of_state, lambda a, b: zeros, a, b)
        else:
            out = None
        return (a, b, clip, bad, acc), out

    clip0 = jnp.zeros(idx.shape[0], jnp.int32)
    bad0 = jnp.zeros(idx.shape[0], bool)
    (a, b, clip, bad, acc), saved = lax.scan(
        block, (a, b, clip0, bad0, acc0), jnp.arange(cfg.n_blocks)
    )
    result = {
        "clipped": jnp.sum(weight * clip.astype(dtype)),
        "bad": jnp.sum(weight * bad.astype(dtype)),
    }
    if cfg.save_blocks is not None:
        # the scan emits one row per block (zeros where nothing is saved): keep saved rows
        keep = np.flatnonzero(np.asarray(cfg.save_blocks))
        saved = jax.tree.map(lambda s: s[keep], saved)
        if cfg.save_initial:
            first = moments_of_state(a_init, b_init)
            saved = jax.tree.map(lambda f, s: jnp.concatenate([f[None], s], axis=0), first, saved)
        result["saved"] = saved
    if cfg.avg_from is not None:
        n_avg = cfg.n_blocks - cfg.avg_from
        q = jax.tree.map(lambda v: v / n_avg, acc)
        result["avg"] = _chunk_moments(cfg, q, weight, groups)
    return result


@functools.lru_cache(maxsize=64)
def compiled_chunk(cfg: KernelConfig, batched: bool, state_batched: bool = False):
    """The jitted chunk function for ``cfg``; ``batched`` vmaps it over a batch of models
    (and ``state_batched`` also over a batch of initial angles)."""
    fn = functools.partial(run_chunk, cfg)
    if batched:
        ax = 0 if state_batched else None
        fn = jax.vmap(fn, in_axes=(0, ax, ax, None, None))
    return jax.jit(fn)


def saving_mask(save_steps: np.ndarray, block: int, n_blocks: int) -> tuple:
    """Per-block flags: True where a block ends on one of ``save_steps`` (> 0)."""
    ends = (np.arange(n_blocks) + 1) * block
    return tuple(bool(x) for x in np.isin(ends, save_steps))
