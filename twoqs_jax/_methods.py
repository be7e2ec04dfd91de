"""Method objects: what :func:`twoqs_jax.solve` runs (immutable Modules holding settings).

- :class:`TWOQS`: truncated Wigner trajectories (paper 003), with an integration scheme that
  owns its noise (:class:`EulerMaruyama`), stochastic: needs ``n_traj`` and ``key``;
- :class:`MeanField`, :class:`Cumulants`: ODEs solved with Diffrax;
- :class:`Exact`: QuTiP (and the permutation-invariant central-spin and qudit solvers),
  guarded by one memory limit in bytes.

The recommended TWOQS variant is the default, and the defaults live in this file only
(``DEFAULT_SAMPLING``, ``DEFAULT_CONSTRAINT``, ``DEFAULT_DIFFUSION``, ``DEFAULT_CORRECTION``; the
default increments are in :mod:`twoqs_jax._sde.schemes.euler_maruyama`).
"""

import diffrax
import equinox as eqx

from ._checks import check_int
from ._phase_space.symbols import REPRESENTATIONS
from ._sde.schemes.base import AbstractScheme

SAMPLINGS = ("fock", "coherent")
CONSTRAINTS = (None, "spin_length")
DIFFUSIONS = ("tangential", "paper")
DEFAULT_SAMPLING = "fock"
DEFAULT_CONSTRAINT = "spin_length"
DEFAULT_DIFFUSION = {"W": "tangential", "P": "paper", "Q": "paper"}
DEFAULT_N_GROUPS = 32
DEFAULT_CORRECTION = "auto"
CORRECTIONS = ("auto", "third_order", None)


class AbstractMethod(eqx.Module):
    """A method of :func:`twoqs_jax.solve` (abstract)."""

    stochastic = False


