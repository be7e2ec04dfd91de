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

Jumps enter through one registry, :func:`meanfield_dissipator` (``functools.singledispatch``
on the jump type, one registration per type; the three above are registered here).
"""

import functools
from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._checks import check_finite
from .._model.jumps import AbstractJump, Decay, Dephasing, Gain
from .._model.model import SpinModel
from .._model.states import SpinCoherentState
from .._solution import Solution


@functools.singledispatch
def meanfield_dissipator(jump: AbstractJump, spin, y):
    """``dy/dt`` of one jump Module in the mean-field equations (``y``: ``(n, 3)`` unit
    vectors ``<S_i>/S_i``, ``spin``: ``(n,)``). Register every jump type once.
    """
    raise ValueError(
        f"the mean-field equations do not support the jump {type(jump).__name__} "
        "(no registration in twoqs_jax._meanfield.meanfield.meanfield_dissipator)."
    )


@functools.singledispatch
def conserves_norm(jump: AbstractJump) -> bool:
    """Whether a jump's mean-field term keeps every ``|X_i|`` (decides the default of the
    tangent-space stability analysis). Unregistered jump types: ``False``.
    """
    return False


def _ladder(rate, spin, y):
    # decay (rate > 0) or, with a negative sign, gain: leading order in S (rates O(1/S))
    r = rate * spin
    x, yy, z = y[:, 0], y[:, 1], y[:, 2]
    return jnp.stack([r * x * z, r * yy * z, -r * (x**2 + yy**2)], axis=-1)


@meanfield_dissipator.register
def _(jump: Decay, spin, y):
    return _ladder(jump.rate, spin, y)


@meanfield_dissipator.register
def _(jump: Gain, spin, y):
    return _ladder(-jump.rate, spin, y)


@meanfield_dissipator.register
def _(jump: Dephasing, spin, y):
    d = jump.rate / 2
    return jnp.stack([-d * y[:, 0], -d * y[:, 1], jnp.zeros_like(y[:, 2])], axis=-1)


conserves_norm.register(Decay, lambda jump: True)
conserves_norm.register(Gain, lambda jump: True)


def model_conserves_norm(model) -> bool:
    """True when no jump of ``model`` shrinks the mean-field ``|X_i|``: every jump conserves
    it or has all rates zero (traced rates count as zero: the check needs values).
    """
    from .._checks import is_concrete

    def inactive(jump):
        return not is_concrete(jump.rate) or not np.any(np.asarray(jump.rate) != 0)

    return all(conserves_norm(j) or inactive(j) for j in model.jumps)


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
    for jump in model.jumps:
        dy = dy + meanfield_dissipator(jump, model.spin, y)
    return dy


def meanfield_rhs(model: SpinModel) -> Callable[[Any, jax.Array, Any], jax.Array]:
    """The mean-field vector field as a Diffrax-style callable ``f(t, y, args) -> dy/dt``.

    Args:
        model: the :class:`SpinModel`.

    Returns:
        ``f(t, y, args)`` with ``y`` of shape ``(n, 3)`` (normalised spin vectors); ``t`` and
        ``args`` are ignored.

    Examples:
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


def default_solver():
    """Tsit5 (5th-order explicit Runge-Kutta) for the mean-field and cumulant ODEs."""
    return diffrax.Tsit5()


class _Complex(eqx.Module):
    """A complex model parameter carried as two real arrays (Diffrax wants real args)."""

    re: Array
    im: Array


def _real_args(tree):
    def split(x):
        if eqx.is_array(x) and jnp.iscomplexobj(x):
            return _Complex(jnp.real(x), jnp.imag(x))
        return x

    return jax.tree.map(split, tree)


def _complex_args(tree):
    return jax.tree.map(
        lambda x: lax_complex(x.re, x.im) if isinstance(x, _Complex) else x,
        tree,
        is_leaf=lambda x: isinstance(x, _Complex),
    )


def lax_complex(re, im):
    """``re + i im`` without a real-to-complex promotion warning."""
    return jax.lax.complex(re, im)


