r"""Bosonic modes beside the spins: :class:`CavityModel` and its initial state.

Conventions (the package's: hbar = 1, standard Lindblad form
``drho/dt = -i[H, rho] + sum_k kappa_k (L_k rho L_k^+ - 1/2 {L_k^+ L_k, rho})``):

``H = H_spins + sum_k [ omega_k a_k^+ a_k + eta_k a_k^+ + conj(eta_k) a_k
                        + K_k a_k^+ a_k^+ a_k a_k ]
      + sum_{k, i} sum_{q, alpha} G[k, i, q, alpha] X_k^q S_i^alpha``

with the quadratures ``X^0 = x = (a + a^+)/sqrt 2`` and ``X^1 = p = -i (a - a^+)/sqrt 2``
(``[x, p] = i``, vacuum variances 1/2), and the jumps of the spins plus, per mode,
``L = a_k`` at the standard rate ``loss_k`` and ``L = a_k^+`` at ``gain_k`` (a thermal bath of
occupation ``n_th`` at rate ``kappa``: ``loss = kappa (n_th + 1)``, ``gain = kappa n_th``).

The two standard spin-mode couplings are written into ``G``:

- Tavis-Cummings ``g (a S^+ + a^+ S^-) = sqrt 2 g (x S_x - p S_y)``;
- Dicke ``g (a + a^+) S_x = sqrt 2 g x S_x``.

Data layout (for every backend, and for TWOQS, :mod:`twoqs_jax._twoqs_cavity`, where mode
``k`` is one more complex Wigner amplitude ``alpha_k`` with ``x -> sqrt 2 Re alpha``,
``p -> sqrt 2 Im alpha``):
a PyTree of a few dense arrays, ``(M,)`` per mode and ``(M, n, 2, 3)`` for the couplings, next
to the :class:`SpinModel`'s arrays. The structure (number of modes and sites, which jump types)
is static; every value can be vmapped and differentiated.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike
from jaxtyping import Array, Complex, Float

from .._checks import check_finite, check_nonnegative, check_real, is_concrete
from .model import SpinModel
from .states import SpinCoherentState

SQRT2 = float(np.sqrt(2.0))


def _per_mode(name, value, M, *, complex_ok=False, rate=False):
    if not complex_ok:
        check_real(name, value)
    check_finite(name, value)
    if rate:
        check_nonnegative(name, value)
    arr = jnp.asarray(value, dtype=complex if complex_ok else float)
    if arr.ndim not in (0, 1) or (arr.ndim == 1 and arr.shape[0] != M):
        raise ValueError(f"`{name}` must be a scalar or have shape ({M},), got shape {arr.shape}.")
    return jnp.broadcast_to(arr, (M,))


def _per_pair(name, value, M, n):
    check_real(name, value)
    check_finite(name, value)
    arr = jnp.asarray(value, dtype=float)
    if arr.ndim == 1 and arr.shape[0] == n:
        arr = jnp.broadcast_to(arr, (M, n))
    if arr.ndim not in (0, 2) or (arr.ndim == 2 and arr.shape != (M, n)):
        raise ValueError(
            f"`{name}` must be a scalar, shape ({n},) (one per site) or ({M}, {n}) (per mode "
            f"and site), got shape {arr.shape}."
        )
    return jnp.broadcast_to(arr, (M, n))


class CavityModel(eqx.Module):
    """Collective spins coupled to bosonic modes (cavities), with loss and thermal gain.

    See the module docstring for ``H`` and the jumps. hbar = 1, standard Lindblad rates.

    Attributes:
        spins: the :class:`SpinModel` of the spins (fields, couplings and spin jumps,
            :class:`CorrelatedJump` included), or ``None`` for modes alone.
        frequency: ``(M,)`` mode frequencies ``omega_k`` (of ``a^+ a``).
        drive: ``(M,)`` complex coherent drives ``eta_k`` (``eta a^+ + conj(eta) a``).
        kerr: ``(M,)`` Kerr coefficients ``K_k`` (``K a^+ a^+ a a``).
        has_kerr: whether the model has a Kerr term (static).
        loss: ``(M,)`` standard rates of ``L = a_k``.
        gain: ``(M,)`` standard rates of ``L = a_k^+``.
        coupling: ``(M, n, 2, 3)`` spin-mode couplings ``G[k, i, q, alpha]`` of
            ``X_k^q S_i^alpha`` (``X^0 = x``, ``X^1 = p``; ``alpha`` in x, y, z).

    Examples:
        >>> import twoqs_jax as tq
        >>> # the open Dicke model, N = 10 spins 1/2 as one spin S = 5
        >>> spins = tq.SpinModel(5, field={"z": 1.0})
        >>> m = tq.CavityModel(spins, frequency=1.0, loss=1.0, dicke=0.3)
        >>> m.n_modes, m.n_sites
        (1, 1)
    """

    spins: SpinModel | None
    frequency: Float[Array, " M"]
    drive: Complex[Array, " M"]
    kerr: Float[Array, " M"]
    loss: Float[Array, " M"]
    gain: Float[Array, " M"]
    coupling: Float[Array, "M n 2 3"]
    has_kerr: bool = eqx.field(static=True)

    def __init__(
        self,
        spins: SpinModel | None = None,
        *,
        frequency: ArrayLike,
        drive: ArrayLike = 0.0,
        kerr: ArrayLike | None = None,
        loss: ArrayLike = 0.0,
        gain: ArrayLike = 0.0,
        tavis_cummings: ArrayLike | None = None,
        dicke: ArrayLike | None = None,
        coupling: ArrayLike | None = None,
    ):
        """Build a model.

        Args:
            spins: a :class:`SpinModel`, or ``None`` (modes alone).
            frequency: mode frequency, scalar (one mode) or ``(M,)`` (``M`` modes).
            drive: complex coherent drive ``eta`` per mode (default 0).
            kerr: Kerr coefficient ``K`` per mode (default: none; whether a Kerr term is
                present is static structure, its value is a traceable parameter).
            loss, gain: standard rates of ``L = a`` and ``L = a^+`` per mode (default 0).
            tavis_cummings: ``g`` of ``g (a S^+ + a^+ S^-)``: scalar, ``(n,)`` or ``(M, n)``.
            dicke: ``g`` of ``g (a + a^+) S_x``: scalar, ``(n,)`` or ``(M, n)``.
            coupling: a general ``(M, n, 2, 3)`` tensor ``G`` (added to the two above).
        """
        if spins is not None and not isinstance(spins, SpinModel):
            raise ValueError(
                f"`spins` must be a twoqs_jax.SpinModel or None, got {type(spins).__name__}."
            )
        check_real("frequency", frequency)
        f = jnp.asarray(frequency, dtype=float)
        if f.ndim > 1:
            raise ValueError(f"`frequency` must be a scalar or have shape (M,), got {f.shape}.")
        M = 1 if f.ndim == 0 else int(f.shape[0])
        if M < 1:
            raise ValueError("`frequency` must name at least one mode, got an empty array.")
        n = 0 if spins is None else spins.n_sites
        self.spins = spins
        self.frequency = _per_mode("frequency", f, M)
        self.drive = _per_mode("drive", drive, M, complex_ok=True)
        self.has_kerr = kerr is not None
        self.kerr = _per_mode("kerr", 0.0 if kerr is None else kerr, M)
        self.loss = _per_mode("loss", loss, M, rate=True)
        self.gain = _per_mode("gain", gain, M, rate=True)
        G = jnp.zeros((M, n, 2, 3))
        for name, value in (("tavis_cummings", tavis_cummings), ("dicke", dicke)):
            if value is None:
                continue
            if n == 0:
                raise ValueError(f"`{name}` couples spins to the modes, but `spins` is None.")
            g = SQRT2 * _per_pair(name, value, M, n)
            G = G.at[:, :, 0, 0].add(g)
            if name == "tavis_cummings":
                G = G.at[:, :, 1, 1].add(-g)
        if coupling is not None:
            check_real("coupling", coupling)
            check_finite("coupling", coupling)
            c = jnp.asarray(coupling, dtype=float)
            if c.shape != (M, n, 2, 3):
                raise ValueError(
                    f"`coupling` must have shape ({M}, {n}, 2, 3) (modes, sites, quadrature, "
                    f"spin axis), got shape {c.shape}."
                )
            G = G + c
        self.coupling = G

    @property
    def n_modes(self) -> int:
        """Number of bosonic modes ``M``."""
        return int(self.frequency.shape[-1])

    @property
    def n_sites(self) -> int:
        """Number of spin sites ``n`` (0 without spins)."""
        return 0 if self.spins is None else self.spins.n_sites

    @property
    def batch_shape(self) -> tuple:
        """Leading parameter axes of a batch of models (``()`` for one model)."""
        return tuple(np.shape(self.frequency)[:-1])

    def validate(self) -> None:
        """Check values on concrete arrays (rates >= 0, finite parameters)."""
        if not is_concrete(self):
            raise ValueError(
                "`model` holds traced values (inside jit/vmap/grad); the solvers need a "
                "concrete model: build it outside the transformation."
            )
        if self.batch_shape:
            raise ValueError(
                "the CavityModel solvers take one model at a time, got a batch of shape "
                f"{self.batch_shape}; loop over the batch."
            )
        if self.spins is not None:
            self.spins.validate()
        for name in ("frequency", "drive", "kerr", "coupling"):
            check_finite(name, getattr(self, name))
        for name in ("loss", "gain"):
            check_nonnegative(name, getattr(self, name))


class CavityState(eqx.Module):
    """A product initial state: spin coherent states and displaced thermal mode states.

    Mode ``k`` is ``D(alpha_k) rho_th(n_k) D(alpha_k)^+``: mean ``<a_k> = alpha_k``,
    ``<a_k^+ a_k> = |alpha_k|^2 + n_k`` (a coherent state for ``n_k = 0``, the vacuum for
    ``alpha = n = 0``); its Wigner function is a Gaussian of mean
    ``(sqrt 2 Re alpha, sqrt 2 Im alpha)`` in ``(x, p)`` and variance ``n_k + 1/2``.

    Attributes:
        spins: a :class:`SpinCoherentState` or ``None`` (modes alone).
        alpha: ``(M,)`` complex displacements.
        n_thermal: ``(M,)`` thermal occupations (>= 0).

    Examples:
        >>> import twoqs_jax as tq
        >>> st = tq.CavityState(tq.spin_down(), alpha=0.0)  # spins down, cavity empty
    """

    spins: SpinCoherentState | None
    alpha: Complex[Array, " M"]
    n_thermal: Float[Array, " M"]

    def __init__(
        self,
        spins: SpinCoherentState | None = None,
        alpha: ArrayLike = 0.0,
        n_thermal: ArrayLike = 0.0,
        n_modes: int | None = None,
    ):
        """Build from the spin state and per-mode ``alpha``, ``n_thermal`` (scalars are
        broadcast to ``n_modes``, default inferred, else 1).
        """
        if spins is not None and not isinstance(spins, SpinCoherentState):
            raise ValueError(
                f"`spins` must be a SpinCoherentState or None, got {type(spins).__name__}."
            )
        a = jnp.asarray(alpha, dtype=complex)
        nt = jnp.asarray(n_thermal, dtype=float)
        check_real("n_thermal", n_thermal)
        if n_modes is None:
            n_modes = max(a.size if a.ndim else 1, nt.size if nt.ndim else 1)
        for name, v in (("alpha", a), ("n_thermal", nt)):
            if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != n_modes):
                raise ValueError(
                    f"`{name}` must be a scalar or have shape ({n_modes},), got {v.shape}."
                )
            check_finite(name, v)
        check_nonnegative("n_thermal", nt)
        self.spins = spins
        self.alpha = jnp.broadcast_to(a, (n_modes,))
        self.n_thermal = jnp.broadcast_to(nt, (n_modes,))

    @property
    def n_modes(self) -> int:
        """Number of modes."""
        return int(self.alpha.shape[0])


def check_cavity(model, state=None, *, need_state=True):
    """Validate a concrete :class:`CavityModel` and, if given, a matching :class:`CavityState`."""
    if not isinstance(model, CavityModel):
        raise ValueError(f"`model` must be a twoqs_jax.CavityModel, got {type(model).__name__}.")
    model.validate()
    if state is None:
        if need_state:
            raise ValueError("`state` must be a tq.CavityState for a CavityModel, got None.")
        return
    if not isinstance(state, CavityState):
        raise ValueError(
            f"`state` must be a tq.CavityState for a CavityModel, got {type(state).__name__}."
        )
    if state.n_modes != model.n_modes:
        raise ValueError(
            f"`state` has {state.n_modes} modes but the model has {model.n_modes} modes."
        )
    if (state.spins is None) != (model.spins is None):
        raise ValueError(
            "`state.spins` must be a SpinCoherentState exactly when the model has spins "
            f"(model sites: {model.n_sites}, state.spins: {state.spins!r})."
        )
    if state.spins is not None and state.spins.n_sites != model.n_sites:
        raise ValueError(
            f"`state.spins` has {state.spins.n_sites} sites but the model has "
            f"{model.n_sites} sites."
        )


def resolve_cavity(observables, model, backend: str, spin_available) -> tuple:
    """The observables of a cavity model (default: the spin defaults, if there are spins,
    and ``a, ada, var_xq, var_pq, g2``); ``spin_available``: the backend's spin primitives.
    """
    from .._observables import (
        DEFAULT_MODE_OBSERVABLES,
        MODE_PRIMITIVES,
        default_observables,
        resolve,
    )

    if observables is None:
        spin = default_observables(model.n_sites, backend) if model.spins is not None else ()
        observables = tuple(spin) + DEFAULT_MODE_OBSERVABLES
    available = tuple(spin_available if model.spins is not None else ()) + tuple(MODE_PRIMITIVES)
    return resolve(observables, max(model.n_sites, 1), backend, available)
