"""Differentiable TWOQS: gradients of observables w.r.t. model parameters.

The estimator is a Module (:mod:`twoqs_jax._estimators`): :class:`Pathwise` (the default,
described below), :class:`LikelihoodRatio` (the score of every step, from
:mod:`twoqs_jax._score`, weighting the observables; full memory or, for steady states, a
triangular memory taper), :class:`FiniteDifference` (every trajectory run at ``p`` and
``p +- h e_j`` with the same random numbers, :mod:`twoqs_jax._finite_difference`) or
:class:`Auto` (a pilot run picks one of the first two). All produce per-trajectory values
and per-trajectory derivative estimates, reduced by the same statistics below. Derivations and measurements: ``docs/methods/gradients.md``.

Pathwise: for a parametrised model ``M(p)`` every trajectory ``i`` is a deterministic, differentiable
function of ``p`` once its random numbers are fixed (common random numbers: trajectory ``i``
draws the same numbers, from ``(key, i)``, as in :func:`twoqs_jax.solve`, so the values equal
the solve's estimates for the same key and settings). Per trajectory the primitive moments
are recorded at the saving times (:class:`SaveAt`) or time-averaged over the window
(:class:`SteadyState`) and differentiated along the path (``jax.jvp`` per parameter, or
``jax.jacrev`` with ``jax.checkpoint`` on each block, through the ``lax.scan`` of steps).

- A *linear* observable ``O`` (e.g. ``Sz``) is averaged per trajectory: ``d<O>/dp`` is the
  mean of the per-trajectory derivatives, with their standard error.
- A *nonlinear* observable ``O = f(m)`` of primitive means ``m`` (variances, ``xi2``) gets
  ``d<O>/dp = sum_q (df/dm_q) dm_q/dp`` by the chain rule over the moments (``jax.jvp`` of
  ``f``), with a delete-one-group jackknife standard error (the groups of :func:`twoqs_jax.solve`:
  trajectory ``i`` in block ``i // B``, block ``b`` in group ``b mod n_groups``), like its
  value.

Non-smooth points: the Wigner decay noise amplitude ``sqrt(max(|alpha|^2 - 1/2, 0))`` is
clipped at 0; there the path is continuous but not differentiable, and a parameter change
that moves a trajectory across the clip boundary is not seen by the pathwise derivative.
The square root is evaluated safely (derivative 0 where clipped, no NaN). The bias this
leaves is measured against finite differences and exact results in tests/test_gradient.py.
"""

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._checks import check_in, check_int
from ._keys import key_info, resolve_key
from ._methods import TWOQS
from ._model.model import SpinModel
from ._model.states import SpinCoherentState
from ._observables import PRIMITIVES, Observable, resolve
from ._options import Options
from ._phase_space.drift import split
from ._phase_space.lowering import lower
from ._sde import third_order
from ._sde.config import kernel_config
from ._sde.kernel import (
    block_noise,
    initial_sample,
    noise_layout,
    observed,
    scan_blocks,
    step_increments,
    trajectory_step,
    trajectory_values,
)
from ._sde.statistics import RunningStats, traj_block
from ._twoqs import resolve_dtype
from ._validity import TWOQSAccuracyWarning

# The likelihood ratio warns when more than this fraction of its site-steps had no score
# (``lr_unmatched_fraction``, always in the stats): those steps' terms are missing from the
# score. With the tangential noise, measured on the driven spin above threshold, about 1e-5
# of the site-steps are unmatched (docs/methods/gradients.md).
LR_UNMATCHED_WARN = 1e-4


class Gradient(eqx.Module):
    """Result of :func:`gradient`.

    Attributes:
        times: ``(T,)`` saving times, or ``None`` for a steady state.
        mean, sem: observable name -> value and its standard error (as in :class:`Solution`).
        grad, grad_sem: observable name -> PyTree shaped like ``params`` whose leaves have
            the observable's shape followed by the leaf's shape: ``d<O>/dp`` and its
            standard error.
        stats: run information (n_traj, dt, mode, clip fraction, ...).
    """

    times: np.ndarray | None
    mean: dict
    sem: dict
    grad: dict
    grad_sem: dict
    stats: dict = eqx.field(static=True)

    def __getitem__(self, name):
        """``g["Sz"]`` is ``g.mean["Sz"]``."""
        return self.mean[name]


def _safe_sqrt(x):
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1)), 0)


