"""A :class:`SpinModel` lowered to the dense arrays of the phase-space SDEs (before jit).

The TWOQS kernel never sees jump Modules: every jump goes through one registry,
:func:`phase_space_term` (``functools.singledispatch``, one registration per jump type),
which turns it into a *term*. Decay, gain and dephasing become one merged
:class:`LadderTerm`, i.e. the three ``(n,)`` rate arrays of the fused step
(:func:`twoqs_jax._phase_space.drift.em_increment_real`); other jump types return their own
:class:`AbstractPhaseSpaceTerm`, whose ``increment`` the step adds after the fused part and
which draws its own noise rows. A model without such terms runs exactly the fused step.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._checks import is_concrete
from .._identity import IdentityCache
from .._model.jumps import AbstractJump, Decay, Dephasing, Gain
from .._model.model import _StaticArray


class AbstractPhaseSpaceTerm(eqx.Module):
    """A jump's Ito drift and noise in the phase-space SDEs (abstract).

    ``noise_rows`` real Wiener processes per site are drawn for the term (after the 5 rows of
    the fused decay/gain/dephasing step); :meth:`increment` returns the term's Euler-Maruyama
    increment of one trajectory.
    """

    noise_rows: eqx.AbstractClassVar[int]

    def increment(self, z, dW, dt, k: int, sqrt, tangential: bool = False):
        """``(dz, clipped)``: ``dz`` the increment ``A dt + B dW`` of
        ``z = (Re alpha, Im alpha, Re beta, Im beta)`` (each ``(n,)``), ``dW`` a tuple of
        ``noise_rows`` ``(n,)`` rows (or ``None`` without noise); ``clipped`` ``(n,)`` bool
        where a diffusion matrix had to be projected to positive semi-definite.
        ``tangential``: the method's ``diffusion="tangential"`` (Wigner, full diffusion
        without the vacuum part) instead of paper 003's positive diffusion.
        """
        raise NotImplementedError

    def active(self) -> bool:
        """Whether the (concrete) term has any nonzero rate (it then needs its noise)."""
        return bool(np.any(np.asarray(self.rate) != 0))


class LadderTerm(eqx.Module):
    """Decay ``S^-``, gain ``S^+`` and dephasing ``S^z`` rates, ``(n,)`` each (merged)."""

    decay: Float[Array, " n"]
    gain: Float[Array, " n"]
    dephasing: Float[Array, " n"]


def _add(a, b):
    """``a + b``; concrete arrays in NumPy, kept on the host (the same IEEE sum, of JAX's
    result dtype: an eager ``jnp`` add is a small program to trace and compile in every new
    process).
    """
    if isinstance(a, jax.core.Tracer) or isinstance(b, jax.core.Tracer):
        return a + b
    return np.add(np.asarray(a), np.asarray(b), dtype=jnp.result_type(a, b))


@functools.singledispatch
def phase_space_term(jump: AbstractJump, zeros):
    """The phase-space term of one jump Module (``zeros``: rates of zero, shaped like the
    model's ``spin``). Register every jump type once.
    """
    raise ValueError(
        f"TWOQS does not support the jump {type(jump).__name__} (no registration in "
        "twoqs_jax._phase_space.lowering.phase_space_term)."
    )


@phase_space_term.register
def _(jump: Decay, zeros):
    return LadderTerm(jump.rate, zeros, zeros)


@phase_space_term.register
def _(jump: Gain, zeros):
    return LadderTerm(zeros, jump.rate, zeros)


@phase_space_term.register
def _(jump: Dephasing, zeros):
    return LadderTerm(zeros, zeros, jump.rate)


class PhaseSpaceModel(eqx.Module):
    """The dense arrays the TWOQS kernel reads (see the module docstring).

    Attributes:
        spin, field, coupling: as in :class:`SpinModel`.
        decay, gain, dephasing: ``(n,)`` merged rates of the fused step.
        terms: other jump terms (tuple of :class:`AbstractPhaseSpaceTerm`).
    """

    spin: Float[Array, " n"]
    field: Float[Array, "n 3"]
    _edges: _StaticArray = eqx.field(static=True)
    coupling: Float[Array, "m 3 3"]
    decay: Float[Array, " n"]
    gain: Float[Array, " n"]
    dephasing: Float[Array, " n"]
    terms: tuple

    @property
    def edges(self):
        """``(m, 2)`` site pairs (static numpy array)."""
        return self._edges.array

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return int(self.spin.shape[-1])

    @property
    def symmetric_coupling(self):
        """Coupling tensors with same-site edges symmetrised (as :class:`SpinModel`)."""
        same = jnp.asarray(self.edges[:, 0] == self.edges[:, 1])[:, None, None]
        sym = 0.5 * (self.coupling + jnp.swapaxes(self.coupling, -1, -2))
        return jnp.where(same, sym, self.coupling)


def lower(model) -> PhaseSpaceModel:
    """``model`` (one or a batch) as a :class:`PhaseSpaceModel` (traceable array code).

    A concrete model is lowered once: the result is kept for the model object while it lives
    (:mod:`twoqs_jax._identity`), so a repeated solve of the same model does no work here.
    Its rates are merged in NumPy (the same IEEE sums, of JAX's result dtype) and put on the
    device once; a traced model (inside ``jit``/``grad``) takes the ``jnp`` path.
    """
    if not is_concrete(model):
        return _lower(model, jnp.zeros(jnp.shape(model.spin)))
    real = jax.dtypes.canonicalize_dtype(np.float64)  # float64 only with jax_enable_x64
    hit = _LOWERED.get(model)
    if hit is not None and hit[0] == real:
        return hit[1]
    lowered = _lower(model, np.zeros(np.shape(model.spin), real))
    _LOWERED.put(model, (real, lowered))
    return lowered


_LOWERED = IdentityCache()  # model -> (default float dtype, its PhaseSpaceModel)


def _lower(model, zeros) -> PhaseSpaceModel:
    decay = gain = dephasing = zeros
    terms = []
    for jump in model.jumps:
        term = phase_space_term(jump, zeros)
        if isinstance(term, LadderTerm):  # rates add (the dissipators are linear in them)
            decay = _add(decay, term.decay)
            gain = _add(gain, term.gain)
            dephasing = _add(dephasing, term.dephasing)
        else:
            terms.append(term)
    rates = (decay, gain, dephasing)
    if any(isinstance(x, jax.core.Tracer) for x in rates):  # the concrete ones go alone
        rates = tuple(x if isinstance(x, jax.core.Tracer) else jax.device_put(x) for x in rates)
    else:
        rates = jax.device_put(rates)  # one transfer
    decay, gain, dephasing = rates
    return PhaseSpaceModel(
        model.spin,
        model.field,
        model._edges,
        model.coupling,
        decay,
        gain,
        dephasing,
        tuple(terms),
    )
