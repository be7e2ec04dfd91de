r"""A jump correlated across sites, ``L = sum_i (c_i^- S_i^- + c_i^+ S_i^+ + c_i^z S_i^z)``.

One channel that several sites (ensembles) share, e.g. two ensembles decaying into one
waveguide or bad cavity: ``L = S_1^- + S_2^-``. Conventions: hbar = 1, standard Lindblad
form ``rate (L rho L^+ - 1/2 {L^+ L, rho})`` with one rate for the whole channel,
``S^pm = S_x pm i S_y``. :class:`CorrelatedJump` is added through the jump registries alone
(as :mod:`.spin_jump`); which of ``S^-``, ``S^+``, ``S^z`` appear is static structure (the
coefficients given), the coefficients themselves are traceable arrays.

Backends (write ``X_{ia}`` for ``S_i^a``, ``a in (-, +, z)``, and
``T_{pq}(A) = X_p^+ A X_q - {X_p^+ X_q, A} / 2`` for letters ``p = (i, a)``):

- **exact**: one collapse operator ``sqrt(rate) L`` (a sum over sites);
- **cumulants** (second order): ``D^+[L] A = sum_pq conj(c_p) c_q T_pq(A)``, written as one
  slot per pair of letters (``rate |c_p|^2`` on the diagonal, ``rate Re/Im(conj(c_p) c_q)``
  off it): the exact moment equations, closed like every other term;
- **mean field**: for ``A = S_k^alpha`` only the pairs with ``k`` in them act, and
  ``T_{(k,a)(j,b)}(A) = X_j [X_k^+, A] / 2`` for ``j != k``. Factorised at the means, the
  whole jump gives (leading order in S, ``s_i = <S_i>``, ``l_i = sum_a c_i^a u^a`` with
  ``u^- = (1, -i, 0)``, ``u^+ = (1, i, 0)``, ``u^z = (0, 0, 1)``)

      ds_k/dt = rate Re[ -i (conj(l_k) x s_k) M ] - (rate |c_k^z|^2 / 2) (s_kx, s_ky, 0),
      M = sum_j l_j . s_j = <L>,

  the same-site part (``j = k``) included: for one site it is the mean field of
  :class:`SpinJump` (degree-2 words, plus the exact degree-1 dephasing of the ``(z, z)`` pair).
  The first term keeps every ``|s_k|``; the second shrinks it. Check: ``L = S^-`` on one
  site gives ``dX = rate S X Z``, ``dZ = -rate S (X^2 + Y^2)``, the collective decay;
- **TWOQS**: one complex Wiener increment per channel, shared by its sites (the tangential
  noise ``sqrt(rate/2)(M^+ v xi - M v conj(xi))`` of ``L = v^+ M v``), in the separate
  integrator :mod:`twoqs_jax._twoqs_cavity`, to which :func:`twoqs_jax.solve` sends every
  model with a :class:`CorrelatedJump`; the main kernel's lowering refuses it.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike
from jaxtyping import Array, Complex, Float

from .._checks import check_finite, check_nonnegative_rate, check_real
from .._exact.jumps import jump_operators
from .._meanfield.cumulants import cumulant_dissipator, dissipator_slot, ladder_polynomials
from .._meanfield.meanfield import conserves_norm, meanfield_dissipator
from .._model.jumps import AbstractJump, register_jump_type
from .._phase_space.lowering import phase_space_term

KINDS = ("-", "+", "z")
_FIELDS = ("c_minus", "c_plus", "c_z")
_U = np.array([[1.0, -1j, 0.0], [1.0, 1j, 0.0], [0.0, 0.0, 1.0]])  # u^-, u^+, u^z


@register_jump_type
class CorrelatedJump(AbstractJump):
    """One jump shared by several sites, ``L = sum_i (c_i^- S_i^- + c_i^+ S_i^+ + c_i^z S_i^z)``.

    Attributes:
        rate: standard Lindblad rate ``kappa`` of the channel (real, >= 0, a scalar).
        c_minus, c_plus, c_z: complex coefficients per site, scalars (the same on every site)
            or ``(n,)``; a zero leaves a site out of the channel. Only the coefficients given
            enter ``L`` (``None``: absent).

    ``CorrelatedJump(kappa, c_minus=1.0)`` on two sites is ``L = S_1^- + S_2^-`` (two
    ensembles decaying through one channel: superradiance of the pair). On one site it is
    :class:`SpinJump` ``(kappa, c_minus, c_plus, c_z)``.

    Examples:
        >>> import twoqs_jax as tq
        >>> L = tq.CorrelatedJump(0.1, c_minus=[1.0, 1.0])  # L = S_1^- + S_2^-
        >>> m = tq.SpinModel([2, 2], jumps=[L])
        >>> sol = tq.solve(m, tq.spin_up(2), tq.SaveAt(ts=[0.0, 1.0]), tq.Exact())
    """

    rate: Float[Array, ""]
    c_minus: Complex[Array, " n"] | None
    c_plus: Complex[Array, " n"] | None
    c_z: Complex[Array, " n"] | None

    real_fields = ("rate",)

    def __init__(
        self,
        rate: ArrayLike,
        c_minus: ArrayLike | None = None,
        c_plus: ArrayLike | None = None,
        c_z: ArrayLike | None = None,
    ):
        """``rate`` (real scalar, >= 0) and the coefficients of ``S^-``, ``S^+``, ``S^z``."""
        check_real("rate", rate)
        check_nonnegative_rate("rate", rate)
        given = [(n, v) for n, v in zip(_FIELDS, (c_minus, c_plus, c_z)) if v is not None]
        if not given:
            raise ValueError(
                "`CorrelatedJump` needs at least one of `c_minus`, `c_plus`, `c_z`, got none."
            )
        for name, value in given:
            check_finite(name, value)
        self.rate = rate
        self.c_minus, self.c_plus, self.c_z = c_minus, c_plus, c_z

    @property
    def complex_fields(self) -> tuple:
        """Names of the coefficients present (static structure)."""
        return tuple(f for f in _FIELDS if getattr(self, f) is not None)

    @property
    def kinds(self) -> tuple:
        """The ladder kinds present, from ``("-", "+", "z")``."""
        return tuple(k for k, f in zip(KINDS, _FIELDS) if getattr(self, f) is not None)

    def bind(self, n: int) -> "CorrelatedJump":
        """A copy with the coefficients broadcast to ``(n,)`` (complex) and a scalar rate."""
        rate = jnp.asarray(self.rate, dtype=float)
        if rate.ndim != 0:
            raise ValueError(
                f"`CorrelatedJump.rate` must be a scalar (one rate for the channel), got shape "
                f"{rate.shape}."
            )
        changes = {"rate": rate}
        for name in self.complex_fields:
            arr = jnp.asarray(getattr(self, name))
            if arr.ndim not in (0, 1) or (arr.ndim == 1 and arr.shape[0] != n):
                raise ValueError(
                    f"`CorrelatedJump.{name}` must be a scalar or have shape ({n},), got shape "
                    f"{arr.shape}."
                )
            if not jnp.issubdtype(arr.dtype, jnp.complexfloating):
                arr = jnp.asarray(arr, dtype=complex)
            changes[name] = jnp.broadcast_to(arr, (n,))
        return dataclasses.replace(self, **changes)

    def validate(self, where: str = "") -> None:
        """Non-negative finite rate and finite coefficients (concrete arrays)."""
        check_nonnegative_rate("CorrelatedJump.rate", self.rate, where)
        for name in self.complex_fields:
            check_finite(f"CorrelatedJump.{name}", getattr(self, name), where)

    def coefficients(self):
        """``(n, 3)`` complex ``(c^-, c^+, c^z)`` per site (zeros for absent kinds)."""
        cols = [getattr(self, f) for f in _FIELDS]
        like = next(c for c in cols if c is not None)
        return jnp.stack([jnp.zeros_like(like) if c is None else c for c in cols], axis=-1)


# ---------------------------------------------------------------------------- exact
@jump_operators.register
def _(jump: CorrelatedJump):
    rate = float(np.asarray(jump.rate))
    if rate <= 0:
        return []
    c = np.sqrt(rate) * np.asarray(jump.coefficients(), dtype=complex)  # (n, 3)
    sites = tuple(i for i in range(c.shape[0]) if np.any(c[i] != 0))
    if not sites:
        return []
    coeffs = tuple({k: complex(c[i, a]) for a, k in enumerate(KINDS)} for i in sites)
    return [(sites, coeffs)]


# ---------------------------------------------------------------------------- cumulants
def _letters(jump, n_sites):
    return [(i, a) for i in range(n_sites) for a in jump.kinds]


@cumulant_dissipator.register
def _(jump: CorrelatedJump, n_sites):
    letters = _letters(jump, n_sites)
    X = {(i, a): ladder_polynomials(i)[a] for i, a in letters}
    c = jump.coefficients()  # (n, 3)
    col = {a: KINDS.index(a) for a in KINDS}
    coef = [c[i, col[a]] for i, a in letters]
    slots, params = [], []
    for p, lp in enumerate(letters):
        slots.append(dissipator_slot(lp[0], ((1.0, X[lp], X[lp]),)))
        params.append(jump.rate * jnp.abs(coef[p]) ** 2)
        for q in range(p + 1, len(letters)):
            lq = letters[q]
            site = lp[0] if lp[0] == lq[0] else (lp[0], lq[0])
            w = jnp.conj(coef[p]) * coef[q]
            slots.append(dissipator_slot(site, ((1.0, X[lp], X[lq]), (1.0, X[lq], X[lp]))))
            params.append(jump.rate * jnp.real(w))
            slots.append(dissipator_slot(site, ((1j, X[lp], X[lq]), (-1j, X[lq], X[lp]))))
            params.append(jump.rate * jnp.imag(w))
    return tuple(slots), jnp.stack(params)


# ---------------------------------------------------------------------------- mean field
@meanfield_dissipator.register
def _(jump: CorrelatedJump, spin, y):
    c = jump.coefficients()  # (n, 3)
    l_vec = c @ jnp.asarray(_U)  # (n, 3): L = sum_i l_i . S_i
    s = spin[:, None] * y.astype(l_vec.dtype)
    M = jnp.sum(l_vec * s)
    ds = jump.rate * jnp.real(-1j * jnp.cross(jnp.conj(l_vec), s) * M)
    dz = jnp.abs(c[:, 2]) ** 2
    deph = 0.5 * jump.rate * dz[:, None] * jnp.real(s) * jnp.asarray([1.0, 1.0, 0.0])
    return ((ds - deph) / spin[:, None]).astype(y.dtype)


@conserves_norm.register
def _(jump: CorrelatedJump):
    return jump.c_z is None or bool(np.all(np.asarray(jump.c_z) == 0))


# ---------------------------------------------------------------------------- TWOQS
@phase_space_term.register
def _(jump: CorrelatedJump, zeros):
    raise NotImplementedError(
        "the main TWOQS kernel does not take CorrelatedJump (a jump shared by several sites "
        "needs noise correlated across sites); tq.solve runs such models with the integrator "
        "of twoqs_jax._twoqs_cavity (docs/models/cavity.md)."
    )
