"""Mean-field (S -> infinity) equations derived automatically from a :class:`SpinModel`.

Variables are the normalised spin vectors ``X_i = <S_i> / S_i``, an array ``y`` of shape
``(n, 3)`` holding ``(X_i, Y_i, Z_i)``. Conventions: hbar = 1, standard Lindblad rates
(``drho/dt = -i[H, rho] + sum_k kappa_k D[L_k] rho``, ``D[L] = L rho L^+ - {L^+ L, rho}/2``).

Hamiltonian part. The Heisenberg equation ``dS_a/dt = i[H, S_a]`` with products factorised
(``<S_i^a S_j^b> -> <S_i^a><S_j^b>``, and at leading order in S also on the same site,
``<S^a S^b> -> S^2 X_a X_b``) gives ``ds_i/dt = grad_{s_i} H_cl x s_i`` with the classical
energy ``H_cl(s) = sum_i field_i . s_i + sum_e s_{i_e}^T coupling_e s_{j_e}``, ``s_i = S_i X_i``.
(Check: ``H = Omega S_x`` gives ``dS_y/dt = -Omega S_z``.) In normalised variables

    dX_i/dt = (1/S_i) grad_{X_i} H_cl(S X) x X_i,

with the gradient taken by ``jax.grad``, so every Hamiltonian term is right by construction.

Dissipators at leading order in S (from ``d<A>/dt = kappa <L^+ A L - {L^+ L, A}/2>``):

- decay ``L = S^-``:   ``dX = kappa S X Z``, ``dY = kappa S Y Z``, ``dZ = -kappa S (X^2 + Y^2)``;
- gain ``L = S^+``:    the same with the opposite sign;
- dephasing ``L = S^z``: ``dX = -kappa X / 2``, ``dY = -kappa Y / 2`` (exact at any S).

Decay, gain and the Hamiltonian conserve ``|X_i|``; dephasing shrinks it.
"""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._checks import check_finite, check_int, check_positive
from .._model.model import SpinModel
from .._model.states import SpinCoherentState
from .._solution import Solution


def _check_model(model) -> None:
    if not isinstance(model, SpinModel):
        raise ValueError(f"`model` must be a twoqs_jax.SpinModel, got {type(model).__name__}.")


def classical_energy(model: SpinModel, y: Float[Array, "n 3"]) -> Float[Array, ""]:
    """Classical energy ``H_cl`` of unit spin vectors ``y`` (shape ``(n, 3)``).

    ``H_cl = sum_i S_i field_i . y_i + sum_e S_{i_e} S_{j_e} y_{i_e}^T coupling_e y_{j_e}``,
    the leading order in S of ``<H>`` in a product of spin coherent states.
    """
    s = model.spin[:, None] * y
    e = jnp.sum(model.field * s)
    if model.n_edges:
        si = s[model.edges[:, 0]]
        sj = s[model.edges[:, 1]]
        e = e + jnp.einsum("ea,eab,eb->", si, model.coupling, sj)
    return e


def meanfield_vector_field(model: SpinModel, y: Float[Array, "n 3"]) -> Float[Array, "n 3"]:
    """``dy/dt`` of the mean-field equations (see the module docstring) at ``y`` ``(n, 3)``."""
    grad = jax.grad(classical_energy, argnums=1)(model, y) / model.spin[:, None]
    dy = jnp.cross(grad, y)
    x, yy, z = y[:, 0], y[:, 1], y[:, 2]
    # Decay minus gain, both at leading order in S (rates are O(1/S)).
    r = (model.decay - model.gain) * model.spin
    dy = dy + jnp.stack([r * x * z, r * yy * z, -r * (x**2 + yy**2)], axis=-1)
    d = model.dephasing / 2
    dy = dy + jnp.stack([-d * x, -d * yy, jnp.zeros_like(z)], axis=-1)
    return dy


def meanfield_rhs(model: SpinModel):
    """The mean-field vector field as a Diffrax-style callable ``f(t, y, args) -> dy/dt``.

    Args:
        model: the :class:`SpinModel`.

    Returns:
        ``f(t, y, args)`` with ``y`` of shape ``(n, 3)`` (normalised spin vectors); ``t`` and
        ``args`` are ignored.

    Example:
        >>> m = tq.lmg_dimer(10, J=0.3, lam=0.2)
        >>> f = tq.meanfield_rhs(m)
        >>> f(0.0, jnp.array([[0, 0, -1.0], [0, 0, 1.0]]), None)  # the normal state: zeros
    """
    _check_model(model)
    return lambda t, y, args: meanfield_vector_field(model, y)


def initial_vectors(model: SpinModel, state) -> Float[Array, "n 3"]:
    """Unit vectors ``(n, 3)`` from a :class:`SpinCoherentState` or an ``(n, 3)`` array."""
    n = model.n_sites
    if isinstance(state, SpinCoherentState):
        if state.n_sites != n:
            raise ValueError(f"`state` has {state.n_sites} sites but the model has {n} sites.")
        return state.bloch_vectors()
    y0 = jnp.asarray(state, dtype=float)
    if y0.shape != (n, 3):
        raise ValueError(
            f"`state` must be a SpinCoherentState or an array of shape ({n}, 3), got "
            f"{type(state).__name__} with shape {np.shape(state)}."
        )
    check_finite("state", y0)
    return y0


