"""Long-time behaviour of mean-field trajectories: fixed point, limit cycle or irregular.

Criterion (documented, tested on the LMG dimer). Each initial condition is integrated to
``t_burn`` (transients), then together with its tangent vector ``v``
(``dv/dt = J(y) v``, the variational equation, by ``jax.jvp``) over a window
``[t_burn, t_burn + t_window]`` sampled at ``n_samples`` times. From the window:

- ``spread`` = largest standard deviation of any component of ``y`` over the samples;
- ``lyapunov`` = least-squares slope of ``log |v(t)|`` over the second half of the window,
  a finite-time estimate of the largest Lyapunov exponent (``v`` starts tangent to the
  spheres). Regular orbits give ``~ log(t)/t``-small values (measured 0.005-0.014 on
  the LMG dimer's limit cycles with the default window), chaotic ones 0.07-0.6.

Classes: ``FIXED_POINT`` if ``spread < spread_tol``; otherwise ``LIMIT_CYCLE`` (periodic
or quasi-periodic, regular) if ``lyapunov < lyapunov_tol``; otherwise ``IRREGULAR``
(chaotic); ``FAILED`` if the integration failed or produced non-finite values. Near a
bifurcation relaxation is slow and a point can be classed as a limit cycle: increase
``t_burn`` there. The window's time average ``time_mean`` is the mean-field prediction for
steady-state observables in the limit-cycle phases (paper 000 averages the same way).
"""

import functools
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._checks import check_int, check_positive
from .._meanfield.meanfield import _check_model, initial_vectors, meanfield_vector_field
from .._model.model import SpinModel

FAILED, FIXED_POINT, LIMIT_CYCLE, IRREGULAR = -1, 0, 1, 2
CLASS_NAMES = {
    FAILED: "failed",
    FIXED_POINT: "fixed point",
    LIMIT_CYCLE: "limit cycle",
    IRREGULAR: "irregular",
}


def late_time(model, y0, *, t_burn, t_window, n_samples, rtol=1e-8, atol=1e-10):
    """Window statistics of one trajectory from ``y0`` ``(n, 3)`` (traceable).

    Returns:
        dict with ``time_mean`` ``(n, 3)``, ``spread``, ``lyapunov``, ``ok`` (scalars) and
        ``samples`` ``(n_samples, n, 3)``.
    """
    n = y0.shape[0]
    ctrl = diffrax.PIDController(rtol=rtol, atol=atol)
    term = diffrax.ODETerm(lambda t, y, args: meanfield_vector_field(args, y))
    burn = diffrax.diffeqsolve(
        term,
        diffrax.Tsit5(),
        0.0,
        t_burn,
        None,
        y0,
        args=model,
        stepsize_controller=ctrl,
        max_steps=1_000_000,
        throw=False,
    )
    y1 = burn.ys[-1]

    def aug(t, state, args):
        y, v = state
        f, jv = jax.jvp(lambda u: meanfield_vector_field(args, u), (y,), (v,))
        return f, jv

    # A fixed, generic tangent vector (no symmetry of the model maps it to itself).
    v0 = jnp.arange(1.0, 3 * n + 1.0, dtype=y0.dtype).reshape(n, 3) ** 1.5
    # Start tangent to the spheres: the radial part of v is conserved by a norm-conserving
    # flow and would otherwise hide decay of the tangent part.
    u = y1 / jnp.linalg.norm(y1, axis=-1, keepdims=True)
    v0 = v0 - jnp.sum(v0 * u, axis=-1, keepdims=True) * u
    v0 = v0 / jnp.linalg.norm(v0)
    ts = t_burn + jnp.linspace(0.0, t_window, n_samples)
    win = diffrax.diffeqsolve(
        diffrax.ODETerm(aug),
        diffrax.Tsit5(),
        t_burn,
        t_burn + t_window,
        None,
        (y1, v0),
        args=model,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=ctrl,
        max_steps=1_000_000,
        throw=False,
    )
    ys, vs = win.ys
    logv = jnp.log(jnp.linalg.norm(vs.reshape(n_samples, -1), axis=-1))
    half = n_samples // 2
    t2, l2 = ts[half:], logv[half:]
    slope = jnp.sum((t2 - t2.mean()) * (l2 - l2.mean())) / jnp.sum((t2 - t2.mean()) ** 2)
    spread = jnp.max(jnp.std(ys, axis=0))
    ok = (burn.result == diffrax.RESULTS.successful) & (win.result == diffrax.RESULTS.successful)
    ok = ok & jnp.all(jnp.isfinite(ys)) & jnp.isfinite(slope)
    return {
        "time_mean": jnp.mean(ys, axis=0),
        "spread": spread,
        "lyapunov": slope,
        "ok": ok,
        "samples": ys,
    }