@eqx.filter_jit
def _integrate(vector_field, model, y0, ts, solver, rtol, atol, max_steps, throw):
    term = diffrax.ODETerm(lambda t, y, args: vector_field(_complex_args(args), y))
    return diffrax.diffeqsolve(
        term,
        solver,
        t0=ts[0],
        t1=ts[-1],
        dt0=None,
        y0=y0,
        args=_real_args(model),
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
    """Integrate ``dy/dt = vector_field(model, y)`` from ``y0`` at ``ts[0]``, saving at ``ts``.

    ``model`` travels as ``args``: models of the same structure reuse one compilation, and
    the solve is differentiable in the model's parameters (Diffrax's default adjoint).
    Returns ``(ys, num_steps)`` with ``ys`` stacked over ``ts`` (a single time gives ``y0``).
    """
    solver = default_solver() if solver is None else solver
    ts = jnp.asarray(ts)
    if ts.shape[0] == 1:
        return jax.tree.map(lambda x: jnp.asarray(x)[None], y0), 0
    sol = _integrate(vector_field, model, y0, ts, solver, rtol, atol, int(max_steps), throw)
    return sol.ys, sol.stats["num_steps"]


def ode_grid(saveat) -> tuple:
    """``(ts, times, window)``: the integration times of a :class:`SaveAt` (the initial state
    at ``ts[0]``) or :class:`SteadyState` (from ``t = 0``; ``window`` selects the averaged
    samples ``t_burn + j every``, ``every`` default ``t_avg / 200``).
    """
    from .._saveat import SaveAt, SteadyState

    if isinstance(saveat, SaveAt):
        return saveat.ts, saveat.ts, None
    if isinstance(saveat, SteadyState):
        saveat.require_window("the mean-field and cumulant equations")
        samples = saveat.sample_times(0.0, float(saveat.t_avg) / 200)
        ts = np.concatenate([[0.0], samples])
        return ts, None, slice(1, None)
    raise ValueError(
        f"`saveat` must be a tq.SaveAt or tq.SteadyState, got {type(saveat).__name__}."
    )


def solve_ode(vector_field, model, y0, saveat, method, options, batched, state_batched):
    """Integrate one model or a batch (``jax.vmap`` over the model and, if batched, the
    initial state); returns ``(ys, times, num_steps, window)`` with ``ys`` leading axes
    ``(batch?, T)``.
    """
    ts, times, window = ode_grid(saveat)
    throw = True if options is None else options.throw
    kw = dict(
        solver=method.solver,
        rtol=method.rtol,
        atol=method.atol,
        max_steps=method.max_steps,
        throw=throw,
    )
    if batched:

        def one(m, y):
            return integrate(vector_field, m, y, ts, **kw)

        ys, steps = jax.vmap(one, in_axes=(0, 0 if state_batched else None))(model, y0)
    else:
        ys, steps = integrate(vector_field, model, y0, ts, **kw)
    return ys, times, np.asarray(steps).tolist(), window


def primitives_from_vectors(spin, y) -> dict:
    """Primitive moments of product coherent states with mean vectors ``y`` ``(..., n, 3)``
    at leading order in S: means ``S_i X_i``, second moments as products of means,
    ``SpSm`` and ``SzSz`` as outer products.
    """
    s = (
        np.asarray(spin)[..., None, :, None] * np.asarray(y)
        if np.ndim(spin) == 2
        else (np.asarray(spin)[:, None] * np.asarray(y))
    )
    sx, sy, sz = s[..., 0], s[..., 1], s[..., 2]
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
        "SpSm": sp[..., :, None] * np.conj(sp)[..., None, :],
        "SzSz": sz[..., :, None] * sz[..., None, :],
    }


def spin_for(model, time_axis: bool):
    """The model's spin lengths shaped ``(batch?, 1?, n)`` to broadcast against primitives."""
    spin = np.asarray(model.spin, dtype=np.float64)
    return spin[..., None, :] if time_axis else spin


def finish(name, prims, observables, model, times, window, stats):
    """A deterministic :class:`Solution` from primitives with leading axes
    ``(batch?, T)`` (window-averaged for a steady state).
    """
    from .._observables import dims_of, evaluate

    batched = model.spin.ndim == 2
    if window is not None:
        axis = 1 if batched else 0
        prims = {
            k: np.mean(np.take(v, np.arange(v.shape[axis])[window], axis=axis), axis=axis)
            for k, v in prims.items()
        }
    time_axis = times is not None
    mean = evaluate(observables, prims, spin_for(model, time_axis))
    lead = (("batch",) if batched else ()) + (("time",) if time_axis else ())
    dims = {o.name: dims_of(o, lead) for o in observables}
    return Solution(method=name, times=times, mean=mean, sem={}, stats=stats, dims=dims)


def initial_batch(model, state):
    """``(y0, state_batched)``: unit vectors for one model or a batch."""
    batched = model.spin.ndim == 2
    if isinstance(state, SpinCoherentState) and state.theta.ndim == 2:
        if not batched or state.theta.shape[0] != model.spin.shape[0]:
            raise ValueError(
                f"a batch of states (angles of shape {state.theta.shape}) needs a batch of "
                f"models of the same length; the model's spin has shape {model.spin.shape}."
            )
        if state.theta.shape[-1] != model.n_sites:
            raise ValueError(
                f"`state` has {state.theta.shape[-1]} sites but the model has "
                f"{model.n_sites} sites."
            )
        return state.bloch_vectors(), True
    if isinstance(state, SpinCoherentState):
        if state.n_sites != model.n_sites:
            raise ValueError(
                f"`state` has {state.n_sites} sites but the model has {model.n_sites} sites."
            )
        return state.bloch_vectors(), False
    y0 = jnp.asarray(state, dtype=float)
    if y0.shape != (model.n_sites, 3):
        raise ValueError(
            f"`state` must be a SpinCoherentState or an array of shape ({model.n_sites}, 3), "
            f"got {type(state).__name__} with shape {np.shape(state)}."
        )
    check_finite("state", y0)
    return y0, False


MEANFIELD_PRIMITIVES = (
    "Sx",
    "Sy",
    "Sz",
    "Sx2",
    "Sy2",
    "Sz2",
    "SxSy",
    "SxSz",
    "SySz",
    "SpSm",
    "SzSz",
)


def solve_meanfield_ode(model, state, saveat, method, observables=None, options=None):
    """Mean-field backend of :func:`twoqs_jax.solve` (module docstring)."""
    from .._observables import resolve

    _check_model(model)
    model.validate()
    observables = resolve(observables, model.n_sites, "mean-field", MEANFIELD_PRIMITIVES)
    y0, state_batched = initial_batch(model, state)
    batched = model.spin.ndim == 2
    ys, times, steps, window = solve_ode(
        meanfield_vector_field, model, y0, saveat, method, options, batched, state_batched
    )
    prims = primitives_from_vectors(model.spin, ys)
    stats = {
        "solver": type(method.solver).__name__,
        "rtol": method.rtol,
        "atol": method.atol,
        "num_steps": steps,
    }
    return finish("meanfield", prims, observables, model, times, window, stats)