def _trajectory(cfg, make_model, params, theta, phi, key, i):
    """Per-trajectory values (linear observables, grouped primitives) at the saving times or
    time-averaged, as functions of ``params``; and the trajectory's clipped site-steps.
    """
    dtype = jnp.dtype(cfg.dtype)
    model = jax.tree.map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x,
        lower(make_model(params)),
    )
    spin = lax.stop_gradient(model.spin)
    n = spin.shape[0]
    sampling = "fock" if cfg.fock else "coherent"
    a, b = initial_sample(key, i, spin, theta, phi, cfg.k, sampling, dtype)
    r0 = jnp.sqrt(jnp.abs(a) ** 2 + jnp.abs(b) ** 2)
    length = noise_layout(cfg, n)[0]

    def observe(z):
        x, y = observed(cfg, z, r0)
        return trajectory_values(cfg, x, y, spin)

    def noise_at(s0):
        return block_noise(cfg, key, i, s0, length, n, dtype)

    def advance(carry, noise, offsets):
        def step(carry, s):
            z, clip, acc = carry
            z, c = trajectory_step(
                cfg, model, z, step_increments(cfg, noise, s, dtype), r0, _safe_sqrt
            )
            return (z, clip + c, acc), None

        return lax.scan(step, carry, offsets)[0]

    z0 = split(a, b)
    template = observe(z0)
    steady = cfg.avg_from is not None

    def end_of_block(carry, ib):
        z, clip, acc = carry
        if steady:
            on = ib >= cfg.avg_from
            acc = jax.tree.map(lambda s, v: s + jnp.where(on, v, 0), acc, observe(z))
            return (z, clip, acc), None
        return (z, clip, acc), observe(z)

    acc0 = jax.tree.map(jnp.zeros_like, template)
    init = (z0, jnp.zeros((), jnp.int32), acc0)
    (_, clip, acc), outs = scan_blocks(
        cfg, n, init, noise_at, advance, end_of_block, wrap=jax.checkpoint
    )
    if steady:
        return jax.tree.map(lambda v: v / (cfg.n_blocks - cfg.avg_from), acc), clip
    keep = np.flatnonzero(np.asarray(cfg.save_blocks))
    vals = jax.tree.map(
        lambda first, rest: jnp.concatenate([first[None], rest[keep]], axis=0), template, outs
    )
    return vals, clip


@functools.lru_cache(maxsize=16)
def _compiled_gradient(cfg, make_model, mode, treedef, shapes, n_par, dtype):
    """``jit(vmap(per_trajectory))``: values, derivatives (parameters last) and clip counts of
    a chunk of trajectories; cached, so repeated gradients (finite-difference checks,
    parameter scans) with the same ``make_model`` and settings compile once.
    """
    sizes = [int(np.prod(s)) for s in shapes]

    def unflatten(v):
        parts = jnp.split(v, np.cumsum(sizes)[:-1]) if len(sizes) > 1 else [v]
        return treedef.unflatten([q.reshape(s) for q, s in zip(parts, shapes, strict=True)])

    def f(v, theta, phi, key, i):
        return _trajectory(cfg, make_model, unflatten(v), theta, phi, key, i)

    if mode == "reverse":

        def per_traj(v, theta, phi, key, i):
            vals, clip = f(v, theta, phi, key, i)
            jac = jax.jacrev(lambda w: f(w, theta, phi, key, i)[0])(v)
            return vals, jac, clip
    else:
        basis = jnp.eye(n_par, dtype=dtype)

        def per_traj(v, theta, phi, key, i):
            def one(t):
                return jax.jvp(lambda w: f(w, theta, phi, key, i), (v,), (t,), has_aux=True)

            vals, tang, clip = jax.vmap(one)(basis)
            vals = jax.tree.map(lambda x: x[0], vals)
            tang = jax.tree.map(lambda x: jnp.moveaxis(x, 0, -1), tang)  # params last
            return vals, tang, clip[0]

    return jax.jit(jax.vmap(per_traj, in_axes=(None, None, None, None, 0)))


def _flat_params(params):
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype=float), params)
    leaves, treedef = jax.tree.flatten(params)
    sizes = [int(np.size(x)) for x in leaves]
    vec = jnp.concatenate([jnp.reshape(x, (-1,)) for x in leaves]) if leaves else jnp.zeros(0)

    def unflatten(v):
        parts = jnp.split(v, np.cumsum(sizes)[:-1]) if len(sizes) > 1 else [v]
        return treedef.unflatten([q.reshape(np.shape(x)) for q, x in zip(parts, leaves)])

    return params, vec, unflatten, leaves, treedef


def _grad_tree(array, leaves, treedef):
    """Split the trailing parameter axis of ``array`` into a PyTree shaped like params."""
    sizes = [int(np.size(x)) for x in leaves]
    parts = np.split(array, np.cumsum(sizes)[:-1], axis=-1) if len(sizes) > 1 else [array]
    return treedef.unflatten(
        [p.reshape(array.shape[:-1] + np.shape(x)) for p, x in zip(parts, leaves)]
    )


