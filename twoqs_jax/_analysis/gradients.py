"""Derivatives of mean-field steady states with respect to model parameters, and tuning.

Two routes, both exact to solver tolerance:

- implicit: the fixed point ``y*(p)`` solves ``F(y, p) = 0`` (``F`` of
  :mod:`.fixed_points`); ``optimistix.root_find`` with ``ImplicitAdjoint`` differentiates it by
  the implicit function theorem, ``dy*/dp = -(dF/dy)^{-1} dF/dp``, at the cost of one linear
  solve, independent of how Newton got there;
- through the time integration: ``y(T; p)`` from ``diffrax.diffeqsolve`` differentiated by
  Diffrax's checkpointed adjoint (for ``T`` long enough that ``y(T)`` has relaxed).

:func:`tune_parameter` drives a scalar parameter with ``optax.adam`` until a steady-state
observable hits a target.
"""

import functools
from collections.abc import Callable
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import optax
import optimistix as optx
from jax.typing import ArrayLike

from .._checks import check_finite, check_int, check_positive
from .._meanfield.meanfield import meanfield_vector_field
from .._model.model import SpinModel
from .fixed_points import _residual


def steady_state(model, y0, *, on_sphere=True, rtol=1e-13, atol=1e-13, max_steps=64):
    """Fixed point near ``y0`` ``(n, 3)`` by Newton, differentiable implicitly in ``model``.

    Traceable; failure gives NaN (``throw=False`` and a NaN mask), never a wrong number.
    """
    fn = lambda y, m: _residual(m, y, on_sphere)
    sol = optx.root_find(
        fn,
        optx.Newton(rtol=rtol, atol=atol),
        y0,
        model,
        max_steps=max_steps,
        adjoint=optx.ImplicitAdjoint(),
        throw=False,
    )
    ok = sol.result == optx.RESULTS.successful
    return jnp.where(ok, sol.value, jnp.nan)


def relaxed_state(model, y0, t_final, *, rtol=1e-12, atol=1e-12, max_steps=1_000_000):
    """``y(t_final)`` of the mean-field flow from ``y0``, differentiable in ``model``."""
    term = diffrax.ODETerm(lambda t, y, args: meanfield_vector_field(args, y))
    sol = diffrax.diffeqsolve(
        term,
        diffrax.Tsit5(),
        0.0,
        t_final,
        None,
        y0,
        args=model,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        throw=False,
    )
    return jnp.where(sol.result == diffrax.RESULTS.successful, sol.ys[-1], jnp.nan)


@functools.partial(jax.jit, static_argnums=(0, 1, 4))
def _value_and_grad_implicit(model_fn, observable, p, y0, args):
    f = lambda q: observable(steady_state(model_fn(q, args), y0))
    return jax.value_and_grad(f)(p)


@functools.partial(jax.jit, static_argnums=(0, 1, 5))
def _value_and_grad_time(model_fn, observable, p, y0, t_final, args):
    f = lambda q: observable(relaxed_state(model_fn(q, args), y0, t_final))
    return jax.value_and_grad(f)(p)


def steady_state_gradient(
    model_fn: Callable[[Any, Any], SpinModel],
    p: ArrayLike,
    y0: ArrayLike,
    observable: Callable[[jax.Array], jax.Array],
    *,
    method: str = "implicit",
    t_final: float = 200.0,
    args: Any = None,
) -> tuple[jax.Array, jax.Array]:
    """Value and derivative of ``observable(y*)`` with respect to the parameter ``p``.

    Args:
        model_fn: ``(p, args) -> SpinModel`` (module-level function; ``args`` static/hashable).
        p: parameter value (scalar or array).
        y0: ``(n, 3)`` start: Newton's initial guess (``"implicit"``) or the initial state
            of the time integration (``"time"``).
        observable: ``y -> scalar`` (module-level function), e.g. ``lambda y: y[1, 2]``.
        method: ``"implicit"`` (root find + implicit function theorem) or ``"time"``
            (through ``diffeqsolve`` up to ``t_final``).
        t_final: integration time for ``"time"``.
        args: hashable extra parameters passed to ``model_fn``.

    Returns:
        ``(value, gradient)``; NaN if the root finding or integration failed.
    """
    check_finite("p", p)
    p = jnp.asarray(p, dtype=float)
    y0 = jnp.asarray(y0, dtype=float)
    if method == "implicit":
        return _value_and_grad_implicit(model_fn, observable, p, y0, args)
    if method == "time":
        check_positive("t_final", t_final)
        return _value_and_grad_time(model_fn, observable, p, y0, float(t_final), args)
    raise ValueError(f"`method` must be 'implicit' or 'time', got {method!r}.")


@functools.partial(jax.jit, static_argnums=(0, 3))
def _steady(model_fn, p, y, args):
    return steady_state(model_fn(p, args), y)


def tune_parameter(
    model_fn: Callable[[Any, Any], SpinModel],
    p0: float,
    y0: ArrayLike,
    observable: Callable[[jax.Array], jax.Array],
    target: float,
    *,
    args: Any = None,
    learning_rate: float = 0.05,
    steps: int = 300,
    tol: float = 1e-10,
) -> tuple[float, list]:
    """Tune ``p`` with ``optax.adam`` so that ``observable(y*(p)) = target``.

    Minimises ``(observable(y*(p)) - target)^2`` with implicit-differentiated gradients; the
    fixed point is re-found by Newton from the previous one at every step (continuation).

    Returns:
        ``(p, history)``: the tuned parameter and the list of ``(p, observable)`` per step.

    Raises:
        RuntimeError: the fixed point was lost (NaN) during tuning.
    """
    check_finite("p0", p0)
    check_finite("target", target)
    steps = check_int("steps", steps, minimum=1)
    opt = optax.adam(learning_rate)
    p = jnp.asarray(p0, dtype=float)
    state = opt.init(p)
    y = jnp.asarray(y0, dtype=float)
    history = []
    for _ in range(steps):
        value, grad = _value_and_grad_implicit(model_fn, observable, p, y, args)
        if not jnp.isfinite(value):
            raise RuntimeError(f"lost the fixed point at p={float(p)} during tuning.")
        history.append((float(p), float(value)))
        if abs(float(value) - target) < tol:
            break
        loss_grad = 2 * (value - target) * grad
        updates, state = opt.update(loss_grad, state, p)
        p = optax.apply_updates(p, updates)
        y = _steady(model_fn, p, y, args)
    return float(p), history