def save_times(times, t_final, n_save: int) -> np.ndarray:
    """Validated saving times from ``times`` or ``(t_final, n_save)`` (shared with cumulants)."""
    if (times is None) == (t_final is None):
        raise ValueError(
            f"give exactly one of `times` and `t_final`, got times={times!r}, t_final={t_final!r}."
        )
    if times is None:
        check_positive("t_final", t_final)
        n_save = check_int("n_save", n_save, minimum=2)
        return np.linspace(0.0, float(t_final), n_save)
    ts = np.asarray(times, dtype=float)
    if ts.ndim != 1 or ts.size < 1:
        raise ValueError(
            f"`times` must be a 1D array with at least one entry, got shape {ts.shape}."
        )
    check_finite("times", ts)
    if ts[0] < 0 or np.any(np.diff(ts) <= 0):
        raise ValueError(
            f"`times` must start at >= 0 and increase strictly, got {ts[:8].tolist()}..."
        )
    return ts


def default_solver():
    """Tsit5 (5th-order explicit Runge-Kutta) for the mean-field and cumulant ODEs."""
    return diffrax.Tsit5()


@eqx.filter_jit
def _integrate(vector_field, model, y0, ts, solver, rtol, atol, max_steps, throw):
    term = diffrax.ODETerm(lambda t, y, args: vector_field(args, y))
    return diffrax.diffeqsolve(
        term,
        solver,
        t0=0.0,
        t1=ts[-1],
        dt0=None,
        y0=y0,
        args=model,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        throw=throw,
    )


def integrate(
    vector_field,
    model,
    y0,
    ts,
    *,
    solver=None,
    rtol=1e-10,
    atol=1e-10,
    max_steps=1_000_000,
    throw=True,
):
    """Integrate ``dy/dt = vector_field(model, y)`` from ``t = 0`` with Diffrax, saving at ``ts``.

    ``model`` travels as ``args``: models of the same structure reuse one compilation, and
    the solve is differentiable in the model's parameters (Diffrax's default adjoint).
    """
    solver = default_solver() if solver is None else solver
    return _integrate(
        vector_field, model, y0, jnp.asarray(ts), solver, rtol, atol, int(max_steps), throw
    )


def observables_from_vectors(spin, y) -> dict:
    """Shared observables of product coherent states with mean vectors ``y`` ``(..., n, 3)``.

    Means ``S_i X_i``, second moments as products of means (variances zero), ``SpSm`` and
    ``SzSz`` as outer products.
    """
    s = jnp.asarray(spin)[:, None] * y
    sx, sy, sz = s[..., 0], s[..., 1], s[..., 2]
    zero = jnp.zeros_like(sx)
    sp = sx + 1j * sy
    return {
        "Sx": sx,
        "Sy": sy,
        "Sz": sz,
        "Sx2": sx**2,
        "Sy2": sy**2,
        "Sz2": sz**2,
        "SxSy": sx * sy,
        "SxSz": sx * sz,
        "SySz": sy * sz,
        "varx": zero,
        "vary": zero,
        "varz": zero,
        "SpSm": sp[..., :, None] * jnp.conj(sp)[..., None, :],
        "SzSz": sz[..., :, None] * sz[..., None, :],
    }


def solve_meanfield(
    model: SpinModel,
    state=None,
    *,
    t_final=None,
    times=None,
    n_save: int = 201,
    solver=None,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    max_steps: int = 1_000_000,
    throw: bool = True,
) -> Solution:
    """Solve the mean-field equations of ``model`` (module docstring) with Diffrax.

    ``dX_i/dt = (1/S_i) grad_{X_i} H_cl x X_i + (dissipators)``, ``X_i = <S_i>/S_i``,
    hbar = 1, standard Lindblad rates. Use float64 (``jax_enable_x64``) for tight tolerances.

    Args:
        model: the :class:`SpinModel`.
        state: initial :class:`SpinCoherentState` or ``(n, 3)`` vectors; default all down.
        t_final: final time (saving ``n_save`` equally spaced times from 0), or
        times: explicit increasing saving times (integration starts at ``t = 0``).
        n_save: number of saving times with ``t_final``.
        solver: a Diffrax ODE solver (default ``Tsit5()``; ``Dopri8()`` for high accuracy).
        rtol, atol: tolerances of the ``PIDController``.
        max_steps: step limit of ``diffeqsolve``.
        throw: raise if the integration fails (else NaN-filled results).

    Returns:
        ``Solution(method="meanfield")`` with the shared observables, each ``(T, n)``
        (``SpSm``, ``SzSz``: ``(T, n, n)``); second moments are products of means.

    Example:
        >>> m = tq.driven_spin(100, Omega=0.5)
        >>> sol = tq.solve_meanfield(m, tq.spin_down(), t_final=20.0)
        >>> sol["Sz"][-1] / 100   # -> -sqrt(1 - 0.5**2) = -0.866...
    """
    _check_model(model)
    ts = save_times(times, t_final, n_save)
    y0 = initial_vectors(model, state if state is not None else _down(model.n_sites))
    sol = integrate(
        meanfield_vector_field,
        model,
        y0,
        ts,
        solver=solver,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        throw=throw,
    )
    mean = observables_from_vectors(model.spin, sol.ys)
    stats = {
        "solver": type(solver or default_solver()).__name__,
        "rtol": rtol,
        "atol": atol,
        "num_steps": int(sol.stats["num_steps"]),
    }
    return Solution(method="meanfield", times=ts, mean=mean, sem={}, stats=stats)


def _down(n):
    from .._model.states import spin_down

    return spin_down(n)
