"""Mean field (N -> infinity) of the qudit LMG model for any d (paper 001 Eq 9).

Derivation (from 001 Eq 3 with the product ansatz ``rho = rhobar^{(x)N}``, i.e. the
factorisation of collective operators, 001 Ref. [107]): tracing the master equation over
all particles but one, the ``O(1/N)`` single-particle parts of ``H`` and ``D[L_C]`` drop out
and the two-particle parts become mean fields,

    d rhobar/dt = -i [H_mf, rhobar] + (gamma_I / j) D[L] rhobar,

    H_mf = (V/j) (<j_+> j_+ + <j_-> j_-)                          (interaction)
         + (i gamma_C / (2 j)) (<L>^* L - <L> L^+),               (collective decay)

with ``<A> = Tr(rhobar A)``. The collective dissipator acts, at ``N = infinity``, as a
Hamiltonian (it conserves the purity of ``rhobar``); only the individual one is dissipative.
Matrix elements of ``rhobar`` are 001's ``<S_{x;m,n}> + i <S_{y;m,n}>`` (Eq 8), and the
equations above are Eq 9 written as one matrix equation. At ``d = 2`` they reduce to
001 Eq 10 for ``X = <sigma_x>``, ``Y``, ``Z`` (checked in the tests).

State. ``rhobar`` (Hermitian, unit trace) is evolved as the real vector of its ``d^2 - 1``
coordinates in an orthonormal traceless Hermitian basis ``G_a`` (``Tr G_a G_b = delta_ab``):
``rhobar = I/d + sum_a c_a G_a``, ``c_a = Tr(G_a rhobar)``. Trace and Hermiticity are then
exact, and Jacobians in ``c`` are restricted to physical directions.

Observables: ``X = <j_x>/j``, ``Y = <j_y>/j``, ``Z = <j_z>/j`` (001 Sec III; for the mean field
``<J_a>/(N j) = Tr(rhobar j_a)/j``).
"""

import functools
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._solution import Solution
from .model import QuditLMG, spin_matrices


@functools.lru_cache(maxsize=None)
def hermitian_basis(d: int) -> np.ndarray:
    """Orthonormal traceless Hermitian basis ``(d^2 - 1, d, d)`` (generalised Gell-Mann / sqrt 2).

    Order: for each pair ``k < l`` the symmetric ``(E_kl + E_lk)/sqrt 2`` and antisymmetric
    ``(-i E_kl + i E_lk)/sqrt 2`` matrices, then ``d - 1`` diagonal ones.
    """
    mats = []
    for k in range(d):
        for l in range(k + 1, d):
            s = np.zeros((d, d), complex)
            s[k, l] = s[l, k] = 1 / np.sqrt(2)
            a = np.zeros((d, d), complex)
            a[k, l] = -1j / np.sqrt(2)
            a[l, k] = 1j / np.sqrt(2)
            mats += [s, a]
    for l in range(1, d):
        g = np.zeros((d, d), complex)
        g[np.arange(l), np.arange(l)] = 1
        g[l, l] = -l
        mats.append(g / np.sqrt(l * (l + 1)))
    return np.stack(mats)


def rho_to_coords(rho) -> jax.Array:
    """Coordinates ``c_a = Re Tr(G_a rho)`` of a ``(..., d, d)`` density matrix."""
    rho = jnp.asarray(rho)
    basis = jnp.asarray(hermitian_basis(rho.shape[-1]))
    return jnp.einsum("aij,...ji->...a", basis, rho).real


def coords_to_rho(c, d: int) -> jax.Array:
    """``rho = I/d + sum_a c_a G_a`` for coordinates ``c`` of shape ``(..., d^2 - 1)``."""
    c = jnp.asarray(c)
    basis = jnp.asarray(hermitian_basis(d), dtype=jnp.result_type(c, 1j))
    return jnp.eye(d, dtype=basis.dtype) / d + jnp.einsum("...a,aij->...ij", c, basis)


def _commutator(a, b):
    return a @ b - b @ a


def meanfield_rhs_rho(model: QuditLMG, rho):
    """``d rhobar/dt`` (module docstring) for a ``(d, d)`` complex ``rho``."""
    d, j = model.d, model.j
    ops = spin_matrices(d)
    dtype = jnp.result_type(rho, model.ladder, 1j)
    jp = jnp.asarray(ops["+"], dtype)
    jm = jnp.asarray(ops["-"], dtype)
    L = model.jump_matrix().astype(dtype)
    Ld = L.conj().T
    ep = jnp.trace(rho @ jp)
    el = jnp.trace(rho @ L)
    h = (model.V / j) * (ep * jp + jnp.conj(ep) * jm)
    h = h + (1j * model.gamma_C / (2 * j)) * (jnp.conj(el) * L - el * Ld)
    LdL = Ld @ L
    diss = L @ rho @ Ld - 0.5 * (LdL @ rho + rho @ LdL)
    return -1j * _commutator(h, rho) + (model.gamma_I / j) * diss


def meanfield_rhs(model: QuditLMG, c):
    """``dc/dt`` in the coordinates of :func:`hermitian_basis` (real ``(d^2 - 1,)``)."""
    rho = coords_to_rho(c, model.d)
    return rho_to_coords(meanfield_rhs_rho(model, rho)).astype(c.dtype)