def gradient(
    make_model: Callable[[Any], SpinModel],
    params: Any,
    state: Any,
    saveat: Any,
    method: TWOQS,
    *,
    n_traj: int,
    key: int | jax.Array,
    observables: str | Sequence[Any] = ("Sz",),
    options: Options | None = None,
    mode: str = "forward",
    estimator: Any = None,
) -> Gradient:
    r"""Gradients of TWOQS observables w.r.t. model parameters (module docstring).

    Args:
        make_model: ``params -> SpinModel`` (traceable in ``params``), e.g.
            ``lambda p: tq.driven_spin(20, p["Omega"])``.
        params: PyTree of float parameters (a float, an array or a dict of them).
        state: :class:`SpinCoherentState` (at ``saveat.ts[0]``).
        saveat: :class:`SaveAt` (time-resolved gradients) or :class:`SteadyState`.
        method: a :class:`TWOQS` method.
        n_traj, key: as :func:`twoqs_jax.solve` (same random numbers).
        observables: names or :class:`Observable` / :class:`PhaseSpaceFunction` objects;
            linear and nonlinear ones (variances, ``xi2``: chain rule over the moments).
        options: :class:`Options` (``chunk_size``, default 1024; ``dtype``).
        mode: ``"forward"`` or ``"reverse"``: the mode of the default pathwise estimator
            (the same as ``estimator=tq.Pathwise(mode)``).
        estimator: ``None`` (default): :class:`Pathwise` with ``mode``; or
            :class:`Pathwise`, :class:`LikelihoodRatio` (drift parameters; needs the
            spin-length constraint), :class:`FiniteDifference` (central differences with
            common random numbers; every parameter) or :class:`Auto` (a pilot run chooses; see
            :mod:`twoqs_jax._estimators` and ``docs/methods/gradients.md``).

    Returns:
        :class:`Gradient` (``mean``, ``sem``, ``grad``, ``grad_sem``); ``stats["estimator"]``
        names the estimator used (and ``stats["reason"]`` why, for :class:`Auto`).

    Examples:
        >>> import twoqs_jax as tq
        >>> g = tq.gradient(lambda om: tq.driven_spin(20, om), 0.5, tq.spin_down(),
        ...                 tq.SteadyState(t_burn=5.0, t_avg=5.0),
        ...                 tq.TWOQS(tq.EulerMaruyama(dt=0.02)), n_traj=64, key=0)
        >>> float(g.grad["Sz"][0]) > 0
        True
    """
    from ._estimators import AbstractEstimator, Auto, FiniteDifference, LikelihoodRatio, Pathwise

    if not callable(make_model):
        raise ValueError(f"`make_model` must be callable, got {type(make_model).__name__}.")
    if not isinstance(method, TWOQS):
        raise ValueError(f"`method` must be a tq.TWOQS method, got {method!r}.")
    if method.correction == "third_order":
        raise ValueError(
            "`correction`='third_order': gradients are of plain TWOQS (the third-order "
            "correction of closed dynamics is not differentiated); use correction='auto' or "
            "None."
        )
    check_in("mode", mode, ("forward", "reverse"))
    if estimator is None:
        estimator = Pathwise(mode)
    elif not isinstance(estimator, AbstractEstimator):
        raise ValueError(
            "`estimator` must be None, tq.Pathwise(), tq.LikelihoodRatio(...), "
            "tq.FiniteDifference(h=...) or tq.Auto(), "
            f"got {estimator!r}."
        )
    elif mode != "forward":
        raise ValueError(
            f"`mode`={mode!r} is an option of the pathwise estimator: pass "
            f"estimator=tq.Pathwise(mode={mode!r}) instead of both."
        )
    options = Options() if options is None else options
    params, vec, unflatten, leaves, treedef = _flat_params(params)
    model0 = make_model(params)
    if not isinstance(model0, SpinModel) or model0.spin.ndim != 1:
        raise ValueError("`make_model(params)` must return one (unbatched) twoqs_jax.SpinModel.")
    model0.validate()
    if not isinstance(state, SpinCoherentState) or state.theta.shape != model0.spin.shape:
        raise ValueError(f"`state` must be a SpinCoherentState with {model0.n_sites} sites.")
    n_traj = check_int("n_traj", n_traj, minimum=2)
    seed = key if isinstance(key, int | np.integer) and not isinstance(key, bool) else None
    key = resolve_key(key)
    observables = resolve(observables, model0.n_sites, "twoqs", PRIMITIVES)
    chunk = options.chunk_size if options.chunk_size is not None else 1024
    chunk = min(check_int("chunk_size", chunk, minimum=1), n_traj)
    dtype = resolve_dtype(options.dtype)
    run = _Run(make_model, vec, leaves, treedef, state, saveat, method, dtype, model0)
    if isinstance(estimator, FiniteDifference):
        from ._finite_difference import check_points

        run.points = check_points(
            make_model, vec, unflatten, estimator.h, estimator.richardson, dtype
        )
    reason = None
    if isinstance(estimator, LikelihoodRatio | Auto):
        from ._score import noise_parameters

        noisy = noise_parameters(make_model, params)
        lr_problem = _lr_problem(method, noisy)
        if isinstance(estimator, LikelihoodRatio) and lr_problem:
            raise ValueError(f"`estimator`=tq.LikelihoodRatio(): {lr_problem}")
        if isinstance(estimator, Auto):
            estimator, reason = _auto(run, estimator, observables, lr_problem)
    memory = None
    if isinstance(estimator, LikelihoodRatio):
        memory = _lr_memory(run, estimator, observables, reason)
        if isinstance(memory, tuple) and reason is None:
            reason = "named by the user"
    stats, info = run.statistics(estimator, memory, observables, n_traj, chunk, key)
    info["key"] = key_info(key, seed)
    if reason is not None:
        info["reason"] = reason
    spin = np.asarray(model0.spin, np.float64)
    if run.grid.times is not None:
        spin = spin[None, :]
    n_par = int(vec.shape[0])
    mean, sem, grad, grad_sem = {}, {}, {}, {}
    for o in observables:
        name = o.name
        if name in stats.mean or name + "__re" in stats.mean:
            if name in stats.mean:
                v, dv = stats.mean[name], stats.mean["d/" + name]
                sv, sdv = stats.sem(name), stats.sem("d/" + name)
            else:
                v = stats.mean[name + "__re"] + 1j * stats.mean[name + "__im"]
                dv = stats.mean["d/" + name + "__re"] + 1j * stats.mean["d/" + name + "__im"]
                sv = stats.sem(name + "__re") + 1j * stats.sem(name + "__im")
                sdv = stats.sem("d/" + name + "__re") + 1j * stats.sem("d/" + name + "__im")
        else:
            v, sv, dv, sdv = _chain_rule(stats, o, spin, n_par)
        mean[name], sem[name] = np.asarray(v), np.asarray(sv)
        grad[name] = _grad_tree(np.asarray(dv), leaves, treedef)
        grad_sem[name] = _grad_tree(np.asarray(sdv), leaves, treedef)
    wanted = {o.name for o in observables}
    wanted |= {p for o in observables for p in getattr(o, "needs", ())}
    tails = {
        k[5:]: (np.asarray(stats.mean[k]), np.asarray(stats.sem(k)))
        for k in stats.mean
        if k.startswith("tail/") and k[5:].split("__")[0] in wanted
    }
    if tails:
        # G(2 m0) - G(m0) and its paired sem (observable shape, parameters last), as lists
        info["tail_test"] = {k: (m.tolist(), e.tolist()) for k, (m, e) in tails.items()}
        info["tail_warning"] = bool(any(np.any(np.abs(m) > 3 * e) for m, e in tails.values()))
        if info["tail_warning"]:
            warnings.warn(
                "the likelihood-ratio gradient changes by more than 3 standard errors when its "
                f"memory is doubled (stats['tail_test']): memory {memory} is too short; pass "
                "a longer tq.LikelihoodRatio(memory=(m0, width)) and a t_burn >= 2 m0 + width.",
                stacklevel=2,
            )
    return Gradient(
        times=None if run.grid.times is None else np.asarray(run.grid.times),
        mean=mean,
        sem=sem,
        grad=grad,
        grad_sem=grad_sem,
        stats=info,
    )


