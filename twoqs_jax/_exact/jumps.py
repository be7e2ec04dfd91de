"""Jump Modules in the exact (QuTiP) backend: collapse operators and their ladder offsets.

Two registries, one registration per jump type (``functools.singledispatch``):

- :func:`jump_operators`: the per-site operators ``sqrt(rate_i) L_i`` as linear combinations
  of the site's ``S^-``, ``S^+``, ``S^z`` (built by the caller; this module never imports
  QuTiP, so registering a jump type costs nothing at import time);
- :func:`jump_offsets`: the ``m``-ladder offsets of ``L_i`` (``-1`` for ``S^-``, ``+1`` for
  ``S^+``, ``0`` for ``S^z``), from which the memory guard (:mod:`.cost`) bounds the
  sparsity of the Liouvillian before anything is built;
- :func:`jump_matrix`: the rates as a per-site ``3 x 3`` matrix ``K_i`` over
  ``(S^-, S^+, S^z)``, traceable in JAX, in which the dissipator is *linear*
  (``L = sum_a c_a X_a``, ``K_ab = rate c_a conj(c_b)``); the exact derivatives
  (:mod:`.derivative`) differentiate it with ``jax.jvp``.
"""

import functools

import jax.numpy as jnp
import numpy as np

from .._model.jumps import AbstractJump, Decay, Dephasing, Gain

LADDER_OFFSETS = {"-": -1, "+": 1, "z": 0}


@functools.singledispatch
def jump_operators(jump: AbstractJump) -> list:
    """``[(site, {"-": c_-, "+": c_+, "z": c_z})]``: for every site with a nonzero rate, the
    coefficients of ``sqrt(rate_i) L_i = c_- S^- + c_+ S^+ + c_z S^z`` (Python complex).

    An entry ``((i_1, i_2, ...), (coefficients_1, coefficients_2, ...))`` is one collapse
    operator summed over several sites, ``sum_k (c_-^k S_{i_k}^- + ...)`` (a jump correlated
    across sites).
    """
    raise ValueError(
        f"the exact solvers do not support the jump {type(jump).__name__} (no registration "
        "in twoqs_jax._exact.jumps.jump_operators)."
    )


def _single(kind):
    def lower(jump):
        rate = np.asarray(jump.rate, dtype=float)
        return [(i, {kind: float(np.sqrt(r))}) for i, r in enumerate(rate) if r > 0]

    return lower


jump_operators.register(Decay, _single("-"))
jump_operators.register(Gain, _single("+"))
jump_operators.register(Dephasing, _single("z"))


def jump_offsets(jump: AbstractJump) -> list:
    """``[(site, offsets)]``: the ladder offsets present in ``L_i`` for every active site
    (derived from :func:`jump_operators`, so a new jump type needs no second registration).
    A collapse operator summed over sites gives ``((i_1, ...), (offsets_1, ...))``.
    """
    out = []
    for site, coefficients in jump_operators(jump):
        if isinstance(site, tuple):
            parts = [
                (i, sorted({LADDER_OFFSETS[k] for k, c in cs.items() if c != 0}))
                for i, cs in zip(site, coefficients)
            ]
            parts = [(i, o) for i, o in parts if o]
            if parts:
                out.append((tuple(i for i, _ in parts), tuple(o for _, o in parts)))
            continue
        offs = sorted({LADDER_OFFSETS[k] for k, c in coefficients.items() if c != 0})
        if offs:
            out.append((site, offs))
    return out


@functools.singledispatch
def jump_matrix(jump: AbstractJump):
    """``(n, 3, 3)`` complex ``K_i`` with ``rate_i D[L_i] = sum_ab K_iab D_ab`` (traceable).

    ``D_ab rho = X_a rho X_b^+ - 1/2 {X_b^+ X_a, rho}`` with ``X = (S^-, S^+, S^z)``; for
    ``L_i = sum_a c_a X_a`` at rate ``rate_i``, ``K_iab = rate_i c_a conj(c_b)``. The
    Liouvillian is linear in ``K`` (unlike in the collapse operators ``sqrt(rate) L``), so
    a tangent ``dK`` (from ``jax.jvp``) gives ``dL`` directly, negative entries included.
    """
    raise ValueError(
        f"the exact derivatives do not support the jump {type(jump).__name__} (no "
        "registration in twoqs_jax._exact.jumps.jump_matrix)."
    )


def _diagonal(slot):
    def matrix(jump):
        rate = jnp.asarray(jump.rate)
        return (
            jnp.zeros(rate.shape + (3, 3), dtype=jnp.result_type(rate, jnp.complex64))
            .at[..., slot, slot]
            .set(rate)
        )

    return matrix


jump_matrix.register(Decay, _diagonal(0))
jump_matrix.register(Gain, _diagonal(1))
jump_matrix.register(Dephasing, _diagonal(2))
