"""Fixed points, stability, continuation and the bistable region of the qudit mean field.

All work is in the coordinates ``c`` of :mod:`.meanfield` (``rhobar = I/d + sum_a c_a G_a``),
so the Jacobian ``dF/dc`` (by ``jax.jacfwd``) acts on physical directions only (Hermitian,
traceless perturbations). A fixed point is linearly stable when every eigenvalue of the
Jacobian has a negative real part. Use float64 (``jax_enable_x64``).

Paper 001 Appendix B: the spin-z polarised state ``rhobar = |-j><-j|`` (Eq 12) is a fixed
point for every model, stable iff ``|l_{-j}|^2 (gamma_I + gamma_C) > 4 j |V|``.
Broken-symmetry fixed points (``X = sgn(V) Y != 0``) are followed by continuation, either
in ``gamma_I`` or along the branch at fixed ``Z`` (``Z`` is monotone along the branch, also
through the fold of the m-independent dissipator, where ``gamma_I`` turns back). The upper
end of the bistable region is that fold (saddle-node), located by Newton's method
(optimistix) on ``F(c, gamma_I) = 0, det J(c, gamma_I) = 0``.
"""

import functools
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax.typing import ArrayLike

from .meanfield import (
    coherent_rho,
    meanfield_rhs,
    polarised_coords,
    rho_to_coords,
    scaled_spin,
    solve_qudit_meanfield,
)
from .model import QuditLMG


def _warn_float32(x):
    if jnp.result_type(x) == jnp.float32:
        warnings.warn(
            "qudit fixed points in float32: enable jax_enable_x64 for float64.", stacklevel=3
        )


@jax.jit
def jacobian(model: QuditLMG, c) -> jax.Array:
    """``dF/dc`` at ``c``, ``(d^2 - 1, d^2 - 1)`` (physical directions only)."""
    return jax.jacfwd(lambda x: meanfield_rhs(model, x))(jnp.asarray(c))


@jax.jit
def _branch_jacobians(model, gammas, cs):
    def one(g, c):
        m = eqx.tree_at(lambda x: x.gamma_I, model, g)
        return jax.jacfwd(lambda x: meanfield_rhs(m, x))(c)

    return jax.vmap(one)(gammas, cs)


def _branch_max_re(model, gammas, cs):
    J = np.asarray(_branch_jacobians(model, jnp.asarray(gammas), jnp.asarray(cs)))
    return np.linalg.eigvals(J).real.max(axis=-1)


def eigenvalues(model: QuditLMG, c: ArrayLike) -> np.ndarray:
    """Eigenvalues of :func:`jacobian` (numpy, sorted by decreasing real part)."""
    ev = np.linalg.eigvals(np.asarray(jacobian(model, c)))
    return ev[np.argsort(-ev.real)]


def is_stable(model: QuditLMG, c, tol: float = 1e-9) -> bool:
    """True when all Jacobian eigenvalues have real part ``< -tol``."""
    return bool(eigenvalues(model, c)[0].real < -tol)


def polarised_state(model: QuditLMG) -> tuple:
    """The spin-z polarised fixed point (001 Eq 12): ``(coords, stable)``."""
    c = polarised_coords(model.d).astype(jnp.result_type(model.V, float))
    return c, is_stable(model, c)


@eqx.filter_jit
def _newton(model, c0, rtol, atol, max_steps):
    sol = optx.root_find(
        lambda c, m: meanfield_rhs(m, c),
        optx.Newton(rtol=rtol, atol=atol),
        c0,
        args=model,
        max_steps=max_steps,
        throw=False,
    )
    return sol.value, sol.result == optx.RESULTS.successful


def find_fixed_point(
    model: QuditLMG,
    guess: ArrayLike,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_steps: int = 64,
    throw: bool = True,
) -> tuple[jax.Array, bool]:
    """Newton root of the mean-field right-hand side from ``guess``.

    Args:
        model: the :class:`QuditLMG`.
        guess: ``(d, d)`` density matrix or ``(d^2 - 1,)`` coordinates.
        rtol, atol, max_steps: optimistix Newton settings.
        throw: raise ``RuntimeError`` if Newton does not converge.

    Returns:
        ``(coords, converged)``.
    """
    c0 = _as_coords(model, guess)
    _warn_float32(c0)
    c, ok = _newton(model, c0, rtol, atol, max_steps)
    if throw and not bool(ok):
        raise RuntimeError("Newton did not converge to a mean-field fixed point.")
    return c, bool(ok)


def _as_coords(model, x):
    x = jnp.asarray(x)
    d = model.d
    if x.shape == (d, d):
        x = rho_to_coords(x)
    elif x.shape != (d * d - 1,):
        raise ValueError(f"`guess` must have shape {(d, d)} or {(d * d - 1,)}, got {x.shape}.")
    return x.astype(jnp.result_type(x, model.V, float))


