"""Central spin and Tavis-Cummings models: one spin (or one cavity mode) and N satellites.

Conventions: hbar = 1, Pauli matrices for every spin-1/2 (``sigma^+ = |up><down|``), master
equation in standard Lindblad form
``drho/dt = -i[H, rho] + sum_k r_k (L_k rho L_k^+ - 1/2 {L_k^+ L_k, rho})`` (this is the
dissipator of both paper 002, Eq. 2, and paper 004, Eq. 2, so their rates are used as they are).

Central spin model (paper 002 Eq. 1 with the central-spin drive of paper 004 Eq. 1)::

    H = (omega/2) s0z + w_x s0x + w_z s0z
        + sum_{n=1}^N [ (eps/2) snz + g (s0+ sn- + s0- sn+) ]

jumps: ``s0-`` at rate ``kappa`` (002's kappa, 004's gamma_down), ``s0+`` at ``kappa_up``
(004's gamma_up), and per satellite ``sn+`` at ``Gamma_up``, ``sn-`` at ``Gamma_down``.

Tavis-Cummings model (paper 002 Sec. V B; the central spin replaced by a mode ``a``)::

    H = omega a^+ a + sum_n [ (eps/2) snz + g (a^+ sn- + a sn+) ]

jumps ``a`` at ``kappa``, ``a^+`` at ``kappa_up``, and the same satellite pump and loss.
"""

from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._checks import check_finite, check_int, check_nonnegative, is_concrete


def _check_common(model):
    check_int("N", model.N, minimum=1)
    for name in ("omega", "eps", "g", "w_x", "w_z"):
        check_finite(name, getattr(model, name))
    for name in ("kappa", "kappa_up", "Gamma_up", "Gamma_down"):
        check_nonnegative(name, getattr(model, name))


def _validated_N(N):
    if isinstance(N, bool) or not np.isscalar(N) or not float(N).is_integer():
        raise ValueError(f"`N` (number of satellites) must be an integer, got {N!r}.")
    if int(N) < 1:
        raise ValueError(f"`N` (number of satellites) must be >= 1, got {N!r}.")
    return int(N)


class _NetworkModel(eqx.Module):
    """Parameters shared by the central-spin and Tavis-Cummings models (see the module
    docstring); ``N`` is static, every continuous parameter a PyTree leaf.
    """

    N: int = eqx.field(static=True)
    omega: float = 0.0
    eps: float = 0.0
    g: float = 1.0
    kappa: float = 0.0
    kappa_up: float = 0.0
    Gamma_up: float = 0.0
    Gamma_down: float = 0.0
    w_x: float = 0.0
    w_z: float = 0.0

    def __init__(
        self,
        N: int,
        omega: ArrayLike = 0.0,
        eps: ArrayLike = 0.0,
        g: ArrayLike = 1.0,
        kappa: ArrayLike = 0.0,
        kappa_up: ArrayLike = 0.0,
        Gamma_up: ArrayLike = 0.0,
        Gamma_down: ArrayLike = 0.0,
        w_x: ArrayLike = 0.0,
        w_z: ArrayLike = 0.0,
    ):
        self.N = _validated_N(N)
        self.omega, self.eps, self.g, self.w_x, self.w_z = omega, eps, g, w_x, w_z
        self.kappa, self.kappa_up = kappa, kappa_up
        self.Gamma_up, self.Gamma_down = Gamma_up, Gamma_down
        _check_common(self)

    @property
    def u1_symmetric(self) -> bool:
        """True when ``w_x == 0`` (then the excitation number is conserved by H)."""
        return bool(is_concrete(self.w_x) and float(self.w_x) == 0.0)

    def replace(self, **changes):
        """A copy with some parameters changed (validated again)."""
        names = (
            "N",
            "omega",
            "eps",
            "g",
            "kappa",
            "kappa_up",
            "Gamma_up",
            "Gamma_down",
            "w_x",
            "w_z",
        )
        fields = {k: getattr(self, k) for k in names}
        fields.update(changes)
        return type(self)(**fields)


class CentralSpinModel(_NetworkModel):
    """One central spin-1/2 coupled to ``N`` identical spin-1/2 satellites (paper 002 Eq. 1-2).

    ``H = (omega/2 + w_z) s0z + w_x s0x + sum_n [(eps/2) snz + g (s0+ sn- + s0- sn+)]``;
    jumps ``s0-`` (``kappa``), ``s0+`` (``kappa_up``), ``sn+`` (``Gamma_up``), ``sn-``
    (``Gamma_down``), standard Lindblad rates. All continuous parameters are PyTree leaves
    (vmap/grad over them works for the closed equations); ``N`` is static.

    Attributes:
        N: number of satellites (integer >= 1).
        omega, eps: central and satellite level splittings.
        g: central-satellite flip-flop coupling.
        kappa, kappa_up: central-spin decay and pump rates.
        Gamma_up, Gamma_down: satellite pump and decay rates.
        w_x, w_z: paper 004's central drive ``w_x tau_x + w_z tau_z`` (default 0).

    Examples:
        >>> m = CentralSpinModel(N=50, omega=1.0, eps=1.0, g=0.75, kappa=50 / 16,
        ...                      Gamma_up=1.5, Gamma_down=0.5)
    """


class TavisCummingsModel(_NetworkModel):
    """A cavity mode ``a`` coupled to ``N`` spin-1/2 satellites (paper 002 Sec. V B).

    ``H = omega a^+ a + sum_n [(eps/2) snz + g (a^+ sn- + a sn+)]``; jumps ``a`` (``kappa``),
    ``a^+`` (``kappa_up``), ``sn+`` (``Gamma_up``), ``sn-`` (``Gamma_down``). ``w_x`` adds a
    coherent drive ``w_x (a + a^+)`` (default 0), ``w_z`` is kept for symmetry with
    :class:`CentralSpinModel` and must be 0.
    """

    def __check_init__(self):
        if is_concrete(self.w_z) and float(self.w_z) != 0.0:
            raise ValueError(
                f"`w_z` must be 0 for the Tavis-Cummings model (use omega), got {self.w_z!r}."
            )


def fixed_g_sqrtN(N: int, g_sqrtN: ArrayLike, **params: Any) -> CentralSpinModel:
    """Central spin model with ``g = g_sqrtN / sqrt(N)`` (paper 002 Fig. 3(a) scaling)."""
    N = _validated_N(N)
    return CentralSpinModel(N, g=g_sqrtN / np.sqrt(N), **params)


def fixed_kappa_over_N(N: int, kappa_over_N: ArrayLike, **params: Any) -> CentralSpinModel:
    """Central spin model with ``kappa = kappa_over_N * N`` (paper 002 Fig. 3(b) scaling)."""
    N = _validated_N(N)
    return CentralSpinModel(N, kappa=kappa_over_N * N, **params)


def satellite_polarisation(model) -> jnp.ndarray:
    """Free satellite steady state ``<snz> = (Gamma_up - Gamma_down)/(Gamma_up + Gamma_down)``."""
    return (model.Gamma_up - model.Gamma_down) / (model.Gamma_up + model.Gamma_down)
