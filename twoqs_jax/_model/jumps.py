"""Jump operators as Modules: one per-site operator ``L_i`` and its standard Lindblad rates.

A jump contributes ``sum_i kappa_i (L_i rho L_i^+ - 1/2 {L_i^+ L_i, rho})`` (hbar = 1, the
standard dissipator) to the master equation. Every jump type is an :class:`AbstractJump`
holding ``(n,)`` arrays once bound to a model (scalars are broadcast by :class:`SpinModel`),
so a model stays a PyTree of a few arrays that can be vmapped and differentiated.

What a jump *means* for a method lives with the method: every backend keeps one registry
(a ``functools.singledispatch`` function, as ``lineax/_operator.py`` does for operators)
with one registration per jump type:

==========================  ==========================================================
backend                     registry
==========================  ==========================================================
Wigner / P / Q SDEs         :func:`twoqs_jax._phase_space.lowering.phase_space_term`
mean field                  :func:`twoqs_jax._meanfield.meanfield.meanfield_dissipator`
second-order cumulants      :func:`twoqs_jax._meanfield.cumulants.cumulant_dissipator`
exact (QuTiP)               :func:`twoqs_jax._exact.jumps.jump_operators`,
                            :func:`twoqs_jax._exact.jumps.jump_offsets`
Holstein-Primakoff theory   :func:`twoqs_jax._lattice.linear.linear_dissipator`
==========================  ==========================================================

Every registry lowers the jumps to dense arrays before anything is jitted. A new jump type is
one file that defines the Module and registers it once per backend it supports
(:mod:`twoqs_jax._jumps.spin_jump` is the example: ``L = c_- S^- + c_+ S^+ + c_z S_z``).
"""

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike
from jaxtyping import Array, Float

from .._checks import check_nonnegative_rate, check_real

JUMP_TYPES: dict = {}
"""Jump classes by name (for saving and loading models)."""


def register_jump_type(cls):
    """Record ``cls`` under its name so that saved models can be rebuilt (class decorator)."""
    JUMP_TYPES[cls.__name__] = cls
    return cls


class AbstractJump(eqx.Module):
    """A per-site jump operator ``L_i`` with standard rates ``rate_i`` (abstract).

    Subclasses are final Modules whose array fields are listed in ``real_fields`` (real,
    e.g. rates) and ``complex_fields`` (complex coefficients); :meth:`bind` broadcasts them
    to ``(n,)`` for a model of ``n`` sites and validates them.
    """

    real_fields = ("rate",)
    complex_fields = ()

    def bind(self, n: int) -> "AbstractJump":
        """A copy with every array field broadcast to ``(n,)`` (validated)."""
        changes = {}
        for name in self.real_fields + self.complex_fields:
            value = getattr(self, name)
            arr = jnp.asarray(value)
            if arr.ndim not in (0, 1) or (arr.ndim == 1 and arr.shape[0] != n):
                raise ValueError(
                    f"`{type(self).__name__}.{name}` must be a scalar or have shape ({n},), "
                    f"got shape {arr.shape}."
                )
            if name in self.real_fields:
                arr = jnp.asarray(arr, dtype=float)
            elif not jnp.issubdtype(arr.dtype, jnp.complexfloating):
                arr = jnp.asarray(arr, dtype=complex)
            changes[name] = jnp.broadcast_to(arr, (n,))
        return dataclasses.replace(self, **changes)

    def validate(self, where: str = "") -> None:
        """Check values (non-negative rates, finite coefficients) on concrete arrays.

        ``where`` is appended to messages (e.g. ``" at batch index 3"``).
        """
        check_nonnegative_rate(f"{type(self).__name__}.rate", self.rate, where)


def _rate(name, rate):
    check_real(name, rate)
    check_nonnegative_rate(name, rate)
    return rate


@register_jump_type
class Decay(AbstractJump):
    """Collective decay ``L = S_i^-`` at standard rates ``rate_i``.

    Examples:
        >>> import twoqs_jax as tq
        >>> m = tq.SpinModel(10, field={"x": 1.5}, jumps=[tq.Decay(0.1)])  # = decay=0.1
    """

    rate: Float[Array, " n"]

    def __init__(self, rate: ArrayLike):
        """``rate``: standard Lindblad rate, scalar or ``(n,)``, >= 0."""
        self.rate = _rate("rate", rate)


@register_jump_type
class Gain(AbstractJump):
    """Collective gain (incoherent pumping) ``L = S_i^+`` at standard rates ``rate_i``."""

    rate: Float[Array, " n"]

    def __init__(self, rate: ArrayLike):
        """``rate``: standard Lindblad rate, scalar or ``(n,)``, >= 0."""
        self.rate = _rate("rate", rate)


@register_jump_type
class Dephasing(AbstractJump):
    """Collective dephasing ``L = S_i^z`` at standard rates ``rate_i``."""

    rate: Float[Array, " n"]

    def __init__(self, rate: ArrayLike):
        """``rate``: standard Lindblad rate, scalar or ``(n,)``, >= 0."""
        self.rate = _rate("rate", rate)


def total_rate(jumps, cls, like):
    """Sum of the rates of the jumps of exactly type ``cls``, shaped like ``like`` (the
    model's ``spin``, ``(n,)`` or batched ``(P, n)``); zeros if there is none.
    """
    rates = [j.rate for j in jumps if type(j) is cls]
    if not rates:
        return jnp.zeros(jnp.shape(like))
    out = rates[0]
    for r in rates[1:]:
        out = out + r
    return out


def is_active(jump) -> bool:
    """Whether a (concrete) jump has any nonzero rate."""
    return bool(np.any(np.asarray(jump.rate) != 0))
