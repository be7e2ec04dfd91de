r"""The general per-site jump ``L_i = c_- S_i^- + c_+ S_i^+ + c_z S_i^z`` (complex ``c``).

:class:`SpinJump` is added to the package through the jump registries alone: this file
defines the Module and registers it once per backend; its Wigner/P/Q drift and noise live in
their own file, :mod:`.spin_jump_wigner`. Conventions: hbar = 1, standard Lindblad form
``rate_i (L_i rho L_i^+ - 1/2 {L_i^+ L_i, rho})``, ``S^pm = S_x pm i S_y``. For
``c = (1, 0, 0)``, ``(0, 1, 0)``, ``(0, 0, 1)`` every backend reduces to :class:`Decay`,
:class:`Gain`, :class:`Dephasing` (tests/test_spin_jump.py).

Backends (write ``X_- = S^-``, ``X_+ = S^+``, ``X_z = S^z`` and
``D^+[L] A = sum_ab conj(c_a) c_b T_ab(A)``,
``T_ab(A) = X_a^+ A X_b - {X_a^+ X_b, A} / 2``, the Heisenberg-picture dissipator):

- **exact**: the collapse operators ``sqrt(rate_i) L_i``, and for the exact derivatives the
  matrix ``K_ab = rate_i c_a conj(c_b)`` in which the dissipator is linear;
- **cumulants** (second order): the exact moment equations of ``D^+[L]``, nine parameters per
  site (``rate |c_a|^2``, ``rate Re/Im(conj(c_a) c_b)``), closed like every other term;
- **mean field**: each ``T_ab(S_k)`` written in symmetrised words of degree <= 2 (the degree-3
  parts cancel) and factorised at the means. The mean-field limit keeps, per pair ``(a, b)``,
  the leading order in S: the degree-2 words (``O(S^2)``, rates ``O(1/S)`` as for collective
  decay) for every pair but ``(z, z)``, whose degree-2 part vanishes identically and whose
  degree-1 words give the exact ``-kappa X/2`` of dephasing. This reproduces the decay, gain
  and dephasing terms of :mod:`twoqs_jax._meanfield.meanfield` exactly;
- **Holstein-Primakoff** theory: with ``c_z = 0`` the jump is linear in the quadratures of a
  polarised site, ``L = sqrt(S) [(c_- + c_+) x + i sigma (c_+ - c_-) p]``; ``c_z != 0``
  (``L`` then holds ``S_z = sigma (S - n)``, not quadratic) is refused, as dephasing is;
- **TWOQS**: :mod:`.spin_jump_wigner`.
"""

import functools

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike
from jaxtyping import Array, Complex, Float

from .._checks import check_finite, check_nonnegative_rate, check_real
from .._exact.jumps import jump_matrix, jump_operators
from .._lattice.linear import linear_dissipator, linear_jump_blocks
from .._meanfield.cumulants import (
    _reduce,
    cumulant_dissipator,
    dissipator_slot,
    ladder_polynomials,
)
from .._meanfield.meanfield import conserves_norm, meanfield_dissipator
from .._model.jumps import AbstractJump, register_jump_type
from .._phase_space.lowering import phase_space_term
from .spin_jump_wigner import SpinJumpTerm

KINDS = ("-", "+", "z")