def broken_symmetry_state(
    model: QuditLMG, *, theta: float = 2.0, phi: float | None = None, t1: float = 400.0
) -> tuple[jax.Array, bool]:
    """A broken-symmetry fixed point (``X = sgn(V) Y != 0``) and its stability.

    First Newton from the guess ``0.7 |theta, phi><theta, phi| + 0.3 I/d`` (``phi = pi/4``
    for ``V >= 0``, ``-pi/4`` otherwise); if that fails or lands on ``X = 0``, relax the
    mean field from the coherent state for a time ``t1`` (Diffrax) and polish by Newton.

    Returns:
        ``(coords, stable)``. Raises ``RuntimeError`` when no fixed point with ``X != 0``
        is found (e.g. where only the polarised state exists).
    """
    if phi is None:
        phi = np.pi / 4 if float(model.V) >= 0 else -np.pi / 4
    d = model.d
    guess = 0.7 * coherent_rho(d, theta, phi) + 0.3 * jnp.eye(d) / d
    c, ok = find_fixed_point(model, guess, throw=False)
    if not ok or abs(float(scaled_spin(d, c)[0])) < 1e-6:
        sol = solve_qudit_meanfield(model, coherent_rho(d, theta, phi), t1, n_save=2)
        c, ok = find_fixed_point(model, sol["coords"][-1], throw=False)
    if not ok or abs(float(scaled_spin(d, c)[0])) < 1e-6:
        raise RuntimeError("no broken-symmetry fixed point found (only X = 0).")
    return c, is_stable(model, c)


@functools.partial(jax.jit, static_argnums=(3,))
def _scan_gamma(model, gammas, c0, max_steps):
    def step(c, g):
        m = eqx.tree_at(lambda x: x.gamma_I, model, g)
        sol = optx.root_find(
            lambda y, mm: meanfield_rhs(mm, y),
            optx.Newton(rtol=1e-11, atol=1e-13),
            c,
            args=m,
            max_steps=max_steps,
            throw=False,
        )
        ok = sol.result == optx.RESULTS.successful
        return jnp.where(ok, sol.value, c), (sol.value, ok)

    _, (cs, oks) = jax.lax.scan(step, c0, gammas)
    return cs, oks


def branch_in_gamma(
    model: QuditLMG, gammas: ArrayLike, guess: ArrayLike, *, max_steps: int = 40
) -> dict:
    """Natural continuation of a fixed point in ``gamma_I`` (jit, ``lax.scan`` of Newton solves).

    Args:
        model: the model (its ``gamma_I`` is replaced by each value of ``gammas``).
        gammas: ``(K,)`` values, ordered from the point where ``guess`` holds.
        guess: fixed point (coords or ``(d, d)``) at ``gammas[0]``.

    Returns:
        dict with ``gamma_I`` ``(K,)``, ``coords`` ``(K, d^2-1)``, ``X, Y, Z`` ``(K,)``,
        ``converged`` ``(K,)`` bool and ``max_re`` ``(K,)`` (largest real part of the
        Jacobian eigenvalues; ``< 0`` means stable).
    """
    gammas = jnp.asarray(gammas, dtype=jnp.result_type(model.V, float))
    c0 = _as_coords(model, guess)
    cs, oks = _scan_gamma(model, gammas, c0, max_steps)
    return _branch_result(model, gammas, cs, oks)


def _branch_result(model, gammas, cs, oks) -> dict:
    """The dict returned by the branch continuations: parameters, coordinates, X/Y/Z,
    convergence flags and the largest real part of the stability eigenvalues.
    """
    xyz = scaled_spin(model.d, cs)
    return {
        "gamma_I": np.asarray(gammas),
        "coords": np.asarray(cs),
        "X": np.asarray(xyz[:, 0]),
        "Y": np.asarray(xyz[:, 1]),
        "Z": np.asarray(xyz[:, 2]),
        "converged": np.asarray(oks),
        "max_re": _branch_max_re(model, gammas, cs),
    }


def _z_system(y, args):
    model, z0 = args
    c, g = y[:-1], y[-1]
    m = eqx.tree_at(lambda x: x.gamma_I, model, g)
    return jnp.concatenate([meanfield_rhs(m, c), (scaled_spin(model.d, c)[2] - z0)[None]])


@functools.partial(jax.jit, static_argnums=(3,))
def _scan_z(model, zs, y0, max_steps):
    def step(y, z0):
        sol = optx.root_find(
            _z_system,
            optx.Newton(rtol=1e-11, atol=1e-13),
            y,
            args=(model, z0),
            max_steps=max_steps,
            throw=False,
        )
        ok = sol.result == optx.RESULTS.successful
        return jnp.where(ok, sol.value, y), (sol.value, ok)

    _, (ys, oks) = jax.lax.scan(step, y0, zs)
    return ys, oks


