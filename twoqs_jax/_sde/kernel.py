"""The jitted chunk function: ``(model, angles, key, first_index, n_traj) -> chunk statistics``.

A ``lax.scan`` over blocks of ``block`` Euler-Maruyama steps (an inner ``lax.scan``) that
steps all trajectories of a chunk at once, site-major (state ``(n, chunk)``, trajectories
contiguous: :func:`site_major_step`), or, for schemes that step one trajectory at a time,
``jax.vmap`` of :func:`trajectory_step` (``KernelConfig.site_major``). Every random number
of trajectory ``i`` (global index) is a function of ``(key, i)`` and its position only, and
counter-based (:mod:`twoqs_jax._sde.rng`: Threefry of ``(i, slot)`` under the window key of
``(key, stream, s0)``): the initial sample (:func:`initial_sample`, stream ``TAG_INITIAL``,
``s0 = 0``) and the increments of the noise window starting at global step ``s0`` (see
:func:`noise_layout`, :func:`block_noise`). Results are therefore the same for any chunk size, any sharding of
the trajectory axis (:mod:`twoqs_jax._sde.sharding`) and any checkpoint restart.

The model is an argument of the jitted function (a PyTree, never a closure constant), so a
batch of models is a ``vmap`` away and pathwise gradients w.r.t. its parameters are possible;
so is the number of trajectories ``n_traj`` (it only masks the padding of the last chunk), so
a new parameter value or a new ``n_traj`` with the same chunk size reuses the compiled chunk.
Statistics stay in the scan: per-block means and ``M2`` at the saving blocks, or per-trajectory
time averages over a window for steady states; never whole trajectories.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._observables import Observable
from .._phase_space.drift import N_NOISE, split
from .._phase_space.observables import trajectory_primitives
from .._phase_space.sampling import sample_initial
from . import rng
from .fusion import materialise
from .schemes.base import AbstractScheme


@dataclasses.dataclass(frozen=True)
class KernelConfig:
    """Static description of one compiled chunk function (hashable; jit specialises on it).

    Built by one function, :func:`twoqs_jax._sde.config.kernel_config`; strings of the user
    API are turned into these objects and booleans there, once.

    Attributes:
        k: representation (0 W, 1 P, -1 Q).
        scheme: the integration scheme (owns ``dt``, its step and its random material).
        block: steps per block.
        n_blocks: number of blocks (``n_steps = block * n_blocks``).
        save_initial: also record the statistics at the initial time.
        save_blocks: per block, whether to record statistics at its end (``None``: no saving).
        avg_from: for steady states, the first block whose end state enters the
            per-trajectory time average (``None``: time-resolved run).
        primitives: primitive moments computed per trajectory.
        linear: ``((key, observable), ...)``: per-trajectory values averaged as they are
            (:class:`Observable` linear in the primitives, or :class:`PhaseSpaceFunction`).
        grouped: primitives whose per-group sums are kept for the jackknife of nonlinear
            observables.
        n_groups: jackknife groups.
        chunk_size, n_traj: trajectories per chunk and in all (``n_traj`` for the host;
            the jitted function takes it as a traced argument and is built from
            :func:`traced_config`, whose ``n_traj`` is 0).
        fock: Wigner sampling of the Fock state with the exact number variance (else the
            coherent approximation, paper 003 Eq. 18).
        dtype: real dtype name of the trajectories.
        jumps, dephasing: whether any decay/gain, dephasing rate is nonzero (noise needed).
        term_rows: noise rows of the other jump terms of the lowered model (in order).
        fused: hand-written Hamiltonian drift (else the autodiff reference).
        conserve_spin: at every step rescale ``(alpha, beta)`` of each site so that
            ``|alpha|^2 + |beta|^2`` keeps its initial value (the spin-length constraint).
        traj_block: trajectories per statistics block (a power of two dividing
            ``chunk_size``): the atomic unit of the reduction (:func:`_chunk_moments`).
        tangential: the tangential (full-diffusion) Wigner noise of decay, gain and the
            general spin jumps (else paper 003's noise; :mod:`twoqs_jax._phase_space.drift`).
        ladder: ``(decay, gain)``, whether any decay, gain rate is nonzero: the tangential
            noise reads only the rows of the jumps present (decay rows 0-1, gain rows 2-3).
        window_names: per-trajectory values whose first-half minus second-half window
            average is also kept (steady states; the relaxation signal of
            :mod:`twoqs_jax._validity`).
        site_major: step the whole chunk at once in the site-major layout (state ``(n,
            chunk)``, trajectories contiguous: :func:`site_major_step`) instead of the
            vmapped :func:`trajectory_step` (layout ``(chunk, n)``); the same numbers give
            the same trajectories up to float round-off. Needs a scheme whose step takes
            site-major arrays (``scheme.site_major``) and the fused drift.
        coupling_mask: static ``3 x 3`` mask of the coupling components that may be
            nonzero (:func:`twoqs_jax._phase_space.drift.coupling_mask`; ``None``: all),
            read by the site-major step only.
        field_mask: static mask of the field components that may be nonzero
            (:func:`twoqs_jax._phase_space.drift.field_mask`; ``None``: all), read by the
            site-major step only (which also skips the dissipation drift of the rates that
            ``ladder`` and ``dephasing`` show to be zero).
    """

    k: int
    scheme: AbstractScheme
    block: int
    n_blocks: int
    save_initial: bool
    save_blocks: tuple | None
    avg_from: int | None
    primitives: tuple
    linear: tuple
    grouped: tuple
    n_groups: int
    chunk_size: int
    n_traj: int
    fock: bool
    dtype: str
    jumps: bool
    dephasing: bool
    term_rows: tuple = ()
    fused: bool = True
    conserve_spin: bool = False
    traj_block: int = 1
    tangential: bool = False
    ladder: tuple = (True, True)
    window_names: tuple = ()
    site_major: bool = False
    coupling_mask: tuple | None = None
    field_mask: tuple | None = None

    @property
    def dt(self) -> float:
        """The step of the scheme."""
        return self.scheme.dt

    @property
    def increments(self):
        """The scheme's random material (two-point or Gaussian increments)."""
        return self.scheme.increments


# The random material of a noise window of ``L`` consecutive steps is drawn at once per
# trajectory (one window key per window); the scheme's increments set the window limits
# (:mod:`twoqs_jax._sde.schemes.increments`).
NOISE_NUMBERS = 1024


def noise_rows(cfg: KernelConfig) -> int:
    """Real Wiener processes per site actually driven (4 jump + 1 dephasing + other terms)."""
    return (4 if cfg.jumps else 0) + (1 if cfg.dephasing else 0) + sum(cfg.term_rows)


def noise_layout(cfg: KernelConfig, n: int) -> tuple[int, int]:
    """``(L, m)`` (static): the random material is drawn per noise window of ``L`` steps
    (one key per trajectory and window), and a window holds ``m`` whole blocks.

    A window holds at most 32 steps for two-point increments (one bit of each word per
    step), or at most 64 steps and ``NOISE_NUMBERS`` numbers per trajectory for Gaussian
    ones. A block longer than that is cut into windows (``L`` = its largest divisor that
    fits, ``m = 1``); short blocks (e.g. sampling every step) are grouped, ``m`` blocks per
    window (``m`` = the largest divisor of ``n_blocks`` that fits), so that drawing random
    numbers is amortised over many steps whatever the block length.
    """
    limit, per_step = cfg.increments.window_limits(noise_rows(cfg), n)

    def fits(steps):
        return steps <= limit and steps * per_step <= NOISE_NUMBERS

    def largest_divisor(total, ok):
        return max(d for d in range(1, total + 1) if d == 1 or (total % d == 0 and ok(d)))

    length = largest_divisor(cfg.block, fits)
    if length < cfg.block:
        return length, 1
    m = largest_divisor(cfg.n_blocks, lambda d: fits(d * cfg.block))
    return cfg.block * m, m


def scan_blocks(
    cfg: KernelConfig,
    n: int,
    carry,
    noise_at,
    advance,
    end_of_block,
    wrap=lambda f: f,
    window_end=lambda carry: carry,
):
    """Run all ``cfg.n_blocks`` blocks over the noise windows of :func:`noise_layout`.

    Args:
        noise_at: ``s0 -> noise`` of the window starting at global step ``s0``
            (:func:`block_noise`).
        advance: ``(carry, noise, offsets) -> carry`` after the steps at ``offsets`` of
            that window (a ``(k,)`` array of positions ``0 .. L-1``).
        end_of_block: ``(carry, ib) -> (carry, out)`` at the end of block ``ib``.
        wrap: applied to the per-block function (e.g. ``jax.checkpoint``).
        window_end: ``carry -> carry`` at the end of every noise window (after the end of
            its last block where a window holds several blocks).

    Returns:
        ``(carry, outs)`` with ``outs`` stacked over the blocks (leading axis n_blocks).
    """
    length, m = noise_layout(cfg, n)
    if m == 1:
        windows = cfg.block // length

        @wrap
        def block(carry, ib):
            def window(carry, s0):
                return window_end(advance(carry, noise_at(s0), jnp.arange(length))), None

            carry, _ = lax.scan(window, carry, ib * cfg.block + length * jnp.arange(windows))
            return end_of_block(carry, ib)

        return lax.scan(block, carry, jnp.arange(cfg.n_blocks))

    def superblock(carry, isb):
        noise = noise_at(isb * length)

        @wrap
        def block(carry, j):
            carry = advance(carry, noise, j * cfg.block + jnp.arange(cfg.block))
            return end_of_block(carry, isb * m + j)

        carry, outs = lax.scan(block, carry, jnp.arange(m))
        return window_end(carry), outs

    carry, outs = lax.scan(superblock, carry, jnp.arange(cfg.n_blocks // m))
    return carry, jax.tree.map(lambda x: x.reshape((cfg.n_blocks,) + x.shape[2:]), outs)


def initial_sample(key, i, spin, theta, phi, k: int, fock_sampling: str, dtype):
    """Trajectory ``i``'s initial ``(alpha, beta)``, ``(n,)`` each (``key``: the run's key).

    The kernel, the pathwise gradient and the score estimator all draw their initial
    samples here, so they agree sample for sample. Counter layout: draw ``r < N_POLAR`` (0:
    ``alpha0``, 1: ``beta0``) of site ``j`` is :func:`twoqs_jax._sde.rng.polar` (one
    Threefry hash: an ``Exp(1)`` modulus squared and a uniform phase) at counter ``(i, r n +
    j)`` under the window key ``rng.window_key(key, TAG_INITIAL, 0)`` (a stream of its own,
    next to the increments' streams); for the Q representation (``k == -1``) the Gamma
    variate of ``|beta0|^2`` is ``jax.random.gamma`` under ``fold_in(fold_in(key, i),
    2^32 - 1)`` (a rejection sampler: no fixed count of counter-based numbers). The
    transform: :func:`twoqs_jax._phase_space.sampling.sample_down`.

    Args:
        key: typed JAX key of the run.
        i: integer global trajectory index (scalar; ``jax.vmap`` over it for many).
        spin, theta, phi: ``(n,)`` spin lengths and Bloch angles.
        k: representation (0 W, 1 P, -1 Q).
        fock_sampling: "coherent" or "fock" (Wigner only).
        dtype: real dtype of the amplitudes.
    """
    n = spin.shape[0]
    ks = rng.window_key(key, rng.TAG_INITIAL, 0)

    def polar(r):
        return rng.polar(ks, i, r * n, n, dtype)

    gamma_key = jax.random.fold_in(jax.random.fold_in(key, i), 0xFFFFFFFF) if k == -1 else None
    return sample_initial(polar, gamma_key, spin, theta, phi, k, fock_sampling, dtype)


def block_noise(cfg: KernelConfig, key, i, s0, nb: int, n: int, dtype):
    """The random material of trajectory ``i`` for the noise window of ``nb`` steps that
    starts at global step ``s0`` (``key``: the run's key; counter-based, so any ``i`` and
    ``s0`` can be drawn alone).

    Two-point: one ``(n,)`` array of uint32 words per noise row, whose bit ``s`` gives the
    increments ``+-sqrt(dt)`` of step ``s``; Gaussian: the window key and ``i`` (the numbers
    are hashed in the step). ``None`` when the model drives no noise.
    """
    rows = noise_rows(cfg)
    if rows == 0:
        return None
    return cfg.increments.draw(key, i, s0, nb, rows, n, dtype, cfg.dt)


def step_increments(cfg: KernelConfig, noise, s, dtype) -> tuple:
    """The increment rows of step ``s`` (position in the window) of one trajectory, from its
    :func:`block_noise`: the ``N_NOISE`` rows of the fused step (``None`` for rows the model
    does not drive; see ``em_increment_real``), then the rows of the other jump terms.
    """
    if noise is None:
        return (None,) * N_NOISE + (None,) * sum(cfg.term_rows)
    rows = list(cfg.increments.at(noise, s, dtype, cfg.dt))
    r = 0
    jump = [None] * 4
    if cfg.jumps:
        jump, r = rows[:4], 4
        if cfg.tangential:  # one complex increment per jump present (decay, gain)
            jump = [x if cfg.ladder[i // 2] else None for i, x in enumerate(jump)]
    deph = None
    if cfg.dephasing:
        deph, r = rows[r], r + 1
    return (*jump, deph, *rows[r:])


def block_increments(cfg: KernelConfig, key, i, s0, nb: int, n: int, dtype):
    """``(nb, rows, n)`` increments of trajectory ``i`` for the noise window of ``nb`` steps
    starting at global step ``s0`` (zeros in rows the model does not drive): the numbers the
    kernel uses, materialised (for tests and diagnostics; the kernel never stores them).
    """
    noise = block_noise(cfg, key, i, s0, nb, n, dtype)

    def one(s):
        inc = step_increments(cfg, noise, s, dtype)
        return jnp.stack([jnp.zeros(n, dtype) if r is None else r for r in inc])

    return jax.vmap(one)(jnp.arange(nb))


def project(cfg: KernelConfig, z, r0) -> tuple:
    """The spin-length constraint: rescale both modes of every site to
    ``sqrt(|alpha|^2 + |beta|^2) = r0`` (identity without the constraint).
    """
    if not cfg.conserve_spin:
        return z
    ar, ai, br, bi = z
    # a square root (materialised once by XLA) and a divide in each consumer: on XLA:CPU
    # `rsqrt` cost more than the rest of a site-step (5.3 vs 3.0 ns per site-step in a
    # one-core microbenchmark, docs/performance.md)
    norm = jnp.sqrt(ar**2 + ai**2 + br**2 + bi**2)
    return ar * r0 / norm, ai * r0 / norm, br * r0 / norm, bi * r0 / norm


def observed(cfg: KernelConfig, z, r0):
    """``(alpha, beta)`` of the carried state ``z`` as observers see it (projected)."""
    ar, ai, br, bi = project(cfg, z, r0)
    return lax.complex(ar, ai), lax.complex(br, bi)


def trajectory_step(cfg: KernelConfig, model, z, dW, r0, sqrt=jnp.sqrt):
    """One step of one trajectory on its real components ``z`` (see :func:`split`; real
    arithmetic vectorises on CPU). Returns ``(z, clipped sites)``.

    With the spin-length constraint the carried state is the *unprojected* one: the step
    first projects it (:func:`project`), then takes the increment, so the projected states
    ``P(y_k)`` are exactly those of "step, then project" (``P(F(P(y)))``), while each step
    stays one fused loop per output with no shared intermediate (XLA would recompute it).
    Observers use :func:`observed`. Shared by the kernel and the pathwise gradients (which
    pass a clip-safe ``sqrt``).
    """
    z = project(cfg, z, r0)
    z, c = cfg.scheme.step(model, z, dW, cfg.k, cfg.fused, sqrt, cfg.tangential)
    return z, jnp.sum(c, dtype=jnp.int32)


def site_major_step(cfg: KernelConfig, model, z, dW, r0):
    """One step of all trajectories of a chunk in the site-major layout: ``z`` the four
    ``(n, T)`` real components (sites on the major axis, the ``T`` trajectories contiguous),
    ``dW`` the step's rows ``(n, T)`` (:func:`step_increments` of the site-major
    :func:`block_noise`), ``r0`` ``(n, T)``. Returns ``(z, clipped site-steps per
    trajectory (T,))``.

    The same arithmetic as :func:`trajectory_step` applied to every trajectory (project,
    then the scheme's step), written on whole arrays: every per-site operation is a loop
    over contiguous rows of ``T`` trajectories, and a coupling reads whole rows of its edge
    ends (:func:`twoqs_jax._phase_space.drift.spin_gradient_rows`), where the vmapped step
    gathered single elements along the minor axis.

    With :func:`projection_as_scale` the projection is not applied: the step is taken from
    the carried ``y`` itself with the scale ``q = r0^2 / |y|^2`` (no square root), and returns
    ``F(P(y)) / sqrt(q)``, a positive multiple of the state of "project, then step" (the step
    is linear in ``y`` given the spin symbols and occupations, which it multiplies by ``q``;
    :func:`twoqs_jax._phase_space.drift.em_increment_real`). Projections of positive
    multiples are equal, so observers (:func:`observed`) and the next step see the same
    states; the kernel projects the carried state once per noise window to keep its norm near
    ``r0``. A step then reads ``y`` and ``q`` instead of four projected components (for the
    driven spin five loops over the chunk per step instead of nine: ``q`` and the four
    updates).
    """
    if projection_as_scale(cfg, model):
        ar, ai, br, bi = z
        # summed as (ar^2 + br^2) + (ai^2 + bi^2), sharing no sum with the occupations
        # |alpha|^2, |beta|^2 of the step: XLA would materialise a shared one (one more loop)
        scale = r0 * r0 / ((ar * ar + br * br) + (ai * ai + bi * bi))
    else:
        z, scale = project(cfg, z, r0), None
    z, c = cfg.scheme.step(
        model,
        z,
        dW,
        cfg.k,
        cfg.fused,
        jnp.sqrt,
        cfg.tangential,
        coupling_mask=cfg.coupling_mask,
        scale=scale,
        field_mask=cfg.field_mask,
        rate_mask=(*cfg.ladder, cfg.dephasing),
    )
    return z, jnp.sum(c, axis=0, dtype=jnp.int32)


def projection_as_scale(cfg: KernelConfig, model) -> bool:
    """Whether :func:`site_major_step` takes the spin-length projection as a scale: with the
    constraint, the site-major step of a scheme that takes ``scale``
    (``AbstractScheme.scaled_projection``), only terms linear in the state given its spin symbols
    and occupations (the fused Hamiltonian drift, the dissipation drift, the tangential noise
    of decay and gain, dephasing; not paper 003's noise, not other jump terms) and no
    coupling between different sites (static: the model's edges).
    """
    edges = np.asarray(model.edges)
    return (
        cfg.conserve_spin
        and cfg.site_major
        and cfg.scheme.scaled_projection
        and cfg.fused
        and (cfg.tangential or not cfg.jumps)
        and not getattr(model, "terms", ())
        # inter-site couplings keep the projection: with them the scaled step was slower
        # (a 64-site chain, docs/derivations/kernel.md); same-site ones (twisting) are no gather
        and bool(np.all(edges[:, 0] == edges[:, 1]))
    )


def trajectory_values(cfg: KernelConfig, alpha, beta, spin) -> dict:
    """Per-trajectory values of one trajectory: linear observables (complex ones split into
    ``key__re``/``key__im``) and the primitives of the jackknife groups.
    """
    prims = trajectory_primitives(alpha, beta, spin, cfg.k, cfg.primitives)
    out = {}

    def put(key, v):
        if jnp.iscomplexobj(v):
            out[key + "__re"], out[key + "__im"] = jnp.real(v), jnp.imag(v)
        else:
            out[key] = v

    for key, obs in cfg.linear:
        if isinstance(obs, Observable):
            put(key, jnp.asarray(obs.fn(prims, spin)))
        else:
            put(key, jnp.asarray(obs.fn(alpha, beta)))
    for p in cfg.grouped:
        if p not in out and p + "__re" not in out:
            put(p, prims[p])
    return out


def _tree_sum(x):
    """Sum over axis 1 (a power of two) by a fixed pairwise tree of adds (explicit slices,
    so XLA cannot reorder the reduction: the same bits for any chunk or device).
    """
    while x.shape[1] > 1:
        x = x[:, 0::2] + x[:, 1::2]
    return x[:, 0]


def _stack(q: dict, dtype) -> tuple[dict, list]:
    """The per-trajectory values ``q`` (``(T, ...)`` each) as one ``(T, D)`` array per dtype
    (values of a non-floating dtype converted to ``dtype``), and the layout
    ``[(name, dtype, start, trailing shape), ...]`` that :func:`_unstack` reads.
    """
    q = {k: jnp.asarray(v) for k, v in q.items()}
    q = {k: v if jnp.issubdtype(v.dtype, jnp.floating) else v.astype(dtype) for k, v in q.items()}
    parts: dict = {}
    layout = []
    for name, v in q.items():
        group = parts.setdefault(jnp.dtype(v.dtype), [])
        start = sum(x.shape[1] for x in group)
        group.append(v.reshape(v.shape[0], -1))
        layout.append((name, jnp.dtype(v.dtype), start, v.shape[1:]))
    stacked = {d: x[0] if len(x) == 1 else jnp.concatenate(x, axis=1) for d, x in parts.items()}
    return stacked, layout


def _unstack(stacked: dict, layout: list, names=None) -> dict:
    """The values of :func:`_stack`'s ``layout`` (only ``names``, if given) from ``(K, D)``
    arrays per dtype: ``name -> (K, *shape)``.
    """
    out = {}
    for name, d, start, shape in layout:
        if names is None or name in names:
            size = int(np.prod(shape, dtype=int))
            x = stacked[d]
            out[name] = x[:, start : start + size].reshape((x.shape[0],) + tuple(shape))
    return out


def _chunk_moments(cfg: KernelConfig, q: dict, weight):
    """Per-block (``cfg.traj_block`` consecutive trajectories) masked mean, M2 and sum of the
    per-trajectory values ``q``, each ``(K, ...)`` for the ``K`` blocks of the chunk; the host
    merges blocks in a fixed order (:class:`~.statistics.BlockMerger`).

    The values of one dtype are reduced as one ``(K, traj_block, D)`` array (:func:`_stack`):
    the reduction does not grow with the number of observables (each value still adds its own
    computation, in a conditional of its own, below). Every element's arithmetic is its own: the
    block sum ``s`` by a fixed tree of adds, the mean ``s * (1 / n_b)`` (a product with the
    reciprocal of the block's count, computed once per block: written so, not as ``s / n_b``,
    which XLA rewrites into that product in some programs and not in others), and ``M2`` the
    tree sum of the squared deviations from that mean (a product with a rounded reciprocal: one
    more rounding than the quotient where the count is not a power of two, i.e. only in the
    last, partial block of a run). A value's statistics are therefore a function of its own
    per-trajectory values only, the same bits for any chunk size or device count and whatever
    other values are requested, provided each value is itself computed apart from the others
    (:func:`run_indices` computes each in a conditional of its own: in one fusion with the
    others, a product they share is not contracted into an FMA as it is when the value is alone,
    which changes its last bit). The block sums and the ``M2`` trees are computed once
    (:func:`materialise`): XLA would copy their trees of adds into the fusion of each of their
    readers (the mean, the deviations of M2, the group sums, and every value sliced from them).
    """
    w = weight.reshape(-1, cfg.traj_block)
    n_b = jnp.maximum(_tree_sum(w), 1)  # exact (0/1 weights); an empty block is dropped
    stacked, layout = _stack(q, weight.dtype)
    s_all, mean_all, m2_all = {}, {}, {}
    for d, v in stacked.items():
        vb = v.reshape(w.shape + v.shape[1:])
        wb = w[..., None]
        # `where`, not `w * v`: a padding trajectory (w = 0) that blew up must not turn the
        # block's statistics into NaN (0 * NaN = NaN) while the blow-up counter ignores it.
        vb = jnp.where(wb > 0, vb, jnp.zeros_like(vb))
        s = materialise(_tree_sum(vb))
        mu = s * (1 / n_b.astype(d))[:, None]
        s_all[d], mean_all[d] = s, mu
        m2_all[d] = materialise(_tree_sum(jnp.where(wb > 0, (vb - mu[:, None]) ** 2, 0)))
    grouped = [name for name, *_ in layout if name.split("__")[0] in cfg.grouped]
    return {
        "mean": _unstack(mean_all, layout),
        "m2": _unstack(m2_all, layout),
        "gsum": _unstack(s_all, layout, grouped),
    }


def _only(cfg: KernelConfig, name: str) -> KernelConfig:
    """``cfg`` reduced to what the per-trajectory value ``name`` of :func:`trajectory_values`
    needs (its linear observable or grouped primitive, and their primitives): the same
    arithmetic for that value, traced without the others.
    """
    known = {k for k, _ in cfg.linear} | set(cfg.grouped)
    # a complex value is split into `key__re` / `key__im`; a real one keeps its own name
    base = name[:-4] if name not in known and name.endswith(("__re", "__im")) else name
    linear = tuple((k, o) for k, o in cfg.linear if k == base)
    grouped = tuple(g for g in cfg.grouped if g == base)
    needs = set(grouped)
    for _, o in linear:
        if isinstance(o, Observable):
            needs.update(o.needs)
    primitives = tuple(x for x in cfg.primitives if x in needs)
    return dataclasses.replace(cfg, linear=linear, grouped=grouped, primitives=primitives)


def traced_config(cfg: KernelConfig) -> KernelConfig:
    """``cfg`` without what the jitted function takes as traced arguments (``n_traj``): the
    static part that compilation specialises on.
    """
    return dataclasses.replace(cfg, n_traj=0)


def run_chunk(cfg: KernelConfig, model, theta, phi, key, first, n_traj):
    """Simulate one chunk of trajectories and return its statistics (device arrays).

    Args:
        cfg: static configuration.
        model: :class:`SpinModel` of one parameter point (PyTree argument).
        theta, phi: ``(n,)`` initial Bloch angles.
        key: PRNG key of the whole run.
        first: integer (traced) global index of the chunk's first trajectory.
        n_traj: integer (traced) number of trajectories of the run (indices beyond are
            padding).

    Returns:
        dict with ``saved`` (stacked over saving points: per-block ``mean``, ``m2``, ``gsum``)
        or ``avg`` (the same for the time averages), and per block ``clipped`` (clipped
        site-steps), ``bad`` (trajectories with a non-finite state) and ``bad_block`` (the
        first time block at whose end a trajectory was non-finite; ``n_blocks`` if none).
    """
    idx = first + jnp.arange(cfg.chunk_size, dtype=jnp.int32)  # the driver passes int32
    return run_indices(cfg, model, theta, phi, key, idx, n_traj)


def run_indices(cfg: KernelConfig, model, theta, phi, key, idx, n_traj):
    """:func:`run_chunk` for an explicit ``(m,)`` array of global trajectory indices
    (indices ``>= n_traj`` are padding and get weight 0). Trajectory ``i`` draws its
    initial sample from :func:`initial_sample` and the increments of the noise window starting
    at step ``s0`` from :func:`block_noise` (counter-based, module docstring).
    """
    dtype = jnp.dtype(cfg.dtype)
    model = jax.tree.map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, model
    )
    spin = model.spin
    n = spin.shape[0]
    n_traj = jnp.asarray(n_traj, idx.dtype)
    weight = (idx < n_traj).astype(dtype)
    sampling = "fock" if cfg.fock else "coherent"

    def draw(_):
        return jax.vmap(lambda i: initial_sample(key, i, spin, theta, phi, cfg.k, sampling, dtype))(
            idx
        )

    def empty(_):
        z = jnp.zeros((idx.shape[0], n), dtype)
        return lax.complex(z, z), lax.complex(z, z)

    # The sample is read by about ten fusions, and XLA:CPU would copy its two hashes per site
    # into each. A conditional on a traced predicate (always true) is a fusion boundary, so it
    # is computed once; a `materialise` reduction did that too but ran slower
    # (docs/performance.md, "What a first run compiles").
    a, b = lax.cond(n_traj >= 0, draw, empty, None)
    z_init = split(a, b)
    r0 = jnp.sqrt(jnp.abs(a) ** 2 + jnp.abs(b) ** 2)
    sm = cfg.site_major
    if sm:  # the carried state is site-major, (n, chunk); observers see (chunk, n)
        z_init = tuple(x.T for x in z_init)
        r0_sm = r0.T

    def projected(z):  # the real components as observers see them, (chunk, n) each
        if sm:
            z = tuple(x.T for x in z)
        return jax.vmap(lambda z, r: project(cfg, z, r))(z, r0)

    def values(p, name=None):  # the per-trajectory values (or only `name`'s) of the projected
        c = cfg if name is None else _only(cfg, name)  # components (tracing only what it needs)

        def one(p, r):
            x, y = lax.complex(p[0], p[1]), lax.complex(p[2], p[3])
            out = trajectory_values(c, x, y, spin) if name != SPIN_CHANGE else {}
            if name in (None, SPIN_CHANGE):
                # validity signal: the trajectory's change of the spin length (N - N_0) / 2
                out[SPIN_CHANGE] = 0.5 * (jnp.abs(x) ** 2 + jnp.abs(y) ** 2 - r**2)
            return out if name is None else out[name]

        return jax.vmap(one)(p, r0)

    def observe(z):
        return values(projected(z))

    axis = cfg.increments.chunk_axis

    def noise_at(s0):
        length = noise_layout(cfg, n)[0]
        if sm:  # the same numbers, drawn site-major: per noise row, (n, chunk) words
            return block_noise(cfg, key, idx, s0, length, n, dtype)
        return jax.vmap(lambda i: block_noise(cfg, key, i, s0, length, n, dtype), out_axes=axis)(
            idx
        )  # two-point: per noise row, (chunk, n) words

    if sm:

        def step_all(z, inc):  # every trajectory of the chunk, (n, chunk) arrays
            return site_major_step(cfg, model, z, inc, r0_sm)

        def rows(noise, s):
            return step_increments(cfg, noise, s, dtype)

    else:

        def step_all(z, inc):  # one trajectory at a time, (chunk, n) arrays
            return jax.vmap(lambda z, r, x: trajectory_step(cfg, model, z, x, r))(z, r0, inc)

        def rows(noise, s):
            if noise is None:
                return step_increments(cfg, None, s, dtype)
            return jax.vmap(lambda w: step_increments(cfg, w, s, dtype), in_axes=axis)(noise)

    scaled = sm and projection_as_scale(cfg, model)

    def renormalise(carry):  # the scaled steps leave the norm free: to r0 once per window
        return (project(cfg, carry[0], r0_sm), *carry[1:]) if scaled else carry

    def unroll(length):
        # The scaled step's updates read the carried state itself, so in a loop of one step
        # XLA first copies it (four more passes per step); two steps per iteration write the
        # first step's result to buffers of their own and need no copy. Measured faster for
        # the scaled step only (docs/derivations/kernel.md); an odd window keeps one step per
        # iteration (an unrolled loop with a remainder compiles the step three times).
        return 2 if scaled and length % 2 == 0 else 1

    def advance(carry, noise, offsets):
        z, clip, bad, acc = carry

        if noise is not None and cfg.increments.pipelined:
            # the increments of the next step are a loop carry: XLA materialises each row
            # once instead of recomputing it in every update that reads it (XLA:CPU has no
            # multi-output fusion; the tangential noise reads each row four times)
            def pstep(carry, s):
                z, clip, inc = carry
                z, c = step_all(z, inc)
                return (z, clip + c, rows(noise, s + 1)), None

            (z, clip, _), _ = lax.scan(pstep, (z, clip, rows(noise, offsets[0])), offsets)
            return z, clip, bad, acc

        def step(carry, s):
            z, clip = carry
            z, c = step_all(z, rows(noise, s))
            return (z, clip + c), None

        (z, clip), _ = lax.scan(step, (z, clip), offsets, unroll=unroll(offsets.shape[0]))
        return z, clip, bad, acc

    q_template = jax.eval_shape(observe, z_init)

    def observe_apart(z):
        # each value in a conditional of its own (a fusion boundary, on the traced and always
        # true predicate of the initial sample): XLA's code for a value, and so its bits, is
        # then that of the value alone, whatever else is computed (LLVM contracts a product
        # into a sum only where the product has no other use)
        def one(name):
            zero = jnp.zeros(q_template[name].shape, q_template[name].dtype)
            return lax.cond(n_traj >= 0, lambda p: values(p, name), lambda p: zero, p)

        p = projected(z)
        return {name: one(name) for name in q_template}

    def moments_of_state(z):
        return _chunk_moments(cfg, observe_apart(z), weight)

    template = jax.eval_shape(moments_of_state, z_init)
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template)

    zeros_q, layout = _stack({k: jnp.zeros(s.shape, s.dtype) for k, s in q_template.items()}, dtype)
    # steady states: the window's total and the total of its second half (validity signal),
    # stacked per dtype (one add per dtype, not one per value)
    acc0 = (zeros_q, zeros_q)
    n_half = 0 if cfg.avg_from is None else (cfg.n_blocks - cfg.avg_from) // 2
    save_flags = jnp.asarray(cfg.save_blocks if cfg.save_blocks is not None else (False,))

    def end_of_block(carry, ib):
        z, clip, bad, acc = carry
        site_axis = 0 if sm else -1
        finite = functools.reduce(
            jnp.logical_and, [jnp.all(jnp.isfinite(x), axis=site_axis) for x in z]
        )
        bad = jnp.where(finite, bad, jnp.minimum(bad, ib.astype(bad.dtype)))  # first bad block
        if cfg.avg_from is not None:

            def add(acc):
                q = _stack(observe_apart(z), dtype)[0]
                total = jax.tree.map(jnp.add, acc[0], q)
                late = jax.tree.map(
                    lambda a, v: jnp.where(ib >= cfg.n_blocks - n_half, a + v, a), acc[1], q
                )
                return total, late

            acc = lax.cond(ib >= cfg.avg_from, add, lambda acc: acc, acc)
        if cfg.save_blocks is not None:
            out = lax.cond(save_flags[ib], moments_of_state, lambda z: zeros, z)
        else:
            out = None
        return (z, clip, bad, acc), out

    clip0 = jnp.zeros(idx.shape[0], jnp.int32)
    bad0 = jnp.full(idx.shape[0], cfg.n_blocks, jnp.int32)
    (_, clip, bad, acc), saved = scan_blocks(
        cfg, n, (z_init, clip0, bad0, acc0), noise_at, advance, end_of_block, window_end=renormalise
    )
    valid = (idx < n_traj).reshape(-1, cfg.traj_block)
    per_block = clip.reshape(valid.shape), bad.reshape(valid.shape)
    result = {  # integers, exact in any order
        "clipped": jnp.sum(jnp.where(valid, per_block[0], 0), axis=1),
        "bad": jnp.sum(valid & (per_block[1] < cfg.n_blocks), axis=1, dtype=jnp.int32),
        "bad_block": jnp.min(jnp.where(valid, per_block[1], cfg.n_blocks), axis=1),
    }
    if cfg.save_blocks is not None:
        # the scan emits one row per block (zeros where nothing is saved): keep saved rows
        keep = np.flatnonzero(np.asarray(cfg.save_blocks))
        saved = jax.tree.map(lambda s: s[keep], saved)
        if cfg.save_initial:
            first = moments_of_state(z_init)
            saved = jax.tree.map(lambda f, s: jnp.concatenate([f[None], s], axis=0), first, saved)
        result["saved"] = saved
    if cfg.avg_from is not None:
        # averages as products with the reciprocal counts, like the means of _chunk_moments
        n_avg = cfg.n_blocks - cfg.avg_from
        total, late = acc
        q = _unstack({d: v * (1 / n_avg) for d, v in total.items()}, layout)
        if n_half > 0:  # first-half minus second-half average, per trajectory
            n_first = n_avg - n_half
            total = _unstack(total, layout, cfg.window_names)
            late = _unstack(late, layout, cfg.window_names)
            for name in cfg.window_names:
                first = (total[name] - late[name]) * (1 / n_first)
                q[HALF_DIFF + name] = first - late[name] * (1 / n_half)
        result["avg"] = _chunk_moments(cfg, q, weight)
    return result


SPIN_CHANGE = "__spin_length_change"
"""Per-trajectory ``(N - N_0)/2`` of every site, ``N = |alpha|^2 + |beta|^2`` as observed."""
HALF_DIFF = "__half_difference:"
"""Prefix of the per-trajectory (first half - second half) window averages (steady states)."""


@functools.lru_cache(maxsize=64)
def compiled_chunk(cfg: KernelConfig, batched: bool, state_batched: bool = False):
    """The jitted chunk function for ``cfg`` (see :func:`traced_config`); ``batched`` vmaps
    it over a batch of models (and ``state_batched`` also over a batch of initial angles).
    """
    fn = functools.partial(run_chunk, cfg)
    if batched:
        ax = 0 if state_batched else None
        fn = jax.vmap(fn, in_axes=(0, ax, ax, None, None, None))
    return jax.jit(fn)


def saving_mask(save_steps: np.ndarray, block: int, n_blocks: int) -> tuple:
    """Per-block flags: True where a block ends on one of ``save_steps`` (> 0)."""
    ends = (np.arange(n_blocks) + 1) * block
    return tuple(bool(x) for x in np.isin(ends, save_steps))
