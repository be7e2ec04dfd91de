"""Mean-field fixed points by Newton root finding from many initial conditions.

For a norm-conserving model (no dephasing) the flow ``f`` satisfies ``y_i . f(y) = 0``, so the
square system ``F(y) = f(y) + (|y_i|^2 - 1) y_i = 0`` (``3n`` equations in ``3n`` unknowns)
holds exactly when ``f(y) = 0`` and every ``|y_i| = 1`` (dot ``F_i`` with ``y_i``). Its Jacobian
at a root is block triangular in (tangent, radial) coordinates with the radial block ``2``, so
Newton's method on ``F`` converges wherever the fixed point is non-degenerate on the spheres.
With dephasing (``on_sphere=False``) fixed points lie inside the balls and ``F = f``.

Newton runs with ``optimistix.Newton`` from random initial conditions (uniform on the
spheres) and from the same states evolved for a time ``t_relax`` under the flow, vmapped; converged roots (``max |f| < 1e-9``) are deduplicated and classified by
the eigenvalues of the tangent-space Jacobian (:mod:`.stability`).
"""

import functools
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Bool, Complex, Float

from .._checks import check_int, check_positive
from .._meanfield.meanfield import _check_model, meanfield_vector_field, model_conserves_norm
from .._model.model import SpinModel
from .stability import stability_eigenvalues

RESIDUAL_TOL = 1e-9
"""A Newton end point counts as a fixed point when ``max |f(y)| < RESIDUAL_TOL``."""


def random_unit_vectors(key, n_init: int, n_sites: int, dtype=float) -> Float[Array, "k n 3"]:
    """``(n_init, n_sites, 3)`` independent unit vectors uniform on the sphere."""
    v = jax.random.normal(key, (n_init, n_sites, 3), dtype=dtype)
    return v / jnp.linalg.norm(v, axis=-1, keepdims=True)


def _on_sphere_default(model, on_sphere):
    if on_sphere is not None:
        return bool(on_sphere)
    return model_conserves_norm(model)


def _residual(model, y, on_sphere):
    f = meanfield_vector_field(model, y)
    if on_sphere:
        f = f + (jnp.sum(y * y, axis=-1, keepdims=True) - 1.0) * y
    return f


def newton_fixed_points(model, y0s, *, on_sphere=True, rtol=1e-12, atol=1e-12, max_steps=64):
    """Newton from each initial state in ``y0s`` ``(k, n, 3)``: end points and success flags.

    Traceable (no host sync): usable inside ``jit``/``vmap`` over models.

    Returns:
        ``(ys, ok)``: ``(k, n, 3)`` end points and ``(k,)`` flags (Newton converged and
        ``max |f| < RESIDUAL_TOL``, and unit norms when ``on_sphere``).
    """

    def one(y0):
        fn = lambda y, args: _residual(args, y, on_sphere)
        sol = optx.root_find(
            fn, optx.Newton(rtol=rtol, atol=atol), y0, model, max_steps=max_steps, throw=False
        )
        y = sol.value
        res = jnp.max(jnp.abs(meanfield_vector_field(model, y)))
        ok = (sol.result == optx.RESULTS.successful) & (res < RESIDUAL_TOL)
        ok = ok & jnp.all(jnp.isfinite(y))
        if on_sphere:
            ok = ok & (jnp.max(jnp.abs(jnp.linalg.norm(y, axis=-1) - 1)) < 1e-8)
        return y, ok

    return jax.vmap(one)(y0s)


def count_distinct(ys, mask, tol=1e-6):
    """Number of distinct points among ``ys[mask]`` (``(k, n, 3)``), traceable.

    Point ``k`` counts when it is masked in and no earlier masked-in point lies within ``tol``
    (max norm).
    """
    d = jnp.max(jnp.abs(ys[:, None] - ys[None, :]), axis=(-1, -2))
    k = ys.shape[0]
    earlier = jnp.tril(jnp.ones((k, k), dtype=bool), -1)
    dup = jnp.any(earlier & (d < tol) & mask[None, :], axis=1)
    return jnp.sum(mask & ~dup)


class FixedPoints(eqx.Module):
    """Distinct mean-field fixed points and their stability.

    Attributes:
        points: ``(k, n, 3)`` fixed points (normalised spin vectors).
        eigenvalues: ``(k, 2n)`` (or ``(k, 3n)`` off the sphere) stability eigenvalues,
            sorted by decreasing real part.
        stable: ``(k,)`` all real parts < ``-stability_tol``.
        n_found: ``(k,)`` how many Newton runs ended at each point.
        n_failed: Newton runs that did not converge to a fixed point.
    """

    points: Float[Array, "k n 3"]
    eigenvalues: Complex[Array, "k m"]
    stable: Bool[Array, " k"]
    n_found: np.ndarray
    n_failed: int = eqx.field(static=True)

    @property
    def n_stable(self) -> int:
        """Number of distinct linearly stable fixed points."""
        return int(np.sum(np.asarray(self.stable)))


