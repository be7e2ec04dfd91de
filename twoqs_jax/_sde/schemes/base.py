"""Abstract integration schemes, with Ito and Stratonovich markers (as diffrax's solvers).

A scheme holds only hyperparameters (the step ``dt`` and its kind of noise) and owns two
things: the *random material* it draws per noise window (an :class:`AbstractIncrements`,
see :mod:`.increments`) and the *step* ``z -> z_next`` of one trajectory. The drift of
:mod:`twoqs_jax._phase_space.drift` is the Ito drift: Ito schemes use it as it is; a
Stratonovich scheme must add the Ito-to-Stratonovich correction. A new scheme is one new
file in this folder with a subclass of :class:`AbstractItoScheme` or
:class:`AbstractStratonovichScheme`.
"""

import abc
from typing import ClassVar

import equinox as eqx

from ..._saveat import _float


def check_dt_noise(dt, noise, noises) -> tuple[float, str]:
    """A scheme's ``dt`` (a float > 0) and ``noise`` (a key of ``noises``), checked in that order.

    Raises:
        ValueError: naming ``dt`` or ``noise`` and the value given.
    """
    dt = _float("dt", dt, positive=True)
    if noise not in noises:
        raise ValueError(f"`noise` must be one of {list(noises)}, got {noise!r}.")
    return dt, noise


class AbstractScheme(eqx.Module):
    """An integration scheme (abstract). Subclasses are final Modules.

    Attributes:
        dt: the fixed step.
    """

    dt: eqx.AbstractVar[float]
    # whether :meth:`step` also steps a whole chunk at once in the site-major layout
    # (components ``(n, T)``, trajectories contiguous; the kernel's fast path). The kernel
    # then calls it with the keywords ``coupling_mask``, ``field_mask``, ``rate_mask`` (static
    # masks of what may be nonzero; skipping the rest must not change the step) and ``scale``
    # (``None``, or an ``(n, T)`` array ``q`` where ``scaled_projection``, below)
    site_major: ClassVar[bool] = False
    # whether the site-major step takes ``scale = q > 0``: it must then return the step from
    # the state ``sqrt(q) z`` divided by ``sqrt(q)`` (for Euler-Maruyama: the spin symbols
    # and occupations multiplied by ``q``, ``em_increment_real``), so that the kernel can take
    # the spin-length projection as that scale (``kernel.projection_as_scale``)
    scaled_projection: ClassVar[bool] = False

    @property
    @abc.abstractmethod
    def increments(self):
        """The :class:`~.increments.AbstractIncrements` whose material the step reads."""

    @abc.abstractmethod
    def step(self, model, z, dW, k: int, fused: bool, sqrt, tangential: bool = False):
        """One step of one trajectory.

        Args:
            model: the lowered phase-space model (:mod:`twoqs_jax._phase_space.lowering`)
                of one parameter point.
            z: ``(Re alpha, Im alpha, Re beta, Im beta)``, each ``(n,)``.
            dW: the step's noise rows (tuple of ``(n,)`` arrays, ``None`` for rows the
                model does not drive), from :meth:`AbstractIncrements.at`.
            k: representation (0 W, 1 P, -1 Q).
            fused: hand-written Hamiltonian drift (else the autodiff reference).
            sqrt: square root of the diffusion amplitudes.
            tangential: the tangential (full-diffusion) Wigner noise of decay, gain and
                spin jumps instead of paper 003's (:mod:`twoqs_jax._phase_space.drift`).

        Returns:
            ``(z_next, clipped)`` with ``clipped`` ``(n,)`` bool (Wigner diffusion clips).
        """


class AbstractItoScheme(AbstractScheme):
    """Marker: the scheme integrates Ito SDEs (uses the Ito drift as it is)."""


class AbstractStratonovichScheme(AbstractScheme):
    """Marker: the scheme integrates Stratonovich SDEs (needs the drift correction)."""