@register_jump_type
class SpinJump(AbstractJump):
    """The per-site jump ``L_i = c_- S_i^- + c_+ S_i^+ + c_z S_i^z`` at standard rates.

    Attributes:
        rate: standard Lindblad rate ``kappa_i`` (real, >= 0), scalar or ``(n,)``.
        c_minus, c_plus, c_z: complex coefficients of ``S^-``, ``S^+``, ``S^z``, scalars or
            ``(n,)``.

    ``SpinJump(kappa, 1, 0, 0)`` is :class:`Decay`, ``(0, 1, 0)`` :class:`Gain`,
    ``(0, 0, 1)`` :class:`Dephasing`.

    Examples:
        >>> import twoqs_jax as tq
        >>> # a spin losing excitations along a tilted axis
        >>> L = tq.SpinJump(0.1, c_minus=1.0, c_plus=0.3j, c_z=0.5)
        >>> m = tq.SpinModel(5, field={"x": 1.0}, jumps=[L])
    """

    rate: Float[Array, " n"]
    c_minus: Complex[Array, " n"]
    c_plus: Complex[Array, " n"]
    c_z: Complex[Array, " n"]

    real_fields = ("rate",)
    complex_fields = ("c_minus", "c_plus", "c_z")

    def __init__(
        self,
        rate: ArrayLike,
        c_minus: ArrayLike = 0.0,
        c_plus: ArrayLike = 0.0,
        c_z: ArrayLike = 0.0,
    ):
        """``rate`` (real, >= 0) and the complex coefficients of ``S^-``, ``S^+``, ``S^z``."""
        check_real("rate", rate)
        check_nonnegative_rate("rate", rate)
        for name, value in (("c_minus", c_minus), ("c_plus", c_plus), ("c_z", c_z)):
            check_finite(name, value)
        self.rate = rate
        self.c_minus, self.c_plus, self.c_z = c_minus, c_plus, c_z

    def validate(self, where: str = "") -> None:
        """Non-negative finite rates and finite coefficients (concrete arrays)."""
        check_nonnegative_rate("SpinJump.rate", self.rate, where)
        for name in self.complex_fields:
            check_finite(f"SpinJump.{name}", getattr(self, name), where)

    def coefficients(self):
        """``(n, 3)`` complex ``(c_-, c_+, c_z)``."""
        return jnp.stack([self.c_minus, self.c_plus, self.c_z], axis=-1)


# ---------------------------------------------------------------------------- exact
@jump_operators.register
def _(jump: SpinJump):
    rate = np.asarray(jump.rate, dtype=float)
    c = np.stack([np.asarray(getattr(jump, f), dtype=complex) for f in SpinJump.complex_fields])
    out = []
    for i, r in enumerate(rate):
        if r > 0 and np.any(c[:, i] != 0):
            s = np.sqrt(r)
            out.append((i, {k: complex(s * c[j, i]) for j, k in enumerate(KINDS)}))
    return out


@jump_matrix.register
def _(jump: SpinJump):
    c = jump.coefficients()  # (n, 3) over (S^-, S^+, S^z)
    return jnp.asarray(jump.rate)[..., None, None] * c[..., :, None] * jnp.conj(c)[..., None, :]


# ---------------------------------------------------------------------------- cumulants
def _pair_slots(site):
    X = ladder_polynomials(site)
    slots = []
    for a in KINDS:  # rate |c_a|^2 T_aa
        slots.append(dissipator_slot(site, ((1.0, X[a], X[a]),)))
    for i, a in enumerate(KINDS):
        for b in KINDS[i + 1 :]:  # rate Re(w) (T_ab + T_ba), rate Im(w) i (T_ab - T_ba)
            slots.append(dissipator_slot(site, ((1.0, X[a], X[b]), (1.0, X[b], X[a]))))
            slots.append(dissipator_slot(site, ((1j, X[a], X[b]), (-1j, X[b], X[a]))))
    return slots


def _pair_params(jump):
    """``(n, 9)`` real parameters in the order of :func:`_pair_slots`."""
    c = jump.coefficients()
    r = jump.rate
    cols = [r * jnp.abs(c[:, a]) ** 2 for a in range(3)]
    for a in range(3):
        for b in range(a + 1, 3):
            w = jnp.conj(c[:, a]) * c[:, b]
            cols += [r * jnp.real(w), r * jnp.imag(w)]
    return jnp.stack(cols, axis=-1)


@cumulant_dissipator.register
def _(jump: SpinJump, n_sites):
    slots = tuple(s for i in range(n_sites) for s in _pair_slots(i))
    return slots, _pair_params(jump).reshape(-1)


