"""Phase boundaries by gradient-based root finding of the linear growth rate.

A boundary is where the largest real part ``G(p)`` of the stability eigenvalues of a
mean-field state (:func:`growth_rate`) crosses zero as a model parameter ``p`` varies.
:func:`find_boundary` runs Newton's method on ``G`` with the derivative from JAX
(``optimistix.Newton``), :func:`bisect_boundary` is the derivative-free reference
(``optimistix.Bisection``). For the LMG dimer of paper 000 (normal state ``X = Y = 0``,
``Z_A = -1``, ``Z_B = +1``) :func:`lmg_dimer_critical_J` and :func:`lmg_dimer_critical_lambda`
give ``J_c(lambda)`` and ``lambda_c(J)``; :func:`lmg_dimer_critical_J_closed_form` (Eq. 12) and
:func:`lmg_dimer_critical_lambda_small_J` (Eq. 13) are the paper's closed forms (Eq. 12 holds
to round-off; Eq. 13 is the small-J expansion, off by O(J^4), at gamma = g/2, its own
setting).
"""

import functools
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax.typing import ArrayLike

from .._checks import check_finite
from .._model.model import SpinModel
from .._model.presets import lmg_dimer
from .stability import growth_rate

NORMAL_STATE = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]])
"""The LMG dimer's normal state: site A (loss) down, site B (gain) up."""


def _check_float64(name):
    if not jax.config.jax_enable_x64:
        warnings.warn(
            f"{name} runs in float32 (jax_enable_x64 is off): boundaries are then good to "
            "about 1e-6 at best; enable float64 for 1e-10.",
            stacklevel=3,
        )


def _scalar(name, value):
    check_finite(name, value)
    if np.ndim(value) != 0:
        raise ValueError(f"`{name}` must be a scalar, got shape {np.shape(value)}.")
    return float(value)


def find_boundary(
    model_fn: Callable[[Any, Any], SpinModel],
    y: ArrayLike,
    p0: float,
    args: Any = None,
    *,
    rtol: float = 1e-13,
    atol: float = 1e-13,
    max_steps: int = 64,
    tangent: bool = True,
) -> float:
    """Parameter ``p`` where the growth rate of ``y`` under ``model_fn(p, args)`` crosses zero.

    Newton iterations ``p <- p - G(p) / G'(p)`` with ``G(p) = max Re eig(J(p))`` at ``y``
    (:func:`growth_rate`) and ``G'`` by ``jax.jacfwd``, via ``optimistix.root_find``.

    Args:
        model_fn: ``(p, args) -> SpinModel``, traceable in ``p`` and ``args``. Pass a
            module-level function (not a fresh lambda) so repeated calls reuse one
            compilation: the other parameters travel in ``args``.
        y: ``(n, 3)`` mean-field state, a fixed point for every ``p`` near the boundary.
        p0: starting guess (Newton converges from a guess on the smooth branch of ``G``).
        args: PyTree of arrays passed to ``model_fn`` (e.g. the other couplings).
        rtol, atol: Newton tolerances on ``p`` (the result is good to ~1e-13 in float64).
        max_steps: Newton step limit.
        tangent: see :func:`stability_eigenvalues`.

    Returns:
        The critical parameter (float).

    Raises:
        ValueError: non-finite ``p0``.
        RuntimeError: Newton did not converge, or converged to a point where ``|G|`` is not
            at round-off (e.g. a kink of the max over eigenvalues).

    Examples:
        >>> def dimer_J(J, lam):
        ...     return tq.lmg_dimer(1, J, lam)
        >>> tq.find_boundary(dimer_J, tq.NORMAL_STATE, 0.6, 0.2)  # 0.62482689910...
    """
    p0 = _scalar("p0", p0)
    _check_float64("find_boundary")
    y = jnp.asarray(y, dtype=float)
    sol, g = _newton(
        model_fn, y, jnp.asarray(p0, dtype=float), args, rtol, atol, max_steps, tangent
    )
    p, g = float(sol.value), float(g)
    if sol.result != optx.RESULTS.successful or not np.isfinite(p) or abs(g) > 1e-9:
        raise RuntimeError(
            f"find_boundary did not converge from p0={p0}: ended at p={p} with growth rate "
            f"{g:.3e} ({optx.RESULTS[sol.result]!r}). Try another p0, or bisect_boundary."
        )
    return p


@functools.partial(jax.jit, static_argnums=(0, 4, 5, 6, 7))
def _newton(model_fn, y, p0, args, rtol, atol, max_steps, tangent):
    fn = lambda p, a: growth_rate(model_fn(p, a), y, tangent=tangent)
    sol = optx.root_find(
        fn, optx.Newton(rtol=rtol, atol=atol), p0, args, max_steps=max_steps, throw=False
    )
    return sol, fn(sol.value, args)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _growth(model_fn, y, p, args, tangent):
    return growth_rate(model_fn(p, args), y, tangent=tangent)