class TWOQS(AbstractMethod):
    r"""Truncated Wigner for open quantum spins (paper 003; Huber, Kirton, Rabl).

    Every site is a pair of Schwinger bosons ``(a, b)`` with phase-space amplitudes
    ``(alpha, beta)``; the master equation (standard Lindblad form, hbar = 1) becomes Ito
    SDEs after the truncation of the Wigner equation at second order, integrated by
    ``scheme`` for many independent trajectories; expectation values are trajectory
    averages of ordering-corrected symbols, each with its standard error. Error of the
    method: O(1/S) (docs/methods/fidelity.md for where and why it is larger).

    Attributes:
        scheme: the integration scheme, e.g. ``EulerMaruyama(dt=0.01)`` (two-point noise).
        representation: ``"W"`` (Wigner, default; needed for nonlinear Hamiltonians),
            ``"P"`` or ``"Q"``.
        sampling: Wigner sampling of the initial Fock state. ``"fock"`` (default): exact
            Fock-state mean and variance of ``|beta|^2`` with a uniform phase.
            ``"coherent"``: paper 003 Eq. 18, which gives every trajectory a Poisson-spread
            spin length and adds ``S/2`` to the variance along the mean spin
            (docs/derivations/twoqs.md, "Second moments along the mean spin").
        constraint: ``"spin_length"`` (default) rescales both amplitudes of every site at
            each step back to the trajectory's initial length ``|alpha|^2 + |beta|^2`` (a
            projection; paper 003's positive diffusion otherwise lets the spin length
            diffuse although the master equation conserves it; docs/derivations/twoqs.md). ``None``:
            the paper's SDEs as printed.
        diffusion: the noise of decay, gain and :class:`SpinJump`. ``"tangential"`` (the
            default for ``"W"``): one complex increment ``xi`` per jump operator
            ``L = v^+ M v``, ``dv += sqrt(kappa/2)(M^+ v xi - M v conj(xi))``, the whole
            second-order Wigner diffusion but its O(1/S) vacuum part; a random rotation of
            the spin, no clipping. ``"paper"``: paper 003 Eqs. 22-23 (independent noises on
            ``alpha`` and ``beta``, the Wigner argument clipped at 0), which drops the cross
            diffusion ``E[dalpha dbeta] = -(kappa/2) alpha beta dt``: O(1) relative errors
            of variances and, above threshold, of means (docs/methods/fidelity.md). ``None``
            (default): tangential for W, paper for P and Q (their exact diffusion of decay
            is indefinite at leading order; the paper noise keeps its Hermitian block exact;
            the tangential noise is refused there).
        n_groups: jackknife groups for the standard errors of nonlinear observables.
        correction: the first-order correction by the third-order term of the Wigner
            equation, which the truncation drops (docs/methods/fidelity.md#third-order).
            ``"auto"`` (default): applied where it is derived and runs, i.e. closed models
            (no jump) with a bilinear Hamiltonian, representation W, time-resolved runs, at
            most two sites; elsewhere the run is plain TWOQS and ``sol.stats["third_order"]``
            says why. ``"third_order"``: required (an error before any work where it does not
            apply). ``None``: plain TWOQS. For one-axis twisting at ``S = 100`` it takes the
            minimal ``xi^2`` from -9.9 % to -0.9(6) % of exact.

    The defaults are the recommended variant (Fock sampling, spin-length projection,
    tangential noise, two-point increments, the third-order correction of closed
    dynamics); :meth:`paper` gives paper 003's own variant.

    Examples:
        >>> import twoqs_jax as tq
        >>> method = tq.TWOQS(tq.EulerMaruyama(dt=0.01))
        >>> paper = tq.TWOQS.paper(tq.EulerMaruyama(dt=0.01))
    """

    scheme: AbstractScheme
    representation: str = eqx.field(static=True, default="W")
    sampling: str = eqx.field(static=True, default=DEFAULT_SAMPLING)
    constraint: str | None = eqx.field(static=True, default=DEFAULT_CONSTRAINT)
    n_groups: int = eqx.field(static=True, default=DEFAULT_N_GROUPS)
    diffusion: str | None = eqx.field(static=True, default=None)
    correction: str | None = eqx.field(static=True, default=DEFAULT_CORRECTION)

    stochastic = True

    def __check_init__(self):
        if not isinstance(self.scheme, AbstractScheme):
            raise ValueError(
                f"`scheme` must be an integration scheme such as tq.EulerMaruyama(dt=...), got "
                f"{self.scheme!r}."
            )
        if self.representation not in REPRESENTATIONS:
            raise ValueError(
                f"`representation` must be one of {list(REPRESENTATIONS)}, got "
                f"{self.representation!r}."
            )
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"`sampling` must be one of {list(SAMPLINGS)}, got {self.sampling!r}.")
        if self.constraint not in CONSTRAINTS:
            raise ValueError(
                f"`constraint` must be one of {list(CONSTRAINTS)}, got {self.constraint!r}."
            )
        check_int("n_groups", self.n_groups, minimum=2)
        if self.diffusion is not None and self.diffusion not in DIFFUSIONS:
            raise ValueError(
                f"`diffusion` must be one of {list(DIFFUSIONS)} or None, got {self.diffusion!r}."
            )
        if self.correction not in CORRECTIONS:
            raise ValueError(
                f"`correction` must be one of {list(CORRECTIONS)}, got {self.correction!r}."
            )
        if self.diffusion == "tangential" and self.representation != "W":
            raise ValueError(
                f"`diffusion`='tangential' is the Wigner noise; representation="
                f"{self.representation!r} takes diffusion='paper' (or None)."
            )
        if getattr(self.scheme, "requires_tangential", False) and (
            self.resolved_diffusion != "tangential"
        ):
            raise ValueError(
                f"`scheme`={self.scheme!r} needs the tangential Wigner noise, got representation="
                f"{self.representation!r}, diffusion={self.resolved_diffusion!r}: use "
                "tq.EulerMaruyama for paper 003's noise and for P and Q."
            )

    @classmethod
    def paper(cls, scheme, representation: str = "W") -> "TWOQS":
        """Paper 003's variant: coherent sampling of the Fock state, no constraint, the
        paper's decay/gain noise (Eqs. 22-23).
        """
        return cls(
            scheme,
            representation,
            sampling="coherent",
            constraint=None,
            diffusion="paper",
            correction=None,
        )

    @property
    def resolved_diffusion(self) -> str:
        """The noise actually used: ``diffusion``, or its default for the representation."""
        if self.diffusion is not None:
            return self.diffusion
        return DEFAULT_DIFFUSION[self.representation]

    @property
    def k(self) -> int:
        """The representation as ``k`` (0 Wigner, 1 P, -1 Q)."""
        return REPRESENTATIONS[self.representation]