def _lr_problem(method, noisy: bool) -> str:
    """Why the likelihood-ratio estimator does not apply ('' when it does)."""
    if getattr(method.scheme, "requires_tangential", False):  # tq.WeakOrder2
        return (
            f"the likelihood-ratio score is derived for the Euler-Maruyama step (Gaussian "
            f"transition), not for `scheme`={method.scheme!r}: use tq.Pathwise()."
        )
    if method.constraint != "spin_length":
        return (
            "the likelihood-ratio score needs the spin-length constraint "
            "(tq.TWOQS(scheme, constraint='spin_length'), the default): without it the "
            "radial direction must be matched by clipped Wigner noise and the weights explode."
        )
    if noisy:
        return (
            "`params` move jump rates (the noise amplitudes); the likelihood ratio covers drift "
            "parameters only: use tq.Pathwise(), or reparametrise (e.g. the driven spin's "
            "steady state depends on Omega / Gamma only)."
        )
    return ""


class _Run:
    """One gradient problem: runs the pathwise, likelihood-ratio or finite-difference chunks
    and reduces them.
    """

    def __init__(self, make_model, vec, leaves, treedef, state, saveat, method, dtype, model0):
        self.make_model, self.vec, self.leaves, self.treedef = make_model, vec, leaves, treedef
        self.state, self.saveat, self.method, self.dtype = state, saveat, method, dtype
        self.model0 = model0
        self.points = None  # the finite-difference points (K, n_par), when that estimator runs
        self.theta = jnp.asarray(state.theta, dtype)
        self.phi = jnp.asarray(state.phi, dtype)
        sz = resolve(("Sz",), model0.n_sites, "twoqs", PRIMITIVES)
        _, self.grid = kernel_config(lower(model0), saveat, method, sz, 2, 2, dtype)

    def config(self, observables, n_traj, chunk):
        cfg, grid = kernel_config(
            lower(self.model0), self.saveat, self.method, observables, n_traj, chunk, self.dtype
        )
        return cfg

    def block_time(self, cfg) -> float:
        return cfg.block * cfg.dt

    def chunks(self, estimator, memory, observables, n_traj, chunk, key, extra=()):
        """Yield ``(start, n_valid, piece, clipped, unmatched, cfg)`` per chunk: per-trajectory
        values ``piece[name]`` and estimator values ``piece["d/" + name]`` (parameters last).
        """
        from ._estimators import FiniteDifference, LikelihoodRatio

        lr = isinstance(estimator, LikelihoodRatio)
        fd = isinstance(estimator, FiniteDifference)
        obs = tuple(observables) + tuple(extra)
        drop = ()
        if lr and isinstance(memory, tuple) and "spin_drift" not in {o.name for o in obs}:
            from ._observables import OBSERVABLES

            obs, drop = obs + (OBSERVABLES["spin_drift"],), ("spin_drift",)  # the lengths
        cfg = self.config(obs, n_traj, chunk)
        shapes = tuple(tuple(np.shape(x)) for x in self.leaves)
        if lr:
            from ._score import compiled_lr

            record = self._record(cfg, memory)
            build = (cfg, self.make_model, self.treedef, shapes, record)
            fn = _cached(compiled_lr, build)
        elif fd:
            from ._finite_difference import compiled_points
            from ._finite_difference import piece as fd_piece

            fn = _cached(compiled_points, (cfg, self.make_model, self.treedef, shapes))
            points = jnp.asarray(self.points, self.vec.dtype)
        else:
            build = (cfg, self.make_model, estimator.mode, self.treedef, shapes, len(self.vec))
            fn = _cached(_compiled_gradient, build + (str(self.vec.dtype),))
        for c in range(-(-n_traj // chunk)):
            full = c * chunk + np.arange(chunk)  # one shape for every chunk: one compilation
            n_valid = int(np.sum(full < n_traj))
            out = fn(
                points if fd else self.vec, self.theta, self.phi, key, jnp.asarray(full, jnp.int32)
            )
            out = jax.tree.map(lambda x: x[:n_valid], jax.device_get(out))  # noqa: B023
            if fd:
                vals, clip = out
                est = estimator
                part = fd_piece(vals, self.points, est.h, est.richardson)
                yield c * chunk, n_valid, part, float(np.sum(clip[:, 0])), 0.0, cfg
            elif lr:
                vals, Ws, unmatched = out
                piece = self._lr_piece(cfg, memory, vals, Ws, drop)
                yield c * chunk, n_valid, piece, 0.0, float(np.sum(unmatched)), cfg
            else:
                vals, tang, clip = out
                piece = {}
                for k, v in vals.items():
                    piece[k] = np.asarray(v, np.float64)
                    piece["d/" + k] = np.asarray(tang[k], np.float64)
                yield c * chunk, n_valid, piece, float(np.sum(clip)), 0.0, cfg

    def _record(self, cfg, memory):
        """Block indices whose end states the likelihood-ratio run records."""
        if cfg.avg_from is None:
            return tuple(int(i) for i in np.flatnonzero(np.asarray(cfg.save_blocks)))
        first = cfg.avg_from
        if isinstance(memory, tuple):
            first -= _memory_blocks(self, cfg, memory)[2]
        return tuple(range(first, cfg.n_blocks))

    def _lr_piece(self, cfg, memory, vals, Ws, drop=()):
        from ._estimators import length_control, lr_tapered, lr_time, lr_window

        vals = {k: np.asarray(v, np.float64) for k, v in vals.items()}
        Ws = np.asarray(Ws, np.float64)
        piece = {}
        if cfg.avg_from is None:  # time-resolved: the initial state (score 0) and saves
            for k, f in vals.items():
                piece[k], piece["d/" + k] = f, lr_time(f, Ws)
            return piece
        vals = {k: v[:, 1:] for k, v in vals.items()}  # drop the initial state
        Ws = Ws[:, 1:]
        if not isinstance(memory, tuple):
            for k, f in vals.items():
                piece[k], piece["d/" + k] = f.mean(1), lr_window(f, Ws)
            return piece
        m0, width, n_skip, tail = _memory_blocks(self, cfg, memory)
        lengths = vals["spin_drift"][:, 0] if self.method.constraint else None
        for k, f in vals.items():
            if k in drop:
                continue
            piece[k] = f[:, n_skip:].mean(1)
            if lengths is not None and k != "spin_drift":  # control variate (unbiased)
                f = length_control(f, lengths, n_skip)
            piece["d/" + k] = lr_tapered(f, Ws, n_skip, m0, width)
            if tail:
                piece["tail/" + k] = lr_tapered(f, Ws, n_skip, 2 * m0, width) - piece["d/" + k]
        return piece

    def statistics(self, estimator, memory, observables, n_traj, chunk, key):
        from ._estimators import FiniteDifference, LikelihoodRatio

        stats, clips, unmatched, cfg = None, 0.0, 0.0, None
        for start, n_valid, piece, clip, bad_steps, chunk_cfg in self.chunks(
            estimator, memory, observables, n_traj, chunk, key
        ):
            cfg = chunk_cfg
            clips += clip
            unmatched += bad_steps
            bad = np.zeros(n_valid, bool)
            for v in piece.values():
                bad |= ~np.all(np.isfinite(v.reshape(n_valid, -1)), axis=1)
            if np.any(bad):
                raise RuntimeError(
                    f"TWOQS trajectories blew up: {int(np.sum(bad))} trajectories gave a "
                    "non-finite value or derivative. The step is unstable; use a smaller `dt`."
                )
            idx = start + np.arange(n_valid)  # global trajectory indices
            # jackknife groups as in tq.solve: block b = i // B in group b mod G
            groups = (idx // traj_block(n_traj, self.method.n_groups)) % self.method.n_groups
            out = {
                "mean": {k: v.mean(0) for k, v in piece.items()},
                "m2": {k: ((v - v.mean(0)) ** 2).sum(0) for k, v in piece.items()},
                "gsum": {
                    k: np.stack([v[groups == g].sum(0) for g in range(self.method.n_groups)])
                    for k, v in piece.items()
                },
                "clipped": 0.0,
                "bad": 0.0,
            }
            gcount = np.bincount(groups, minlength=self.method.n_groups)
            s = RunningStats.from_chunk(out, n_valid, gcount)
            stats = s if stats is None else stats.merge(s)
        n_steps = cfg.block * cfg.n_blocks
        site_steps = n_traj * n_steps * self.model0.n_sites
        lr = isinstance(estimator, LikelihoodRatio)
        info = {
            "n_traj": n_traj,
            "dt": cfg.dt,
            "n_steps": n_steps,
            "estimator": type(estimator).__name__,
            "representation": self.method.representation,
            "sampling": self.method.sampling,
            "constraint": self.method.constraint,
        }
        third = third_order.reason_not(self.method, cfg, self.model0, self.saveat)
        if self.method.correction and third is None and third_order.nonlinear(self.model0):
            info["third_order"] = {"applied": False, "reason": "not differentiated"}
            warnings.warn(
                "tq.gradient: the values and gradients are of plain TWOQS; tq.solve adds the "
                "third-order correction of closed dynamics to this model's values "
                "(docs/methods/fidelity.md#third-order). Pass correction=None to both for "
                "the same numbers.",
                TWOQSAccuracyWarning,
                stacklevel=3,
            )
        if lr:
            info["memory"] = memory
            if isinstance(memory, tuple):
                info["control_variate"] = "spin lengths (cross-fitted)"
            info["lr_unmatched_fraction"] = unmatched / site_steps
            if unmatched > LR_UNMATCHED_WARN * site_steps:
                warnings.warn(
                    f"the likelihood-ratio score could not match the drift's tangent in "
                    f"{unmatched / site_steps:.3g} of the site-steps (no noise drives a needed "
                    "direction there): the gradient is biased; use tq.Pathwise().",
                    stacklevel=3,
                )
        elif isinstance(estimator, FiniteDifference):
            info.update(h=estimator.h, richardson=estimator.richardson, n_points=len(self.points))
            info["clip_fraction"] = clips / site_steps  # of the run at p
        else:
            info["mode"] = estimator.mode
            info["clip_fraction"] = clips / site_steps
        if self.grid.window is not None:
            info.update(t_burn=self.grid.window[0], t_avg=self.grid.window[1])
        return stats, info


def _cached(factory, build):
    try:
        hash(build)
        return factory(*build)
    except TypeError:  # an unhashable make_model: compile without the cache
        return factory.__wrapped__(*build)


def _memory_blocks(run, cfg, memory):
    """``(m0, width, n_skip, tail)`` in blocks for a memory ``(m0, width)`` in time units."""
    bt = run.block_time(cfg)
    m0 = max(int(round(memory[0] / bt)), 1)
    width = int(round(memory[1] / bt))
    need = m0 + width
    if cfg.avg_from < need:
        raise ValueError(
            f"the likelihood-ratio memory (m0, width) = {memory} needs t_burn >= m0 + width = "
            f"{need * bt:g} (every memory window must lie after the start; better "
            f"t_burn >= relaxation + 2 m0 + width, which also gives the tail test), got "
            f"t_burn = {run.grid.window[0]:g}."
        )
    tail = cfg.avg_from >= 2 * m0 + width
    return m0, width, (2 * m0 + width) if tail else need, tail


def _lr_memory(run, estimator, observables, reason):
    """The memory of a likelihood-ratio run: ``None`` (full) or ``(m0, width)``."""
    memory = estimator.memory
    if run.grid.window is None:
        if memory is not None:
            raise ValueError(
                f"`memory`={memory!r} of tq.LikelihoodRatio applies to steady states; a "
                "tq.SaveAt gradient uses the full memory (memory=None)."
            )
        return None
    if memory == "auto":
        pil = _pilot(run, 256, 987654, observables, pathwise=False)
        return pil["memory"]
    return memory


def _pilot(run, n_pilot, pilot_key, observables, pathwise=True):
    """Pilot run: LR records (and optionally the pathwise derivative) on ``n_pilot``
    trajectories; the correlation summary, the memory rule and the per-trajectory variances.
    """
    from ._estimators import (
        COST_LR,
        COST_PATHWISE,
        PLATEAU_LAGS,
        PLATEAU_Z,
        Pathwise,
        autocovariance,
        correlation_summary,
        long_lag_level,
        lr_tapered,
        lr_time,
        lr_window,
        memory_rule,
    )
    from ._observables import OBSERVABLES
    from ._score import compiled_lr

    key = resolve_key(pilot_key)
    first = [OBSERVABLES[a] for a in ("Sx", "Sy", "Sz") if a not in {o.name for o in observables}]
    extra = tuple(first) + (OBSERVABLES["spin_drift"],)
    if "spin_drift" in {o.name for o in observables}:
        extra = tuple(first)
    obs = tuple(observables) + extra
    cfg = run.config(obs, n_pilot, n_pilot)
    shapes = tuple(tuple(np.shape(x)) for x in run.leaves)
    steady = cfg.avg_from is not None
    record = tuple(range(cfg.n_blocks)) if steady else run._record(cfg, None)
    fn = _cached(compiled_lr, (cfg, run.make_model, run.treedef, shapes, record))
    vals, Ws, _ = jax.device_get(
        fn(run.vec, run.theta, run.phi, key, jnp.arange(n_pilot, dtype=jnp.int32))
    )
    vals = {k: np.asarray(v, np.float64) for k, v in vals.items()}
    Ws = np.asarray(Ws, np.float64)
    wanted = {o.name for o in observables}
    wanted |= {p for o in observables for p in getattr(o, "needs", ())}
    linear = [k for k in vals if k.split("__")[0] in wanted]
    out = {"cost_pw": COST_PATHWISE, "cost_lr": COST_LR}
    if not steady:
        out["var_lr"] = sum(float(np.sum(np.var(lr_time(vals[k], Ws), 0))) for k in linear)
    else:
        bt = run.block_time(cfg)
        a0 = cfg.avg_from + 1  # records: initial state, then every block end
        summaries = []
        for k in ("Sx", "Sy", "Sz"):
            f = vals[k][:, a0:]
            for i in range(f.shape[-1]):
                g = f[..., i]
                if "spin_drift" in vals:  # regress out the conserved spin lengths
                    x = vals["spin_drift"][:, a0:, i].mean(1)
                    x = x - x.mean()
                    if np.var(x) > 0:
                        beta = np.cov(g.mean(1), x)[0, 1] / np.var(x, ddof=1)
                        g = g - beta * x[:, None]
                q = correlation_summary(autocovariance(g, g.shape[1] // 2), bt)
                # mixing: the correlation left at separations beyond 3 of its own tau_e
                lag = int(math.ceil(PLATEAU_LAGS * q["tau_e"] / bt))
                q["plateau"], q["plateau_sem"], q["plateau_lag"] = long_lag_level(g, lag)
                q["name"] = f"{k}[{i}]"
                summaries.append(q)
        slow = max(summaries, key=lambda q: q["tau_e"])
        period = next((q["period"] for q in summaries if q["period"]), None)
        memory = memory_rule(slow["tau_e"], period)
        # the decision: the level nearest to a refusal; the report: the largest level
        stuck = max(summaries, key=lambda q: q["plateau"] - PLATEAU_Z * q["plateau_sem"])
        top = max(summaries, key=lambda q: q["plateau"])
        out.update(
            tau_e=slow["tau_e"],
            period=period,
            plateau=stuck["plateau"],
            plateau_sem=stuck["plateau_sem"],
            mixing=(
                f"largest long-lag level {top['plateau']:.3f} +- {top['plateau_sem']:.3f} "
                f"({top['name']} at separations >= {top['plateau_lag'] * bt:.3g})"
            ),
            memory=memory,
        )
        t_total = run.grid.window[0] + run.grid.window[1]
        m0, width = max(int(round(memory[0] / bt)), 1), int(round(memory[1] / bt))
        Wr = Ws[:, 1:]
        out["memory_fits"] = cfg.avg_from >= m0 + width
        if out["memory_fits"] and cfg.n_blocks - cfg.avg_from >= 2:
            var_lr = 0.0
            for k in linear:
                f = vals[k][:, 1:]
                x = lr_tapered(f, Wr, cfg.avg_from, m0, width)
                var_lr += float(np.sum(np.var(x, 0, ddof=1)))
        else:  # the pilot window cannot hold the memory: full-memory LR
            var_lr = sum(
                float(np.sum(np.var(lr_window(vals[k][:, a0:], Wr[:, cfg.avg_from :]), 0)))
                for k in linear
            )
        out["var_lr"] = var_lr
        out["cost_lr"] = COST_LR * (t_total + 2 * memory[0] + memory[1])
        out["cost_pw"] = COST_PATHWISE * t_total
    if pathwise:
        est = Pathwise()
        piece_sum = 0.0
        for _, _, piece, _, _, _ in run.chunks(
            est, None, observables, n_pilot, n_pilot, key, extra=()
        ):
            for k in linear:
                piece_sum += float(np.sum(np.var(piece["d/" + k], 0, ddof=1)))
        out["var_pw"] = piece_sum
    return out


def _auto(run, auto, observables, lr_problem):
    """Run the pilot and apply :func:`twoqs_jax._estimators.choose`."""
    from ._estimators import LikelihoodRatio, Pathwise, choose

    if lr_problem:
        return Pathwise(), f"pathwise: the likelihood ratio does not apply ({lr_problem})"
    pil = _pilot(run, auto.pilot_traj, auto.pilot_key, observables)
    level = (pil.get("plateau", 0.0), pil.get("plateau_sem", 0.0))
    name, reason = choose(pil["var_pw"], pil["var_lr"], pil["cost_pw"], pil["cost_lr"], *level)
    if name == "refuse":
        raise RuntimeError(f"no stationary gradient: {reason}.")
    if "mixing" in pil:
        reason += f"; mixing: {pil['mixing']}"
    if name == "pathwise":
        return Pathwise(), reason
    if pil.get("memory_fits", False):
        return LikelihoodRatio(memory=pil["memory"]), f"{reason}; memory {pil['memory']}"
    return LikelihoodRatio(), reason


def _chain_rule(stats, obs: Observable, spin, n_par):
    """Value, derivative and their jackknife errors of a nonlinear observable."""
    needs = obs.needs

    def fn(m):
        prims, tangents = {}, {}
        for p in needs:
            if p in m:
                prims[p], tangents[p] = m[p], m["d/" + p]
            else:
                prims[p] = m[p + "__re"] + 1j * m[p + "__im"]
                tangents[p] = m["d/" + p + "__re"] + 1j * m["d/" + p + "__im"]

        def f(x):
            return obs.fn(x, jnp.asarray(spin))

        def along(j):
            return jax.jvp(f, (prims,), ({p: t[..., j] for p, t in tangents.items()},))

        with np.errstate(divide="ignore", invalid="ignore"):
            value, _ = jax.jvp(f, (prims,), ({p: jnp.zeros_like(x) for p, x in prims.items()},))
            derivs = [np.asarray(along(j)[1]) for j in range(n_par)]
        value = np.asarray(value)
        return np.concatenate([value[..., None], np.stack(derivs, axis=-1)], axis=-1)

    full, err = stats.jackknife(fn)
    return full[..., 0], err[..., 0], full[..., 1:], err[..., 1:]