@functools.partial(jax.jit, static_argnums=(0, 5, 6, 7, 8))
def _bisect(model_fn, y, lower, upper, args, flip, tol, max_steps, tangent):
    fn = lambda p, a: growth_rate(model_fn(p, a), y, tangent=tangent)
    solver = optx.Bisection(rtol=0.0, atol=tol, flip=flip)
    return optx.root_find(
        fn,
        solver,
        0.5 * (lower + upper),
        args,
        options={"lower": lower, "upper": upper},
        max_steps=max_steps,
        throw=False,
    )


def bisect_boundary(
    model_fn: Callable[[Any, Any], SpinModel],
    y: ArrayLike,
    lower: float,
    upper: float,
    args: Any = None,
    *,
    tol: float = 1e-13,
    max_steps: int = 200,
    tangent: bool = True,
) -> float:
    """Derivative-free reference for :func:`find_boundary`: bisection of ``G(p)`` on a bracket.

    Raises:
        ValueError: ``lower``/``upper`` not finite, not ordered, or ``G`` has no sign change
            on ``[lower, upper]``.
    """
    lower, upper = _scalar("lower", lower), _scalar("upper", upper)
    if not lower < upper:
        raise ValueError(f"need `lower` < `upper`, got lower={lower}, upper={upper}.")
    y = jnp.asarray(y, dtype=float)

    def fn(p):
        return _growth(model_fn, y, jnp.asarray(p, dtype=float), args, tangent)

    g_lo, g_hi = float(fn(lower)), float(fn(upper))
    if not (np.isfinite(g_lo) and np.isfinite(g_hi)) or np.sign(g_lo) == np.sign(g_hi):
        raise ValueError(
            f"the bracket [lower, upper] = [{lower}, {upper}] holds no sign change of the growth "
            f"rate: G(lower)={g_lo:.3e}, G(upper)={g_hi:.3e}."
        )
    sol = _bisect(model_fn, y, lower, upper, args, bool(g_lo > 0), tol, max_steps, tangent)
    if sol.result != optx.RESULTS.successful:
        raise RuntimeError(
            f"bisection did not converge on [{lower}, {upper}]: {optx.RESULTS[sol.result]!r}."
        )
    return float(sol.value)


def lmg_dimer_critical_J(
    lam: float, *, g: float = 1.0, gamma: float = 0.5, J0: float | None = None, **kw: Any
) -> float:
    """``J_c(lambda)``: the normal state of the LMG dimer loses stability at ``J = J_c``.

    ``J0`` picks the branch (default ``+(g^2 + gamma^2)/(2g)``, the ``J > 0`` boundary where
    spin B orders; pass a negative guess for the ``J < 0`` boundary of spin A).
    """
    lam = _scalar("lam", lam)
    g, gamma = _scalar("g", g), _scalar("gamma", gamma)
    J0 = (g**2 + gamma**2) / (2 * g) if J0 is None else J0
    return find_boundary(_dimer_of_J, NORMAL_STATE, J0, (lam, g, gamma), **kw)


def lmg_dimer_critical_lambda(
    J: float, *, g: float = 1.0, gamma: float = 0.5, lam0: float | None = None, **kw: Any
) -> float:
    """``lambda_c(J)``: the normal state loses stability (towards the PT / limit-cycle phase)."""
    J = _scalar("J", J)
    g, gamma = _scalar("g", g), _scalar("gamma", gamma)
    lam0 = gamma if lam0 is None else lam0
    return find_boundary(_dimer_of_lambda, NORMAL_STATE, lam0, (J, g, gamma), **kw)


def _dimer_of_J(J, args):
    lam, g, gamma = args
    return lmg_dimer(1, J, lam, g, gamma)


def _dimer_of_lambda(lam, args):
    J, g, gamma = args
    return lmg_dimer(1, J, lam, g, gamma)


def lmg_dimer_critical_J_closed_form(lam, g=1.0, gamma=0.5):
    """Paper 000 Eq. 12: ``J_c^2 = ((gamma^2 - lam^2 + g^2)^2 + 4 lam^2 g^2) / (4 (lam^2 + g^2))``."""
    lam = jnp.asarray(lam)
    return jnp.sqrt(((gamma**2 - lam**2 + g**2) ** 2 + 4 * lam**2 * g**2) / (4 * (lam**2 + g**2)))


def lmg_dimer_critical_lambda_small_J(J, g=1.0):
    """Paper 000 Eq. 13 (small J, at gamma = g/2): ``lambda_c / g = (1 + 2 J^2 / g^2) / 2``."""
    J = jnp.asarray(J)
    return 0.5 * g * (1 + 2 * J**2 / g**2)
