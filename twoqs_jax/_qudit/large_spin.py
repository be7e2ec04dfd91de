"""Large-spin limit at finite N (paper 001 Sec III C, Eqs 13-14).

For ``j -> infinity`` at fixed ``N`` the scaled single-particle spins ``r_i = <j^(i)>/j``
factorise (their commutators are ``O(1/j)``). With the spin-ladder dissipator ``L = j_-``,
001 Eq 3 gives (re-derived here from the Heisenberg equations; they agree with Eq 13)

    dx_i/dt = -(2V/N) Y z_i + gamma_I x_i z_i + (gamma_C/N) X z_i
    dy_i/dt = -(2V/N) X z_i + gamma_I y_i z_i + (gamma_C/N) Y z_i
    dz_i/dt = (2V/N)(X y_i + Y x_i) - gamma_I (x_i^2 + y_i^2) - (gamma_C/N)(X x_i + Y y_i)

with ``X = sum_k x_k``, ``Y = sum_k y_k``. Each ``|r_i|`` is conserved. For identical particles
this is 001 Eq 14 = Eq 10 with ``gamma_I -> 0`` and ``gamma_C -> gamma_I + gamma_C``: no
individual damping survives, so below ``gamma_I + gamma_C = 2|V|`` the motion is oscillatory
(closed orbits), whereas at ``N -> infinity`` and finite ``d`` the same parameters give static,
attracting broken-symmetry fixed points: the two limits do not commute.
"""

import functools

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._solution import Solution


def large_spin_rhs(r, V, gamma_I, gamma_C):
    """Right-hand side of 001 Eq 13 for ``r`` of shape ``(N, 3)`` (scaled spins)."""
    n = r.shape[0]
    x, y, z = r[:, 0], r[:, 1], r[:, 2]
    X, Y = jnp.sum(x), jnp.sum(y)
    dx = -(2 * V / n) * Y * z + gamma_I * x * z + (gamma_C / n) * X * z
    dy = -(2 * V / n) * X * z + gamma_I * y * z + (gamma_C / n) * Y * z
    dz = (2 * V / n) * (X * y + Y * x) - gamma_I * (x**2 + y**2) - (gamma_C / n) * (X * x + Y * y)
    return jnp.stack([dx, dy, dz], axis=-1)


def solve_large_spin(
    r0: ArrayLike,
    t1: float,
    *,
    V: float = 1.0,
    gamma_I: float = 0.0,
    gamma_C: float = 0.0,
    n_save: int = 401,
    rtol: float = 1e-9,
    atol: float = 1e-11,
) -> Solution:
    """Integrate 001 Eq 13 (Diffrax Tsit5) from scaled spins ``r0`` ``(N, 3)``.

    Returns:
        :class:`Solution` (``method="large_spin"``) with ``r`` ``(T, N, 3)`` and the
        particle averages ``X, Y, Z`` ``(T,)`` (``= <J_a>/(N j)``).
    """
    r0 = jnp.asarray(r0)
    if r0.ndim != 2 or r0.shape[1] != 3:
        raise ValueError(f"`r0` must have shape (N, 3), got shape {r0.shape}.")
    if not (np.isfinite(t1) and t1 > 0):
        raise ValueError(f"`t1` must be a finite time > 0, got {t1!r}.")
    for name, v in (("gamma_I", gamma_I), ("gamma_C", gamma_C)):
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"`{name}` must be finite and >= 0, got {v!r}.")
    r0 = r0.astype(jnp.result_type(r0, float))
    ts = jnp.linspace(0.0, t1, int(n_save), dtype=r0.dtype)
    p = jnp.asarray([V, gamma_I, gamma_C], r0.dtype)
    rs = _integrate(r0, ts, p, rtol, atol)
    mean = {"r": rs, "X": rs[..., 0].mean(-1), "Y": rs[..., 1].mean(-1), "Z": rs[..., 2].mean(-1)}
    return Solution("large_spin", np.asarray(ts), mean, {}, {"N": int(r0.shape[0])})


@functools.partial(jax.jit, static_argnums=(3, 4))
def _integrate(r0, ts, p, rtol, atol):
    term = diffrax.ODETerm(lambda t, r, p: large_spin_rhs(r, p[0], p[1], p[2]))
    sol = diffrax.diffeqsolve(
        term,
        diffrax.Tsit5(),
        ts[0],
        ts[-1],
        None,
        r0,
        args=p,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=200_000,
    )
    return sol.ys