def branch_in_z(model: QuditLMG, zs: ArrayLike, guess: ArrayLike, *, max_steps: int = 40) -> dict:
    """Continuation of a fixed-point branch at prescribed ``Z`` (unknowns ``c`` and ``gamma_I``).

    Solves ``F(c, gamma_I) = 0``, ``Z(c) = z`` for each ``z`` in ``zs`` by Newton from the
    previous solution. Unlike :func:`branch_in_gamma` it passes through folds of the branch.

    Args:
        model: the model (its ``gamma_I`` is the unknown; ``V``, ``gamma_C``, ``ladder`` fixed).
        zs: ``(K,)`` values of ``Z``, ordered from the point where ``guess`` holds.
        guess: ``(coords, gamma_I)`` of a fixed point with ``Z`` close to ``zs[0]``.

    Returns:
        dict as :func:`branch_in_gamma` (``gamma_I`` is now an output).
    """
    c0, g0 = guess
    c0 = _as_coords(model, c0)
    y0 = jnp.concatenate([c0, jnp.asarray([g0], c0.dtype)])
    zs = jnp.asarray(zs, c0.dtype)
    ys, oks = _scan_z(model, zs, y0, max_steps)
    cs, gs = ys[:, :-1], ys[:, -1]
    return _branch_result(model, gs, cs, oks)


def _fold_system(y, args):
    model, scale = args
    c, g = y[:-1], y[-1]
    m = eqx.tree_at(lambda x: x.gamma_I, model, g)
    J = jax.jacfwd(lambda x: meanfield_rhs(m, x))(c)
    # det J divided by the product of the other eigenvalue moduli at the guess: the extra
    # equation then reads like the critical eigenvalue (a rate), well scaled for any d.
    return jnp.concatenate([meanfield_rhs(m, c), (jnp.linalg.det(J) / scale)[None]])


@eqx.filter_jit
def _fold_newton(model, y0, scale):
    sol = optx.root_find(
        _fold_system,
        optx.Newton(rtol=1e-10, atol=1e-11),
        y0,
        args=(model, scale),
        max_steps=64,
        throw=False,
    )
    return sol.value, sol.result == optx.RESULTS.successful


def fold_point(model: QuditLMG, coords, gamma_I):
    """Saddle-node of fixed points near ``(coords, gamma_I)``: Newton on ``F = 0, det J = 0``.

    Returns ``(gamma_fold, coords_fold)``; raises ``RuntimeError`` if Newton fails.
    """
    c = _as_coords(model, coords)
    ev = eigenvalues(model.replace(gamma_I=gamma_I), c)
    k = int(np.argmin(np.abs(ev)))
    scale = float(np.prod(np.abs(np.delete(ev, k))))
    y0 = jnp.concatenate([c, jnp.asarray([gamma_I], c.dtype)])
    y, conv = _fold_newton(model, y0, scale)
    if not bool(conv):
        raise RuntimeError("Newton on the fold system (F = 0, det J = 0) did not converge.")
    return float(y[-1]), y[:-1]


def bistable_upper_end(model: QuditLMG, *, n_z: int = 120, return_branch: bool = False) -> tuple:
    """Upper end of the bistable region in ``gamma_I``: the fold of the broken-symmetry branch.

    Steps: (1) a broken-symmetry fixed point at ``gamma_I = 1.2 |V| `` (Diffrax relaxation +
    Newton); (2) continuation along ``Z`` towards the polarised state ``Z = -1``, which the
    branch reaches at ``gamma_I + gamma_C = 2|V|`` (its unstable part for the m-independent
    dissipator, ``d >= 4``); (3) at the largest ``gamma_I`` along the branch, Newton on
    ``F = 0, det J = 0`` (a saddle-node). The model's own ``gamma_I`` is ignored.

    Args:
        model: a :class:`QuditLMG` (``gamma_C`` and ``V`` as given).
        n_z: number of continuation points in ``Z``.
        return_branch: also return the branch dict of :func:`branch_in_z`.

    Returns:
        ``(gamma_fold, X_fold, Z_fold)`` (floats), plus the branch if asked. If the branch
        has no interior maximum of ``gamma_I`` (no bistability, e.g. the spin-ladder
        dissipator), ``gamma_fold`` is the largest ``gamma_I`` reached on the branch
        (the pitchfork at ``2|V| - gamma_C``) and no fold refinement is made.

    Examples:
        >>> g, X, Z = bistable_upper_end(QuditLMG.m_independent(5))
    """
    V = float(jnp.abs(model.V))
    m0 = model.replace(gamma_I=1.2 * V)
    c_start, _ = broken_symmetry_state(m0)
    z_start = float(scaled_spin(model.d, c_start)[2])
    # Denser near Z = -1, where the branch bends.
    s = np.linspace(0.0, 1.0, n_z)
    zs = z_start + (-1 + 1e-4 - z_start) * (1 - (1 - s) ** 2)
    br = branch_in_z(model, zs, (c_start, 1.2 * V))
    ok = br["converged"]
    if not np.all(ok):
        warnings.warn(
            f"bistable_upper_end: {np.sum(~ok)} of {ok.size} continuation steps did not converge.",
            stacklevel=2,
        )
    g = np.where(ok, br["gamma_I"], -np.inf)
    i = int(np.argmax(g))
    if i == len(g) - 1 or i == 0:
        out = (float(g[i]), float(br["X"][i]), float(br["Z"][i]))
    else:
        g_fold, c_fold = fold_point(model, br["coords"][i], g[i])
        xyz = scaled_spin(model.d, c_fold)
        out = (g_fold, float(xyz[0]), float(xyz[2]))
    return (out, br) if return_branch else out