# ---------------------------------------------------------------------------- mean field
@functools.cache
def _meanfield_tables():
    """``(Q, P)``: ``Q[a, b, k]`` the ``(3, 3)`` symmetric degree-2 coefficients and
    ``P[a, b, k]`` the degree-1 coefficients of ``T_ab(S_k)`` on one site (complex).
    """
    from .._meanfield.cumulants import _add, _mul

    X = ladder_polynomials(0)
    Q = np.zeros((3, 3, 3, 3, 3), complex)
    P = np.zeros((3, 3, 3, 3), complex)
    for ia, a in enumerate(KINDS):
        for ib, b in enumerate(KINDS):
            L1d = {w[::-1]: np.conj(c) for w, c in X[a].items()}
            LdL = _mul(L1d, X[b])
            for k in range(3):
                A = {(k,): 1.0 + 0j}
                poly = _add(_mul(_mul(L1d, A), X[b]), _mul(LdL, A), -0.5)
                poly = _add(poly, _mul(A, LdL), -0.5)
                for w, coef in _reduce(poly).items():
                    if len(w) == 2:  # Sym(S_i S_j): split over (i, j) and (j, i)
                        Q[ia, ib, k, w[0], w[1]] += coef / 2
                        Q[ia, ib, k, w[1], w[0]] += coef / 2
                    elif len(w) == 1:
                        P[ia, ib, k, w[0]] += coef
                    elif len(w) > 2:
                        raise AssertionError(f"degree-{len(w)} word {w} did not cancel")
    return Q, P


@meanfield_dissipator.register
def _(jump: SpinJump, spin, y):
    Q, P = _meanfield_tables()
    keep2 = np.ones((3, 3))
    keep2[2, 2] = 0.0  # (z, z): no degree-2 part; its degree-1 part is exact dephasing
    Q = jnp.asarray(Q * keep2[:, :, None, None, None])
    Pzz = jnp.asarray(P[2, 2])  # (3 targets, 3 letters)
    c = jump.coefficients()
    w = jump.rate[:, None, None] * jnp.conj(c)[:, :, None] * c[:, None, :]  # (n, 3, 3)
    yc = y.astype(w.dtype)
    quad = jnp.einsum("nab,abkij,ni,nj->nk", w, Q, yc, yc)
    lin = w[:, 2, 2, None] * jnp.einsum("ki,ni->nk", Pzz, yc)
    return jnp.real(spin[:, None] * quad + lin).astype(y.dtype)


@functools.cache
def _transverse_conserves_norm() -> bool:
    """Whether the kept mean-field terms of the pairs without ``z`` keep ``|X|``
    (``sum_k X_k dX_k = 0`` identically): checked on the coefficient tables.
    """
    Q, _ = _meanfield_tables()
    rng = np.random.default_rng(0)
    for _ in range(4):
        y = rng.normal(size=3)
        w = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
        w[2, :] = w[:, 2] = 0
        w = w @ w.conj().T  # Hermitian weights like conj(c_a) c_b summed
        dy = np.einsum("ab,abkij,i,j->k", w, Q, y, y)
        if abs(np.real(dy @ y)) > 1e-9 * np.abs(dy).max():
            return False
    return True


@conserves_norm.register
def _(jump: SpinJump):
    return bool(np.all(np.asarray(jump.c_z) == 0)) and _transverse_conserves_norm()


# ---------------------------------------------------------------------------- HP theory
@linear_dissipator.register
def _(jump: SpinJump, spin, sigma):
    rate = np.asarray(jump.rate, dtype=np.float64)
    cm, cp, cz = (np.asarray(getattr(jump, f), dtype=complex) for f in SpinJump.complex_fields)
    if np.any((rate > 0) & (cz != 0)):
        raise ValueError(
            "`model` has a SpinJump with c_z != 0: L then holds S_z = sigma (S - n), which is not "
            "linear in the Holstein-Primakoff bosons; the linearised theory does not cover it "
            f"(c_z={cz.tolist()[:4]})."
        )
    l_vectors = np.sqrt(spin)[:, None] * np.stack([cm + cp, 1j * sigma * (cp - cm)], axis=-1)
    return linear_jump_blocks(l_vectors, rate)


# ---------------------------------------------------------------------------- TWOQS
@phase_space_term.register
def _(jump: SpinJump, zeros):
    return SpinJumpTerm.from_coefficients(jump.rate, jump.c_minus, jump.c_plus, jump.c_z)