def relax(model, y0s, t_relax):
    """Integrate the mean-field flow from each of ``y0s`` ``(k, n, 3)`` up to ``t_relax``.

    Relaxed states lie near attractors, so Newton started there finds the stable fixed
    points (the paper's procedure of time evolution, polished by Newton). Traceable.
    """
    term = diffrax.ODETerm(lambda t, y, args: meanfield_vector_field(args, y))

    def one(y0):
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            0.0,
            t_relax,
            None,
            y0,
            args=model,
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-8),
            max_steps=100_000,
            throw=False,
        )
        return sol.ys[-1]

    return jax.vmap(one)(y0s)


def candidate_fixed_points(
    model, y0s, *, on_sphere=True, t_relax=0.0, rtol=1e-12, atol=1e-12, max_steps=64
):
    """Newton from ``y0s`` and, if ``t_relax > 0``, from their relaxed states; traceable.

    Returns:
        ``(ys, ok, eigenvalues)`` for ``2k`` (or ``k``) candidates: end points, success flags,
        stability eigenvalues (sorted by decreasing real part).
    """
    starts = y0s
    if t_relax > 0:
        starts = jnp.concatenate([y0s, relax(model, y0s, t_relax)], axis=0)
    ys, ok = newton_fixed_points(
        model, starts, on_sphere=on_sphere, rtol=rtol, atol=atol, max_steps=max_steps
    )
    safe = jnp.where(ok[:, None, None], ys, starts)
    ev = jax.vmap(lambda y: stability_eigenvalues(model, y, tangent=on_sphere))(safe)
    return ys, ok, ev


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6))
def _find(model, y0s, on_sphere, t_relax, rtol, atol, max_steps):
    return candidate_fixed_points(
        model, y0s, on_sphere=on_sphere, t_relax=t_relax, rtol=rtol, atol=atol, max_steps=max_steps
    )


def find_fixed_points(
    model: SpinModel,
    *,
    n_init: int = 32,
    key: int | jax.Array = 0,
    initial: Any = None,
    on_sphere: bool | None = None,
    t_relax: float = 50.0,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    max_steps: int = 64,
    dedupe_tol: float = 1e-6,
    stability_tol: float = 1e-9,
) -> FixedPoints:
    """Fixed points of the mean-field equations of ``model`` from many Newton runs.

    Args:
        model: the :class:`SpinModel` (concrete; vmap :func:`newton_fixed_points` instead
            for batches).
        n_init: number of random initial conditions (uniform on the spheres).
        key: ``jax.random`` key or integer seed for them.
        initial: extra ``(k, n, 3)`` initial conditions (tried first).
        on_sphere: solve on the unit spheres (default: True unless the model dephases).
        t_relax: Newton also starts from each initial condition evolved for this time
            (finds the attractors reliably); ``0`` disables.
        rtol, atol, max_steps: Newton settings.
        dedupe_tol: two roots closer than this (max norm) are the same fixed point.
        stability_tol: stable means every eigenvalue has real part ``< -stability_tol``
            (``0`` eigenvalues of continuous families count as not stable).

    Returns:
        :class:`FixedPoints`, ordered by decreasing number of Newton runs that found them.

    Examples:
        >>> fps = tq.find_fixed_points(tq.lmg_dimer(1, J=1.0, lam=0.1))
        >>> fps.n_stable   # two symmetry-broken states of spin B
        2
    """
    _check_model(model)
    n_init = check_int("n_init", n_init, minimum=0)
    check_positive("dedupe_tol", dedupe_tol)
    key = jax.random.key(key) if isinstance(key, int) else key
    n = model.n_sites
    y0s = random_unit_vectors(key, n_init, n)
    if initial is not None:
        init = jnp.asarray(initial, dtype=y0s.dtype).reshape(-1, n, 3)
        y0s = jnp.concatenate([init, y0s], axis=0)
    if y0s.shape[0] == 0:
        raise ValueError("need at least one initial condition: `n_init` = 0 and no `initial`.")
    on_sphere = _on_sphere_default(model, on_sphere)
    ys, ok, evs = _find(
        model, y0s, on_sphere, float(t_relax), float(rtol), float(atol), int(max_steps)
    )
    ys, ok, evs = np.asarray(ys), np.asarray(ok), np.asarray(evs)
    points, counts, ev = [], [], []
    for y, e in zip(ys[ok], evs[ok]):
        for k, p in enumerate(points):
            if np.max(np.abs(p - y)) < dedupe_tol:
                counts[k] += 1
                break
        else:
            points.append(y)
            counts.append(1)
            ev.append(e)
    order = np.argsort(-np.asarray(counts), kind="stable")
    points = np.asarray(points).reshape(-1, n, 3)[order]
    counts = np.asarray(counts, dtype=int).reshape(-1)[order]
    ev = np.asarray(ev).reshape(len(points), -1)[order]
    stable = np.all(ev.real < -stability_tol, axis=-1)
    return FixedPoints(
        points=points, eigenvalues=ev, stable=stable, n_found=counts, n_failed=int(np.sum(~ok))
    )
