"""The third-order correction of a TWOQS run of a closed model (no jump).

TWOQS truncates the Wigner equation after its second-order terms; for a closed model the
dropped remainder is the third-order term of the Moyal bracket, and its first-order
(Duhamel) effect on every average is carried along the flow by
:mod:`twoqs_jax._phase_space.moyal`. This module runs it for a TWOQS run: its own
trajectories (the same initial distribution, an independent stream of the run's key), the
per-trajectory corrections of exactly the values the kernel averages, their means, spreads
and jackknife group sums, and adds them to the run's statistics (:func:`shift`), so that
every observable, nonlinear ones included, is computed from the corrected moments with a
standard error that holds both parts.

Where it applies (:func:`reason_not`): Wigner representation, no jump of any kind, a
time-resolved run (:class:`twoqs_jax.SaveAt`), at most :data:`MAX_SITES` sites (the tensors
carried per trajectory grow as ``(4 n)^3``). Zero decay, gain and dephasing rates are no
jumps; a jump term such as :class:`twoqs_jax.SpinJump` counts as one even at rate zero.
Observables given as :class:`twoqs_jax.PhaseSpaceFunction` get the correction of their
derivatives, which assumes a smooth function (an indicator's is zero). The per-trajectory
values are reduced on the device chunk by chunk and only at the saved times. Derivation and
measurements: ``docs/methods/fidelity.md#third-order``.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._phase_space import moyal
from .._saveat import SaveAt
from .kernel import initial_sample, traced_config, trajectory_values
from .statistics import RunningStats

MAX_SITES = 2
"""Largest number of sites the correction runs for (``(4 n)^4`` derivatives per step)."""

CORRECTION_TRAJ = 4096
"""Trajectories of the correction (fewer if the run has fewer). Its share of a standard error
is about ``r sqrt(n_traj / 4096)`` of the run's, ``r`` the spread ratio of
:data:`MAX_SPREAD`: 0.01-0.03 in one-axis twisting at S = 100-200, up to 0.5 at S = 10
(``docs/methods/fidelity.md#third-order``); the standard errors include it."""

MAX_SPREAD = 0.5
"""Largest ratio of the correction's per-trajectory spread to the observable's own (at one
saved time, over every averaged value) at which the correction is used. The first-order
correction is an expansion: it carries the third derivatives of the flow, which grow
exponentially where trajectories diverge (two coupled spins, past a few Lyapunov times) and
polynomially in one-axis twisting. Measured on two twisting spins with exchange
(``tests/test_third_order.py``): where the ratio stays below about 0.5 the corrected moments
are as close to exact as plain TWOQS within their errors, or closer; at 22 (S = 10, t = 6)
the corrected <S_z> is 5-6 times farther; in one-axis twisting at the optimum it is about
0.03. From the first saved time where the ratio exceeds this on, the run keeps plain TWOQS
values, and says so (``stats["third_order"]["cut_at"]`` and the ``third_order_cut`` flag)."""

STREAM = 0x3D3D
"""``fold_in`` tag of the correction's initial samples (independent of the run's)."""

CHUNK = 1024


def reason_not(method, cfg, model, saveat) -> str | None:
    """Why the correction does not apply to this run (``None``: it does)."""
    if method.representation != "W":
        return f"representation={method.representation!r} (the correction is for W)"
    if cfg.jumps or cfg.dephasing or cfg.term_rows:
        return "the model has jumps (the correction is derived for closed dynamics)"
    if not isinstance(saveat, SaveAt):
        return "a steady state (the correction is for time-resolved runs)"
    if model.n_sites > MAX_SITES:
        return f"{model.n_sites} sites (the correction runs for at most {MAX_SITES})"
    return None


def nonlinear(model) -> bool:
    """Whether the Hamiltonian has a bilinear term (else its third-order term vanishes)."""
    return bool(model.edges.shape[0]) and bool(np.any(np.asarray(model.coupling) != 0))


def _save_steps(cfg) -> np.ndarray:
    """Steps of each interval between the saved times after the first (the kernel's grid)."""
    ends = [(i + 1) * cfg.block for i, saved in enumerate(cfg.save_blocks or ()) if saved]
    return np.diff(np.concatenate([[0], ends])).astype(np.int32)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _chunk(cfg, dt: float, n_groups: int, steps, model, spin, theta, phi, key, idx, group):
    """The correction's moments over the trajectories ``idx`` (``group``: their jackknife
    groups; ``-1``: padding): ``(count, mean, m2, group sums)`` per value, reduced on the
    device. ``cfg`` carries no trajectory count, so the compilation depends on the
    configuration only; the model is an argument.
    """
    dtype = jnp.dtype(cfg.dtype)
    sampling = "fock" if cfg.fock else "coherent"

    def fn(y):
        alpha, beta = moyal.split(y)
        out = trajectory_values(cfg, alpha, beta, spin)
        return {k: jnp.asarray(v).astype(dtype) for k, v in out.items()}  # bools, ints

    def one(i):
        a, b = initial_sample(key, i, spin, theta, phi, 0, sampling, dtype)
        return moyal.correction_run(model, fn, moyal.join(a, b), dt, steps)

    values = jax.vmap(one)(idx)
    w = (group >= 0).astype(dtype)
    n = w.sum()

    def moments(x):
        wx = w.reshape((-1,) + (1,) * (x.ndim - 1))
        mean = (wx * x).sum(0) / n
        m2 = (wx * (x - mean) ** 2).sum(0)
        gsum = jax.ops.segment_sum(wx * x, jnp.maximum(group, 0), num_segments=n_groups)
        return mean, m2, gsum

    return n, {k: moments(x) for k, x in values.items()}


def _groups(n_c: int, run_counts: np.ndarray) -> np.ndarray:
    """Jackknife groups of the correction's trajectories, in proportion to the run's counts."""
    edges = np.round(np.cumsum(run_counts) / run_counts.sum() * n_c).astype(np.int64)
    return np.searchsorted(edges, np.arange(n_c), side="right").astype(np.int32)


def _one_point(cfg, model, spin, theta, phi, key, group: np.ndarray) -> RunningStats:
    """The correction's statistics of one model (times after the first), merged over chunks
    in float64 (Chan's formula, :meth:`RunningStats.merge`).
    """
    n_c = len(group)
    chunk = min(CHUNK, n_c)  # one shape: the last chunk is padded (group -1)
    static = dataclasses.replace(traced_config(cfg), chunk_size=0, traj_block=0)
    args = (jnp.asarray(_save_steps(cfg)), model, spin, jnp.asarray(theta), jnp.asarray(phi))
    out = None
    for s in range(0, n_c, chunk):
        g = np.full(chunk, -1, np.int32)
        g[: min(chunk, n_c - s)] = group[s : s + chunk]
        n, mom = jax.device_get(
            _chunk(static, float(cfg.dt), cfg.n_groups, *args, key, jnp.arange(s, s + chunk), g)
        )
        part = RunningStats(
            count=float(n),
            mean={k: np.asarray(v[0], np.float64) for k, v in mom.items()},
            m2={k: np.asarray(v[1], np.float64) for k, v in mom.items()},
            group_count=np.bincount(g[g >= 0], minlength=cfg.n_groups).astype(np.float64),
            group_sum={k: np.asarray(v[2], np.float64) for k, v in mom.items()},
            clipped=np.zeros(()),
            nonfinite=np.zeros(()),
        )
        out = part if out is None else out.merge(part)
    assert out is not None
    return out


def correction_stats(cfg, model, state, key, batched: bool, run_counts) -> tuple:
    """The correction's statistics, laid out as the run's (:class:`RunningStats`), and its
    number of trajectories. ``run_counts``: the run's trajectories per jackknife group.
    """
    from .._model.model import _take

    n_c = min(cfg.n_traj, CORRECTION_TRAJ)
    group = _groups(n_c, np.asarray(run_counts, np.float64))
    key = jax.random.fold_in(key, STREAM)
    dtype = np.dtype(cfg.dtype)
    points = range(model.spin.shape[0]) if batched else [None]
    per_point = []
    for b in points:
        m = model if b is None else _take(model, (b,))
        theta, phi = np.asarray(state.theta, dtype), np.asarray(state.phi, dtype)
        if b is not None and theta.ndim == 2:
            theta, phi = theta[b], phi[b]
        per_point.append(_one_point(cfg, m, jnp.asarray(m.spin), theta, phi, key, group))

    def layout(x, axis):  # stack the points, prepend the initial time (zero correction)
        x = np.stack(x, axis=axis)  # (..., B, T, ...)
        if cfg.save_initial:
            pad = np.zeros_like(np.take(x, [0], axis=axis + 1))
            x = np.concatenate([pad, x], axis=axis + 1)
        return x if batched else np.take(x, 0, axis=axis)

    first = per_point[0]
    stats = RunningStats(
        count=float(n_c),
        mean={k: layout([p.mean[k] for p in per_point], 0) for k in first.mean},
        m2={k: layout([p.m2[k] for p in per_point], 0) for k in first.mean},
        group_count=first.group_count,
        group_sum={k: layout([p.group_sum[k] for p in per_point], 1) for k in first.mean},
        clipped=np.zeros(()),
        nonfinite=np.zeros(()),
    )
    return stats, n_c


def _spread_ratio(stats: RunningStats, corr: RunningStats, time_axis: int) -> np.ndarray:
    """Per saved time (and batch point), the largest ratio of the correction's per-trajectory
    standard deviation to the run's, over every value they share: ``([B,] T)``.
    """
    out = None
    for k in corr.mean:
        if k not in stats.mean:
            continue
        sd_run = np.sqrt(stats.m2[k] / stats.count)
        sd_c = np.sqrt(corr.m2[k] / corr.count)
        tiny = 1e-12 * np.maximum(1.0, np.abs(stats.mean[k]))
        r = sd_c / np.maximum(sd_run, tiny)
        r = r.reshape(r.shape[: time_axis + 1] + (-1,)).max(axis=-1)
        out = r if out is None else np.maximum(out, r)
    if out is None:  # the kernel always averages spin_drift, so this is a bug, not input
        raise RuntimeError("the third-order correction shares no value with the run.")
    return out


def shift(stats: RunningStats, corr: RunningStats, time_axis: int) -> tuple[RunningStats, dict]:
    """The run's statistics with the (independent) correction's means added, where it holds.

    The correction is used at the saved times before the first one where its spread ratio
    exceeds :data:`MAX_SPREAD` (per batch point; ``time_axis`` is the position of the time
    axis in the means). Means add; standard errors add in quadrature (``m2`` is set so that
    :meth:`RunningStats.sem` returns ``sqrt(sem_run^2 + sem_corr^2)``); the jackknife groups
    are paired: group ``j`` of the run gets ``own_j c + (n / n_c)(C_j - m_j c)`` (``c`` the
    mean correction, ``C_j``, ``m_j`` the correction's group sum and count, ``own_j`` the run's
    count), so the total is exact and, with counts in proportion (:func:`_groups`), each
    delete-one-group replicate is the run's replicate plus the correction's.

    Returns:
        ``(stats, info)``: ``info`` holds ``spread_ratio`` (largest over the times used),
        ``cut`` (``([B,] T)`` bool, the times not corrected).
    """
    ratio = _spread_ratio(stats, corr, time_axis)
    # a NaN ratio (a failed batch point, whose results are NaN anyway) does not cut
    used = np.logical_and.accumulate((ratio <= MAX_SPREAD) | np.isnan(ratio), axis=time_axis)
    n = stats.count
    mean, m2, gsum = dict(stats.mean), dict(stats.m2), dict(stats.group_sum)
    for k, c in corr.mean.items():
        if k not in mean:
            continue
        w = used.reshape(used.shape + (1,) * (c.ndim - used.ndim)).astype(np.float64)
        var = stats.m2[k] / (n - 1) / n + w * corr.m2[k] / (corr.count - 1) / corr.count
        mean[k] = stats.mean[k] + w * c
        m2[k] = var * (n - 1) * n
        if k in gsum:
            shape = (-1,) + (1,) * c.ndim
            own = stats.group_count.reshape(shape)
            m_j = corr.group_count.reshape(shape)
            dev = corr.group_sum[k] - m_j * c  # the correction's group sums about its mean
            gsum[k] = stats.group_sum[k] + w * (own * c + (n / corr.count) * dev)
    shifted = dataclasses.replace(stats, mean=mean, m2=m2, group_sum=gsum)
    r_used = np.where(used, ratio, 0.0)
    return shifted, {"spread_ratio": float(r_used.max()), "cut": ~used}
