"""Jacobians and linear stability of mean-field states.

The mean-field flow ``dy/dt = f(y)`` (``y`` of shape ``(n, 3)``, normalised spin vectors, see
:mod:`twoqs_jax._meanfield.meanfield`) conserves every ``|y_i|`` when the model has no
dephasing. Then ``y_i . f(y) = 0`` for all ``y``, so at a fixed point ``J^T y_i = 0``: each site
contributes one exact zero eigenvalue of the full ``3n x 3n`` Jacobian ``J = df/dy`` (the
radial, conserved direction), and the tangent space ``T = (+)_i y_i^perp`` is invariant under
``J``. Stability is decided by the ``2n`` eigenvalues of ``J`` restricted to ``T``:
``P^T J P`` with ``P`` an orthonormal basis of ``T`` (``tangent=True``, the default). With
dephasing the norm shrinks, fixed points lie inside the balls, and the full ``3n x 3n``
Jacobian is the right object (``tangent=False``).

Eigenvalues come from ``jnp.linalg.eigvals`` (differentiable where they are simple).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from .._meanfield.meanfield import meanfield_vector_field, model_conserves_norm
from .._model.model import SpinModel


def tangent_basis(y: Float[Array, "n 3"]) -> Float[Array, "n 3 2"]:
    """Orthonormal basis ``(e_theta, e_phi)`` of each sphere's tangent plane at ``y_i``.

    Uses the polar angles of ``y_i`` (``phi = atan2(Y, X)``, which is 0 at the poles, where
    the basis is still orthonormal and perpendicular to ``y_i``).
    """
    r = jnp.linalg.norm(y, axis=-1)
    theta = jnp.arccos(jnp.clip(y[..., 2] / r, -1.0, 1.0))
    phi = jnp.arctan2(y[..., 1], y[..., 0])
    ct, st, cp, sp = jnp.cos(theta), jnp.sin(theta), jnp.cos(phi), jnp.sin(phi)
    e_theta = jnp.stack([ct * cp, ct * sp, -st], axis=-1)
    e_phi = jnp.stack([-sp, cp, jnp.zeros_like(sp)], axis=-1)
    return jnp.stack([e_theta, e_phi], axis=-1)


def _projector(y):
    """``(3n, 2n)`` block-diagonal orthonormal basis of the tangent space ``T``."""
    n = y.shape[0]
    b = tangent_basis(y)  # (n, 3, 2)
    eye = jnp.eye(n, dtype=y.dtype)
    return jnp.einsum("ij,iak->iajk", eye, b).reshape(3 * n, 2 * n)


def jacobian(model, y: Float[Array, "n 3"]) -> Float[Array, "3n 3n"]:
    """Full Jacobian ``df/dy`` of the mean-field vector field, flattened to ``(3n, 3n)``."""
    n = y.shape[0]
    jac = jax.jacfwd(lambda v: meanfield_vector_field(model, v.reshape(n, 3)).reshape(-1))
    return jac(y.reshape(-1))


def _check_tangent(model, tangent):
    if tangent and not model_conserves_norm(model):
        raise ValueError(
            "`tangent=True` needs a model that conserves |X_i| (no dephasing or other "
            f"norm-shrinking jump); got jumps {[type(j).__name__ for j in model.jumps]} with "
            f"dephasing={np.asarray(model.dephasing).tolist()}. Use tangent=False."
        )


def stability_matrix(model, y: Float[Array, "n 3"], *, tangent: bool = True) -> Array:
    """The linearised flow at ``y``: ``P^T J P`` (``(2n, 2n)``) or ``J`` (``(3n, 3n)``)."""
    _check_tangent(model, tangent)
    jac = jacobian(model, y)
    if not tangent:
        return jac
    p = _projector(y / jnp.linalg.norm(y, axis=-1, keepdims=True))
    return p.T @ jac @ p


def stability_eigenvalues(
    model: SpinModel, y: Float[Array, "n 3"], *, tangent: bool = True
) -> Complex[Array, " k"]:
    """Eigenvalues of the linearised mean-field flow at ``y``, sorted by decreasing real part.

    Args:
        model: the :class:`SpinModel`.
        y: ``(n, 3)`` state (a fixed point for a stability statement).
        tangent: restrict to the tangent space of the spheres (``2n`` eigenvalues; needs a
            norm-conserving model, i.e. no dephasing), else the full ``3n`` (module docstring).

    Returns:
        ``(2n,)`` or ``(3n,)`` complex eigenvalues; ``y`` is linearly stable when all real parts
        are negative.
    """
    _check_tangent(model, tangent)
    return _eigenvalues(model, jnp.asarray(y), tangent)


@functools.partial(jax.jit, static_argnums=(2,))
def _eigenvalues(model, y, tangent):
    ev = jnp.linalg.eigvals(stability_matrix(model, y, tangent=tangent))
    return ev[jnp.argsort(-ev.real)]


def growth_rate(
    model: SpinModel, y: Float[Array, "n 3"], *, tangent: bool = True
) -> Float[Array, ""]:
    """Largest real part of the stability eigenvalues at ``y`` (negative: linearly stable)."""
    _check_tangent(model, tangent)
    return _growth_rate(model, jnp.asarray(y), tangent)


@functools.partial(jax.jit, static_argnums=(2,))
def _growth_rate(model, y, tangent):
    ev = jnp.linalg.eigvals(stability_matrix(model, y, tangent=tangent))
    return jnp.max(ev.real)