def scaled_spin(model_or_d: QuditLMG | int, c: ArrayLike) -> jax.Array:
    """``(X, Y, Z) = Tr(rhobar j_a)/j`` stacked on the last axis, for coordinates ``c``."""
    d = model_or_d if isinstance(model_or_d, int) else model_or_d.d
    j = (d - 1) / 2
    rho = coords_to_rho(c, d)
    ops = spin_matrices(d)
    vals = [jnp.einsum("ij,...ji->...", jnp.asarray(ops[a]), rho).real / j for a in "xyz"]
    return jnp.stack(vals, axis=-1)


def coherent_rho(d: int, theta: ArrayLike, phi: ArrayLike) -> jax.Array:
    """Spin coherent state ``|theta, phi><theta, phi|`` of one spin-j particle (``(d, d)``).

    Bloch convention as in :class:`SpinCoherentState`: ``theta`` from +z, ``theta = pi`` is
    ``m = -j`` (so ``Z = cos theta``, ``X = sin theta cos phi``, ``Y = sin theta sin phi``).
    """
    from scipy.special import comb

    j = (d - 1) / 2
    k = np.arange(
        d
    )  # m = k - j; amplitude ~ sqrt(C(2j, k)) cos(t/2)^k sin(t/2)^(2j-k) e^{-i k phi}
    binom = jnp.asarray(np.sqrt(comb(2 * j, k)))
    theta = jnp.asarray(theta, float)
    amp = binom * jnp.cos(theta / 2) ** k * jnp.sin(theta / 2) ** (2 * j - k)
    psi = amp * jnp.exp(-1j * k * phi)  # <j_+> ~ e^{+i phi}
    return jnp.outer(psi, psi.conj())


def polarised_coords(d: int) -> jax.Array:
    """Coordinates of the spin-z polarised state ``rhobar = |-j><-j|`` (001 Eq 12)."""
    rho = np.zeros((d, d), complex)
    rho[0, 0] = 1
    return rho_to_coords(rho)


def solve_qudit_meanfield(
    model: QuditLMG,
    rho0: ArrayLike,
    t1: float,
    *,
    n_save: int = 201,
    solver: Any = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
    throw: bool = True,
) -> Solution:
    """Integrate the N -> infinity mean field (module docstring) with Diffrax.

    Args:
        model: the :class:`QuditLMG` (``n`` is ignored).
        rho0: initial single-particle density matrix ``(d, d)``, or its coordinates
            ``(d^2 - 1,)`` (see :func:`rho_to_coords`).
        t1: final time (from ``t0 = 0``).
        n_save: number of equally spaced saving times in ``[0, t1]``.
        solver: a Diffrax solver (default ``Tsit5()``).
        rtol, atol: step-size controller tolerances.
        max_steps: Diffrax step limit.
        throw: raise on solver failure (else see ``stats["result"]``).

    Returns:
        :class:`Solution` with ``method="qudit_meanfield"``; ``mean`` holds ``X, Y, Z``
        ``(T,)`` (``<J_a>/(N j)``), ``Sx, Sy, Sz`` ``(T, 1)`` (per-particle ``<j_a>``),
        ``purity`` ``(T,)`` (``Tr rhobar^2``), ``rho`` ``(T, d, d)`` and ``coords``.
        Use float64 (``jax_enable_x64``) for fixed points and boundaries.

    Examples:
        >>> m = QuditLMG.spin_ladder(4, V=1.0, gamma_I=1.5)
        >>> sol = solve_qudit_meanfield(m, coherent_rho(4, 2.0, 0.7), 50.0)
        >>> sol["Z"][-1]
    """
    if not isinstance(model, QuditLMG):
        raise ValueError(f"`model` must be a QuditLMG, got {type(model).__name__}.")
    if not (np.isfinite(t1) and t1 > 0):
        raise ValueError(f"`t1` must be a finite time > 0, got {t1!r}.")
    if int(n_save) < 2:
        raise ValueError(f"`n_save` must be >= 2, got {n_save!r}.")
    d = model.d
    rho0 = jnp.asarray(rho0)
    if rho0.shape == (d, d):
        c0 = rho_to_coords(rho0)
    elif rho0.shape == (d * d - 1,):
        c0 = rho0
    else:
        raise ValueError(
            f"`rho0` must have shape {(d, d)} or {(d * d - 1,)}, got shape {rho0.shape}."
        )
    c0 = c0.astype(jnp.result_type(c0, model.V, float))
    ts = jnp.linspace(0.0, t1, int(n_save), dtype=c0.dtype)
    solver = diffrax.Tsit5() if solver is None else solver
    cs, result = _integrate(model, c0, ts, solver, rtol, atol, int(max_steps), throw)
    xyz = scaled_spin(d, cs)
    rho = coords_to_rho(cs, d)
    purity = jnp.einsum("tij,tji->t", rho, rho).real
    j = model.j
    mean = {
        "X": xyz[:, 0],
        "Y": xyz[:, 1],
        "Z": xyz[:, 2],
        "Sx": j * xyz[:, :1],
        "Sy": j * xyz[:, 1:2],
        "Sz": j * xyz[:, 2:],
        "purity": purity,
        "rho": rho,
        "coords": cs,
    }
    return Solution(
        "qudit_meanfield",
        np.asarray(ts),
        mean,
        {},
        {"d": d, "t1": float(t1), "result": str(result)},
    )


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6, 7))
def _integrate(model, c0, ts, solver, rtol, atol, max_steps, throw):
    term = diffrax.ODETerm(lambda t, c, m: meanfield_rhs(m, c))
    sol = diffrax.diffeqsolve(
        term,
        solver,
        ts[0],
        ts[-1],
        None,
        c0,
        args=model,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        throw=throw,
    )
    return sol.ys, sol.result
