r"""Presets with cavity modes and correlated jumps (hbar = 1, standard Lindblad rates).

- :func:`open_dicke`: the open Dicke model, superradiant transition with cavity loss;
- :func:`tavis_cummings_cavity`: Tavis-Cummings superradiant emission (or lasing with
  collective gain) into a lossy cavity;
- :func:`two_ensembles`: two ensembles decaying through one shared channel.

Derivations (the Dicke critical coupling in particular) are in ``docs/models/cavity.md``.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._checks import check_positive, check_spin_length
from .._jumps.correlated import CorrelatedJump
from .cavity import CavityModel
from .model import SpinModel
from .presets import _rates, _real


def open_dicke(
    S: ArrayLike,
    omega: ArrayLike = 1.0,
    omega0: ArrayLike = 1.0,
    g: ArrayLike = 0.5,
    kappa: ArrayLike = 1.0,
) -> CavityModel:
    r"""The open Dicke model: ``N = 2S`` two-level atoms as one collective spin ``S`` in a
    lossy cavity.

    ``H = omega a^+ a + omega0 S_z + g (a + a^+) S_x``, jump ``L = a`` at the standard rate
    ``kappa``; no spin dissipation. The normal state (spin down, cavity empty) is the stable
    mean-field fixed point for ``g < g_c`` and unstable above (superradiant phase with
    ``<a> != 0``), where (derived in docs/models/cavity.md; with ``g = 2 lambda / sqrt N`` and
    the field decay rate ``kappa/2`` it is the threshold usually quoted, e.g. Dimer et al.,
    PRA 75, 013804 (2007))

    ``g_c^2 = omega0 (omega^2 + kappa^2 / 4) / (2 S omega)``  (:func:`dicke_critical_coupling`).

    Args:
        S: collective spin length (``N/2``).
        omega, omega0: cavity and atomic frequencies (> 0 for the transition).
        g: coupling of ``(a + a^+) S_x`` (note: not rescaled by ``1/sqrt N``; ``g sqrt(2S)``
            is the collective coupling).
        kappa: cavity loss rate (standard Lindblad form, field decays at ``kappa/2``).

    Examples:
        >>> import twoqs_jax as tq
        >>> gc = tq.dicke_critical_coupling(10, omega=1.0, omega0=0.5, kappa=1.0)
        >>> m = tq.open_dicke(10, omega=1.0, omega0=0.5, g=1.2 * gc, kappa=1.0)
    """
    check_spin_length("S", S)
    _real(omega=omega, omega0=omega0, g=g)
    _rates(kappa=kappa)
    spins = SpinModel(S, field={"z": omega0})
    return CavityModel(spins, frequency=omega, loss=kappa, dicke=g)


def dicke_critical_coupling(
    S: ArrayLike, omega: ArrayLike = 1.0, omega0: ArrayLike = 1.0, kappa: ArrayLike = 1.0
) -> jax.Array:
    """``g_c = sqrt(omega0 (omega^2 + kappa^2/4) / (2 S omega))`` of :func:`open_dicke`
    (mean field; ``omega, omega0 > 0``).
    """
    check_spin_length("S", S)
    check_positive("omega", omega)
    check_positive("omega0", omega0)
    _rates(kappa=kappa)
    return jnp.sqrt(omega0 * (omega**2 + kappa**2 / 4) / (2 * S * omega))


def tavis_cummings_cavity(
    S: ArrayLike,
    omega: ArrayLike = 0.0,
    omega0: ArrayLike = 0.0,
    g: ArrayLike = 0.1,
    kappa: ArrayLike = 1.0,
    gain: ArrayLike = 0.0,
    decay: ArrayLike = 0.0,
) -> CavityModel:
    r"""Tavis-Cummings: a collective spin ``S`` exchanging excitations with a lossy cavity.

    ``H = omega a^+ a + omega0 S_z + g (a S^+ + a^+ S^-)``, jumps ``L = a`` (rate ``kappa``),
    collective gain ``L = S^+`` (rate ``gain``) and decay ``L = S^-`` (rate ``decay``), all
    standard Lindblad rates. From the fully inverted spin (``tq.spin_up()``) and an empty
    cavity this is superradiant emission into the cavity (a bad cavity,
    ``kappa >> g sqrt(2S)``, gives the collective decay rate ``4 g^2 / kappa`` of
    ``L = S^-``); with ``gain > 0`` it is a collectively pumped laser model.

    Examples:
        >>> import twoqs_jax as tq
        >>> m = tq.tavis_cummings_cavity(5, g=0.1, kappa=2.0)
    """
    check_spin_length("S", S)
    _real(omega=omega, omega0=omega0, g=g)
    _rates(kappa=kappa, gain=gain, decay=decay)
    spins = SpinModel(S, field={"z": omega0}, gain=gain, decay=decay)
    return CavityModel(spins, frequency=omega, loss=kappa, tavis_cummings=g)


def two_ensembles(
    S1: ArrayLike,
    S2: ArrayLike | None = None,
    Gamma: ArrayLike = 1.0,
    phase: ArrayLike = 0.0,
    detuning: ArrayLike = 0.0,
    drive: ArrayLike = 0.0,
) -> SpinModel:
    r"""Two ensembles (collective spins ``S1``, ``S2``) decaying through one channel.

    ``L = S_1^- + e^{i phase} S_2^-`` at the standard rate ``Gamma``
    (:class:`CorrelatedJump`), ``H = (detuning/2) (S_1^z - S_2^z) + drive (S_1^x + S_2^x)``.
    For ``phase = 0``, no detuning and equal coherent states the pair is one spin
    ``S1 + S2`` decaying at ``Gamma`` (superradiance of both ensembles together). ``phase``
    is a rotation of ensemble 2 about z (``e^{-i phase S_2^z}``): ensembles whose transverse
    moments cancel in ``<L>`` (equal polar angles, azimuths 0 and ``pi + phase``) do not
    radiate in mean field.

    Examples:
        >>> import twoqs_jax as tq
        >>> m = tq.two_ensembles(3, Gamma=0.2)  # S1 = S2 = 3
    """
    S2 = S1 if S2 is None else S2
    check_spin_length("S1", S1)
    check_spin_length("S2", S2)
    _real(phase=phase, detuning=detuning, drive=drive)
    _rates(Gamma=Gamma)
    c = jnp.stack([jnp.asarray(1.0 + 0j), jnp.exp(1j * jnp.asarray(phase, dtype=float))])
    field = {"z": jnp.asarray([0.5, -0.5]) * detuning, "x": drive}
    return SpinModel(
        np.array([S1, S2], dtype=float),
        field=field,
        jumps=[CorrelatedJump(Gamma, c_minus=c)],
    )
