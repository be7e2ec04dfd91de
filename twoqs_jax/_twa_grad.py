"""Differentiable TWOQS: pathwise gradients of steady-state observables.

For a parametrised model ``M(p)`` every trajectory ``i`` is a deterministic, differentiable
function of ``p`` once its random numbers are fixed (common random numbers: trajectory ``i``
draws from ``fold_in(key, i)`` exactly as in :func:`steady_state_twa`). The per-trajectory
time average ``f_i(p) = (1/n_avg) sum_j O(z_i(t_j; p))`` over ``[t_burn, t_burn + t_avg]`` is
differentiated along the path (``jax.jvp``/forward or ``jax.grad``/reverse through the
``lax.scan`` of Euler-Maruyama steps); the estimate is ``d<O>/dp = mean_i df_i/dp`` with the
standard error of the per-trajectory derivatives. Reverse mode bounds memory by
``jax.checkpoint`` on each block of ``avg_every`` steps (only block-end states are stored).

Non-smooth points: the Wigner decay noise amplitude ``sqrt(max(|alpha|^2 - 1/2, 0))`` is
clipped at 0; there the path is continuous but not differentiable, and a parameter change
that moves a trajectory across the clip boundary is not seen by the pathwise derivative.
The square root is evaluated safely (derivative 0 where clipped, no NaN). The bias this
leaves is measured against finite differences and exact results in tests/test_twa_grad.py.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._checks import check_in, check_int
from ._model.model import SpinModel
from ._model.states import SpinCoherentState
from ._phase_space.drift import split
from ._phase_space.observables import trajectory_observables
from ._phase_space.sampling import FOCK_SAMPLINGS, sample_initial
from ._phase_space.symbols import REPRESENTATIONS
from ._sde.kernel import (
    NOISES,
    KernelConfig,
    block_noise,
    noise_layout,
    observed,
    scan_blocks,
    step_increments,
    trajectory_step,
)
from ._twa import _resolve_dtype, _resolve_key, steady_window

LINEAR = ("Sx", "Sy", "Sz", "Sx2", "Sy2", "Sz2")


class TwaGradient(eqx.Module):
    """Result of :func:`twa_gradient`.

    Attributes:
        value, value_sem: ``<O>`` and its standard error.
        grad, grad_sem: ``d<O>/dp`` and its standard error, PyTrees shaped like ``params``.
        stats: run information (n_traj, dt, times, mode, clip fraction).
    """

    value: float
    value_sem: float
    grad: object
    grad_sem: object
    stats: dict


def _safe_sqrt(x):
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1)), 0)


def _trajectory_average(cfg, n_burn, observable, make_model, params, theta, phi, key, i):
    """Time average of the observable along trajectory ``i`` (a function of ``params``),
    and its number of clipped site-steps."""
    dtype = jnp.dtype(cfg.dtype)
    model = jax.tree.map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x,
        make_model(params),
    )
    spin = lax.stop_gradient(model.spin)
    n = spin.shape[0]
    tk = jax.random.fold_in(key, i)
    a, b = sample_initial(tk, spin, theta, phi, cfg.k, cfg.fock_sampling, dtype)
    r0 = jnp.sqrt(jnp.abs(a) ** 2 + jnp.abs(b) ** 2)
    length = noise_layout(cfg, n)[0]

    def observe(z):
        a, b = observed(cfg, z, r0)
        if callable(observable):
            return jnp.asarray(observable(a, b), dtype)
        return jnp.mean(trajectory_observables(a, b, spin, cfg.k, (observable,))[observable])

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

    def end_of_block(carry, ib):
        z, clip, acc = carry
        return (z, clip, acc + jnp.where(ib >= n_burn, observe(z), 0)), None

    init = (split(a, b), jnp.zeros((), jnp.int32), jnp.zeros((), dtype))
    (_, clip, acc), _ = scan_blocks(
        cfg, n, init, noise_at, advance, end_of_block, wrap=jax.checkpoint
    )
    return acc / (cfg.n_blocks - n_burn), clip


def twa_gradient(
    make_model,
    params,
    state,
    *,
    t_burn,
    t_avg,
    dt,
    n_traj,
    key,
    observable="Sz",
    representation="W",
    avg_every=1,
    chunk_size=1024,
    dtype=None,
    fock_sampling="coherent",
    noise="two_point",
    conserve_spin=False,
    mode="forward",
) -> TwaGradient:
    r"""Pathwise gradient of a TWOQS steady-state expectation value w.r.t. model parameters.

    ``<O>(p) = E[(1/n_avg) sum_j O_W(z(t_burn + j avg_every dt; p))]`` with the trajectories
    of :func:`steady_state_twa` (Ito Euler-Maruyama, same random numbers: the value equals
    its ``steady_state_twa`` estimate for the same key and settings), and
    ``d<O>/dp = E[d/dp (...)]`` by differentiating each trajectory with its random numbers
    held fixed (common random numbers).

    Args:
        make_model: ``params -> SpinModel`` (traceable in ``params``), e.g.
            ``lambda p: driven_spin(20, p["Omega"])``.
        params: PyTree of float parameters (a float, an array or a dict of them).
        state: :class:`SpinCoherentState`.
        t_burn, t_avg, dt, n_traj, key, representation, avg_every, dtype, fock_sampling,
            noise, conserve_spin: as in :func:`steady_state_twa`.
        observable: a linear observable name (``Sx, Sy, Sz, Sx2, Sy2, Sz2``; averaged over
            sites) or a function ``f(alpha, beta) -> scalar`` of one trajectory's ``(n,)``
            amplitudes.
        chunk_size: trajectories per compiled call.
        mode: "forward" (``jax.jvp`` per parameter; memory independent of the number of
            steps, cost ~ (1 + #params) runs) or "reverse" (``jax.grad`` with
            ``jax.checkpoint`` per block of ``avg_every`` steps; cost ~ 3-4 runs for any
            number of parameters, memory ~ number of blocks).

    Returns:
        :class:`TwaGradient` (value, value_sem, grad, grad_sem as PyTrees like ``params``).

    Example:
        >>> import twoqs_jax as tq
        >>> g = tq.twa_gradient(lambda om: tq.driven_spin(20, om), 0.5, tq.spin_down(),
        ...                     t_burn=5.0, t_avg=5.0, dt=0.02, n_traj=64, key=0)
        >>> float(g.grad) > 0
        True
    """
    if not callable(make_model):
        raise ValueError(f"`make_model` must be callable, got {type(make_model).__name__}.")
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype=float), params)
    model0 = make_model(params)
    if not isinstance(model0, SpinModel) or model0.spin.ndim != 1:
        raise ValueError("`make_model(params)` must return one (unbatched) twoqs_jax.SpinModel.")
    if not isinstance(state, SpinCoherentState) or state.theta.shape != model0.spin.shape:
        raise ValueError(f"`state` must be a SpinCoherentState with {model0.n_sites} sites.")
    if not callable(observable):
        check_in("observable", observable, LINEAR)
    check_in("representation", representation, tuple(REPRESENTATIONS))
    check_in("mode", mode, ("forward", "reverse"))
    check_in("fock_sampling", fock_sampling, FOCK_SAMPLINGS)
    check_in("noise", noise, NOISES)
    n_traj = check_int("n_traj", n_traj, minimum=2)
    chunk_size = min(check_int("chunk_size", chunk_size, minimum=1), n_traj)
    dt, block, n_burn, n_avg = steady_window(dt, t_burn, t_avg, avg_every)
    dtype = _resolve_dtype(dtype)
    jumps = bool(np.any(np.asarray(model0.decay) > 0) or np.any(np.asarray(model0.gain) > 0))
    deph = bool(np.any(np.asarray(model0.dephasing) > 0))
    cfg = KernelConfig(
        k=REPRESENTATIONS[representation],
        dt=dt,
        block=block,
        n_blocks=n_burn + n_avg,
        save_initial=False,
        save_blocks=None,
        avg_from=n_burn,
        names=(),
        grouped=(),
        n_groups=2,
        chunk_size=chunk_size,
        n_traj=n_traj,
        noise=noise,
        fock_sampling=fock_sampling,
        dtype=dtype,
        jumps=jumps,
        dephasing=deph,
        conserve_spin=bool(conserve_spin),
    )
    key = _resolve_key(key)
    theta = jnp.asarray(state.theta, dtype)
    phi = jnp.asarray(state.phi, dtype)

    def f(p, i):
        return _trajectory_average(cfg, n_burn, observable, make_model, p, theta, phi, key, i)

    if mode == "reverse":
        one = jax.value_and_grad(f, has_aux=True)

        def per_traj(p, i):
            (v, clip), g = one(p, i)
            return v, g, clip
    else:
        leaves, treedef = jax.tree.flatten(params)

        def per_traj(p, i):
            flat = [x.reshape(-1) for x in leaves]
            sizes = [x.size for x in flat]
            basis = jnp.eye(sum(sizes), dtype=jnp.result_type(*leaves))
            vec = jnp.concatenate(flat)

            def unflatten(v):
                parts = jnp.split(v, np.cumsum(sizes)[:-1]) if len(sizes) > 1 else [v]
                return treedef.unflatten([q.reshape(x.shape) for q, x in zip(parts, leaves)])

            def g(v):
                return f(unflatten(v), i)

            (v, clip), tang = _jvp_rows(g, vec, basis)
            return v, unflatten(tang), clip

    batched = jax.jit(jax.vmap(per_traj, in_axes=(None, 0)))
    vals, grads, clips = [], [], 0.0
    for c in range(-(-n_traj // chunk_size)):
        idx = c * chunk_size + np.arange(chunk_size)
        idx = idx[idx < n_traj]
        v, g, clip = jax.device_get(batched(params, jnp.asarray(idx, jnp.int32)))
        vals.append(np.asarray(v, np.float64))
        grads.append(jax.tree.map(lambda x: np.asarray(x, np.float64), g))
        clips += float(np.sum(clip))
    vals = np.concatenate(vals)
    g_all = jax.tree.map(lambda *xs: np.concatenate(xs), *grads)
    bad = ~np.isfinite(vals)
    for leaf in jax.tree.leaves(g_all):
        bad |= ~np.all(np.isfinite(leaf.reshape(leaf.shape[0], -1)), axis=1)
    if np.any(bad):
        raise RuntimeError(
            f"TWOQS trajectories blew up: {int(np.sum(bad))} of {n_traj} trajectories gave a "
            "non-finite value or derivative. The Euler-Maruyama step is unstable; use a "
            "smaller `dt`."
        )
    sem = lambda x: np.std(x, axis=0, ddof=1) / math.sqrt(x.shape[0])  # noqa: E731
    return TwaGradient(
        value=float(np.mean(vals)),
        value_sem=float(sem(vals)),
        grad=jax.tree.map(lambda x: np.mean(x, axis=0), g_all),
        grad_sem=jax.tree.map(sem, g_all),
        stats={
            "n_traj": n_traj,
            "dt": dt,
            "t_burn": n_burn * block * dt,
            "t_avg": n_avg * block * dt,
            "mode": mode,
            "representation": representation,
            "clip_fraction": clips / (n_traj * (n_burn + n_avg) * block * model0.n_sites),
        },
    )


def _jvp_rows(g, vec, basis):
    """Value, derivative along every basis row (forward mode), and the aux clip count."""

    def one(t):
        v, dv, clip = jax.jvp(g, (vec,), (t,), has_aux=True)
        return v, dv, clip

    v, dv, clip = jax.vmap(one)(basis)
    return (v[0], clip[0]), dv