class _ODEMethod(AbstractMethod):
    solver: diffrax.AbstractSolver = diffrax.Tsit5()
    rtol: float = eqx.field(static=True, default=1e-10)
    atol: float = eqx.field(static=True, default=1e-10)
    max_steps: int = eqx.field(static=True, default=1_000_000)

    def __check_init__(self):
        if not isinstance(self.solver, diffrax.AbstractSolver):
            raise ValueError(f"`solver` must be a Diffrax solver, got {self.solver!r}.")
        for name in ("rtol", "atol"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and v > 0):
                raise ValueError(f"`{name}` must be a number > 0, got {v!r}.")
        check_int("max_steps", self.max_steps, minimum=1)


class MeanField(_ODEMethod):
    """Mean-field equations (leading order in 1/S), solved with Diffrax.

    Attributes:
        solver: a Diffrax ODE solver (default ``Tsit5()``; ``Dopri8()`` for high accuracy).
        rtol, atol: tolerances of the ``PIDController``.
        max_steps: step limit of ``diffeqsolve``.

    For the central-spin models this is the first-order cumulant closure (paper 002).

    Examples:
        >>> import twoqs_jax as tq
        >>> method = tq.MeanField(rtol=1e-8, atol=1e-8)
    """


class Cumulants(_ODEMethod):
    """Cumulant expansion of order ``order``, solved with Diffrax.

    Attributes:
        order: closure order. :class:`SpinModel`: 2 (Gaussian, third cumulants zero). Central
            spin and Tavis-Cummings models: 1-4 (paper 002).
        solver, rtol, atol, max_steps: as :class:`MeanField`.
        u1: central-spin models only: drop the U(1)-breaking moments (paper 002 Eqs. 10-11).
            Default ``None``: U(1) symmetric for even orders when the model is (``w_x = 0``),
            symmetry broken for odd orders.
    """

    order: int = eqx.field(static=True, default=2)
    u1: bool | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        super().__check_init__()
        check_int("order", self.order, minimum=1)
        if self.u1 not in (None, True, False):
            raise ValueError(f"`u1` must be None, True or False, got {self.u1!r}.")


class Exact(AbstractMethod):
    """Exact master-equation results (QuTiP for :class:`SpinModel`; permutation-invariant
    solvers for the central-spin and qudit models).

    Attributes:
        max_memory: memory limit in bytes (default 8 GiB): every exact solver estimates its
            peak memory from the model before building anything and refuses larger problems.
        options: ``mesolve`` options overriding the robust defaults (SpinModel dynamics).
        cutoff: Fock cut-off of bosonic modes (Tavis-Cummings central-spin cavity: default
            20; :class:`CavityModel`: default chosen per mode from the state and parameters,
            and the top level's population checked, docs/models/cavity.md).

    Examples:
        >>> import twoqs_jax as tq
        >>> method = tq.Exact(max_memory=2 * 1024**3)
    """

    max_memory: float | None = eqx.field(static=True, default=None)
    options: dict | None = eqx.field(static=True, default=None)
    cutoff: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.max_memory is not None and not (
            isinstance(self.max_memory, int | float) and self.max_memory > 0
        ):
            raise ValueError(
                f"`max_memory` must be a positive number of bytes, got {self.max_memory!r}."
            )
        if self.options is not None and not isinstance(self.options, dict):
            raise ValueError(f"`options` must be a dict of mesolve options, got {self.options!r}.")
        if self.cutoff is not None:
            check_int("cutoff", self.cutoff, minimum=1)