def classify(spread, lyapunov, ok, spread_tol=1e-5, lyapunov_tol=0.03):
    """Class code (``FIXED_POINT``, ``LIMIT_CYCLE``, ``IRREGULAR``, ``FAILED``), traceable."""
    c = jnp.where(
        spread < spread_tol, FIXED_POINT, jnp.where(lyapunov < lyapunov_tol, LIMIT_CYCLE, IRREGULAR)
    )
    return jnp.where(ok, c, FAILED)


class Dynamics(eqx.Module):
    """Long-time behaviour of a set of initial conditions (see the module docstring).

    Attributes:
        classes: ``(k,)`` class codes (``CLASS_NAMES`` maps them to words).
        time_mean: ``(k, n, 3)`` time average of ``y`` over the window.
        spread: ``(k,)`` largest component standard deviation over the window.
        lyapunov: ``(k,)`` finite-time largest-Lyapunov-exponent estimate.
        samples: ``(k, n_samples, n, 3)`` the window trajectory.
    """

    classes: Int[Array, " k"]
    time_mean: Float[Array, "k n 3"]
    spread: Float[Array, " k"]
    lyapunov: Float[Array, " k"]
    samples: Float[Array, "k s n 3"]


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6))
def _dynamics(model, y0s, t_burn, t_window, n_samples, spread_tol, lyapunov_tol):
    out = jax.vmap(
        lambda y0: late_time(model, y0, t_burn=t_burn, t_window=t_window, n_samples=n_samples)
    )(y0s)
    cls = classify(out["spread"], out["lyapunov"], out["ok"], spread_tol, lyapunov_tol)
    return Dynamics(
        classes=cls,
        time_mean=out["time_mean"],
        spread=out["spread"],
        lyapunov=out["lyapunov"],
        samples=out["samples"],
    )


def classify_dynamics(
    model: SpinModel,
    initial: Any,
    *,
    t_burn: float = 200.0,
    t_window: float = 200.0,
    n_samples: int = 400,
    spread_tol: float = 1e-5,
    lyapunov_tol: float = 0.03,
) -> Dynamics:
    """Classify the long-time mean-field dynamics from each initial condition.

    Args:
        model: the :class:`SpinModel`.
        initial: ``(k, n, 3)`` initial vectors, or one ``(n, 3)`` / a SpinCoherentState.
        t_burn, t_window, n_samples: transient time, window length, samples in the window.
        spread_tol, lyapunov_tol: thresholds of the criterion (module docstring); rates are
            in the model's units (``g`` for the LMG dimer).

    Returns:
        :class:`Dynamics` with a leading axis over initial conditions.

    Examples:
        >>> d = tq.classify_dynamics(tq.lmg_dimer(1, 0.0, 0.8), tq.spin_down(2))
        >>> d.classes   # [1]: the PT limit cycle
    """
    _check_model(model)
    for name, v in (
        ("t_burn", t_burn),
        ("t_window", t_window),
        ("spread_tol", spread_tol),
        ("lyapunov_tol", lyapunov_tol),
    ):
        check_positive(name, v)
    n_samples = check_int("n_samples", n_samples, minimum=4)
    if hasattr(initial, "bloch_vectors") or np.ndim(initial) == 2:
        y0s = initial_vectors(model, initial)[None]
    else:
        y0s = jnp.asarray(initial, dtype=float)
        if y0s.ndim != 3 or y0s.shape[1:] != (model.n_sites, 3):
            raise ValueError(f"`initial` must have shape (k, {model.n_sites}, 3), got {y0s.shape}.")
    return _dynamics(
        model,
        y0s,
        float(t_burn),
        float(t_window),
        n_samples,
        float(spread_tol),
        float(lyapunov_tol),
    )
