"""Differentiable TWOQS: pathwise gradients of observables w.r.t. model parameters.

For a parametrised model ``M(p)`` every trajectory ``i`` is a deterministic, differentiable
function of ``p`` once its random numbers are fixed (common random numbers: trajectory ``i``
draws from ``fold_in(key, i)`` exactly as in :func:`twoqs_jax.solve`, so the values equal
the solve's estimates for the same key and settings). Per trajectory the primitive moments
are recorded at the saving times (:class:`SaveAt`) or time-averaged over the window
(:class:`SteadyState`) and differentiated along the path (``jax.jvp`` per parameter, or
``jax.jacrev`` with ``jax.checkpoint`` on each block, through the ``lax.scan`` of steps).

- A *linear* observable ``O`` (e.g. ``Sz``) is averaged per trajectory: ``d<O>/dp`` is the
  mean of the per-trajectory derivatives, with their standard error.
- A *nonlinear* observable ``O = f(m)`` of primitive means ``m`` (variances, ``xi2``) gets
  ``d<O>/dp = sum_q (df/dm_q) dm_q/dp`` by the chain rule over the moments (``jax.jvp`` of
  ``f``), with a delete-one-group jackknife standard error (trajectory ``i`` in group
  ``i mod n_groups``), like its value.

Non-smooth points: the Wigner decay noise amplitude ``sqrt(max(|alpha|^2 - 1/2, 0))`` is
clipped at 0; there the path is continuous but not differentiable, and a parameter change
that moves a trajectory across the clip boundary is not seen by the pathwise derivative.
The square root is evaluated safely (derivative 0 where clipped, no NaN). The bias this
leaves is measured against finite differences and exact results in tests/test_gradient.py.
"""

import functools

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
from ._phase_space.sampling import sample_initial
from ._sde.config import kernel_config
from ._sde.kernel import (
    block_noise,
    noise_layout,
    observed,
    scan_blocks,
    step_increments,
    trajectory_step,
    trajectory_values,
)
from ._sde.statistics import RunningStats
from ._twoqs import resolve_dtype


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
    tk = jax.random.fold_in(key, i)
    a, b = sample_initial(tk, spin, theta, phi, cfg.k, "fock" if cfg.fock else "coherent", dtype)
    r0 = jnp.sqrt(jnp.abs(a) ** 2 + jnp.abs(b) ** 2)
    length = noise_layout(cfg, n)[0]

    def observe(z):
        x, y = observed(cfg, z, r0)
        return trajectory_values(cfg, x, y, spin)

    def noise_at(s0):
        return block_noise(cfg, jax.random.fold_in(tk, s0 + 1), length, n, dtype)

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
    make_model,
    params,
    state,
    saveat,
    method,
    *,
    n_traj,
    key,
    observables=("Sz",),
    options=None,
    mode="forward",
) -> Gradient:
    r"""Pathwise gradients of TWOQS observables w.r.t. model parameters (module docstring).

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
        mode: ``"forward"`` (``jax.jvp`` per parameter; memory independent of the number of
            steps, cost ~ (1 + #params) runs) or ``"reverse"`` (``jax.jacrev`` with
            ``jax.checkpoint`` per block; cost ~ 3-4 runs per output component, memory ~
            number of blocks).

    Returns:
        :class:`Gradient` (``mean``, ``sem``, ``grad``, ``grad_sem``).

    Example:
        >>> import twoqs_jax as tq
        >>> g = tq.gradient(lambda om: tq.driven_spin(20, om), 0.5, tq.spin_down(),
        ...                 tq.SteadyState(t_burn=5.0, t_avg=5.0),
        ...                 tq.TWOQS(tq.EulerMaruyama(dt=0.02)), n_traj=64, key=0)
        >>> float(g.grad["Sz"][0]) > 0
        True
    """
    if not callable(make_model):
        raise ValueError(f"`make_model` must be callable, got {type(make_model).__name__}.")
    if not isinstance(method, TWOQS):
        raise ValueError(f"`method` must be a tq.TWOQS method, got {method!r}.")
    check_in("mode", mode, ("forward", "reverse"))
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
    cfg, grid = kernel_config(lower(model0), saveat, method, observables, n_traj, chunk, dtype)
    theta = jnp.asarray(state.theta, dtype)
    phi = jnp.asarray(state.phi, dtype)

    n_par = int(vec.shape[0])
    shapes = tuple(tuple(np.shape(x)) for x in leaves)
    build = (cfg, make_model, mode, treedef, shapes, n_par, str(vec.dtype))
    try:
        hash(build)
        batched = _compiled_gradient(*build)
    except TypeError:  # an unhashable make_model: compile without the cache
        batched = _compiled_gradient.__wrapped__(*build)
    stats, clips = None, 0.0
    for c in range(-(-n_traj // chunk)):
        full = c * chunk + np.arange(chunk)  # one shape for every chunk: one compilation
        idx = full[full < n_traj]
        out = batched(vec, theta, phi, key, jnp.asarray(full, jnp.int32))
        vals, tang, clip = jax.tree.map(lambda x: x[: len(idx)], jax.device_get(out))  # noqa: B023
        clips += float(np.sum(clip))
        piece = {}
        for k, v in vals.items():
            piece[k] = np.asarray(v, np.float64)
            piece["d/" + k] = np.asarray(tang[k], np.float64)
        bad = np.zeros(len(idx), bool)
        for v in piece.values():
            bad |= ~np.all(np.isfinite(v.reshape(len(idx), -1)), axis=1)
        if np.any(bad):
            raise RuntimeError(
                f"TWOQS trajectories blew up: {int(np.sum(bad))} trajectories gave a "
                "non-finite value or derivative. The step is unstable; use a smaller `dt`."
            )
        groups = idx % method.n_groups
        out = {
            "mean": {k: v.mean(0) for k, v in piece.items()},
            "m2": {k: ((v - v.mean(0)) ** 2).sum(0) for k, v in piece.items()},
            "gsum": {
                k: np.stack([v[groups == g].sum(0) for g in range(method.n_groups)])
                for k, v in piece.items()
            },
            "clipped": 0.0,
            "bad": 0.0,
        }
        gcount = np.bincount(groups, minlength=method.n_groups)
        s = RunningStats.from_chunk(out, len(idx), gcount)
        stats = s if stats is None else stats.merge(s)
    spin = np.asarray(model0.spin, np.float64)
    if grid.times is not None:
        spin = spin[None, :]
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
    n_steps = cfg.block * cfg.n_blocks
    info = {
        "n_traj": n_traj,
        "dt": cfg.dt,
        "n_steps": n_steps,
        "mode": mode,
        "representation": method.representation,
        "sampling": method.sampling,
        "constraint": method.constraint,
        "key": key_info(key, seed),
        "clip_fraction": clips / (n_traj * n_steps * model0.n_sites),
    }
    if grid.window is not None:
        info.update(t_burn=grid.window[0], t_avg=grid.window[1])
    return Gradient(
        times=None if grid.times is None else np.asarray(grid.times),
        mean=mean,
        sem=sem,
        grad=grad,
        grad_sem=grad_sem,
        stats=info,
    )


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
