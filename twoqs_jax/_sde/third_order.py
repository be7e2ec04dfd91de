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

Where it applies (:func:`applies`): Wigner representation, no jump of any kind, a
time-resolved run (:class:`twoqs_jax.SaveAt`), at most :data:`MAX_SITES` sites (the tensors
carried per trajectory grow as ``(4 n)^3``). Derivation and measurements:
``docs/methods/fidelity.md#third-order``.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._phase_space import moyal
from .._saveat import SaveAt
from .kernel import initial_sample, trajectory_values
from .statistics import RunningStats

MAX_SITES = 2
"""Largest number of sites the correction runs for (``(4 n)^4`` derivatives per step)."""

CORRECTION_TRAJ = 4096
"""Trajectories of the correction (fewer if the run has fewer): its per-trajectory spread is
a few per cent of the observables' own (measured: ``docs/methods/fidelity.md#third-order``),
so these add little to the standard errors, which include them."""

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


@functools.partial(jax.jit, static_argnums=(0, 1))
def _corrections(cfg, dt: float, model, spin, theta, phi, key, idx):
    """``(len(idx), n_blocks, ...)`` corrections of the kernel's per-trajectory values of the
    trajectories ``idx`` (compiled once per configuration; the model is an argument).
    """
    dtype = jnp.dtype(cfg.dtype)
    sampling = "fock" if cfg.fock else "coherent"

    def fn(y):
        alpha, beta = moyal.split(y)
        return trajectory_values(cfg, alpha, beta, spin)

    def one(i):
        a, b = initial_sample(key, i, spin, theta, phi, 0, sampling, dtype)
        return moyal.correction_run(model, fn, moyal.join(a, b), dt, cfg.block, cfg.n_blocks)

    return jax.vmap(one)(idx)


def _one_point(cfg, model, spin, theta, phi, key, n_c: int, dt: float):
    """:func:`_corrections` of trajectories ``0 .. n_c - 1`` in chunks, as float64 NumPy."""
    args = (model, spin, jnp.asarray(theta), jnp.asarray(phi), key)
    chunk = min(CHUNK, n_c)  # one shape: the last chunk is padded, the extra rows dropped
    parts = [
        jax.device_get(_corrections(cfg, dt, *args, jnp.arange(s, s + chunk)))
        for s in range(0, n_c, chunk)
    ]
    return {k: np.concatenate([p[k] for p in parts])[:n_c].astype(np.float64) for k in parts[0]}


def correction_stats(cfg, model, state, key, batched: bool) -> tuple[RunningStats, int]:
    """The correction's statistics, laid out as the run's (:class:`RunningStats`)."""
    from .._model.model import _take

    n_c = min(cfg.n_traj, CORRECTION_TRAJ)
    g = cfg.n_groups
    group = np.arange(n_c) * g // n_c
    group_count = np.bincount(group, minlength=g).astype(np.float64)
    key = jax.random.fold_in(key, STREAM)
    dt = float(cfg.dt)
    dtype = np.dtype(cfg.dtype)
    points = range(model.spin.shape[0]) if batched else [None]
    per_point = []
    for b in points:
        m = model if b is None else _take(model, (b,))
        theta, phi = np.asarray(state.theta, dtype), np.asarray(state.phi, dtype)
        if b is not None and theta.ndim == 2:
            theta, phi = theta[b], phi[b]
        spin = jnp.asarray(m.spin)
        per_point.append(_one_point(cfg, m, spin, theta, phi, key, n_c, dt))
    keep = [i for i, s in enumerate(cfg.save_blocks or ()) if s]
    mean, m2, gsum = {}, {}, {}
    for k in per_point[0]:
        x = np.stack([p[k] for p in per_point], axis=1)  # (n_c, B, n_blocks, ...)
        x = x[:, :, keep]
        if cfg.save_initial:
            x = np.concatenate([np.zeros_like(x[:, :, :1]), x], axis=2)
        if not batched:
            x = x[:, 0]
        mean[k] = x.mean(axis=0)
        m2[k] = ((x - mean[k]) ** 2).sum(axis=0)
        gsum[k] = np.stack([x[group == j].sum(axis=0) for j in range(g)])
    stats = RunningStats(
        count=float(n_c),
        mean=mean,
        m2=m2,
        group_count=group_count,
        group_sum=gsum,
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
    are paired, group ``j`` of the run taking the mean correction of group ``j`` (the overall
    one where that group is empty), so each delete-one-group replicate is the run's replicate
    plus the correction's.

    Returns:
        ``(stats, info)``: ``info`` holds ``spread_ratio`` (largest over the times used),
        ``cut`` (``([B,] T)`` bool, the times not corrected).
    """
    ratio = _spread_ratio(stats, corr, time_axis)
    used = np.logical_and.accumulate(ratio <= MAX_SPREAD, axis=time_axis)
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
            gc = corr.group_count.reshape((-1,) + (1,) * c.ndim)
            with np.errstate(invalid="ignore", divide="ignore"):
                gmean = np.where(gc > 0, corr.group_sum[k] / np.maximum(gc, 1), c)
            own = stats.group_count.reshape(gc.shape)
            gsum[k] = stats.group_sum[k] + own * w * gmean
    shifted = RunningStats(
        count=stats.count,
        mean=mean,
        m2=m2,
        group_count=stats.group_count,
        group_sum=gsum,
        clipped=stats.clipped,
        nonfinite=stats.nonfinite,
    )
    r_used = np.where(used, ratio, 0.0)
    return shifted, {"spread_ratio": float(r_used.max()), "cut": ~used}
