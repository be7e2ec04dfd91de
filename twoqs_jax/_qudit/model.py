"""The qudit dissipative LMG model of paper 001 (Pausch, Damanet, Bastin, Martin).

``N`` spins of ``d = 2j + 1`` levels each (basis ``|m>``, ``m = -j..j``; index ``k = m + j``,
so index 0 is ``m = -j``), with

    H = V/(N j) (J_x^2 - J_y^2) = V/(2 N j) (J_+^2 + J_-^2),                (001 Eq 2)

    drho/dt = -i[H, rho] + (gamma_I/j) sum_i D[L^(i)] rho + (gamma_C/(N j)) D[L_C] rho,   (Eq 3)

``D[L] rho = L rho L^+ - 1/2 {L^+ L, rho}`` (standard Lindblad form: the standard rates are
``kappa_I = gamma_I / j`` per particle and ``kappa_C = gamma_C / (N j)``),
``L^(i) = sum_{m=-j}^{j-1} l_m |m><m+1|_i`` (Eq 4) and ``L_C = sum_i L^(i)``.
The paper fixes ``l_{-j} = sqrt(2j)``; two choices are built in:
the spin ladder ``L = j_-`` (Eq 5, ``l_m = A_{j,m} = sqrt((j-m)(j+m+1))``) and the
m-independent ``L = sqrt(2j) sum_m |m><m+1|`` (Eq 6). Any other ``l_m`` can be given.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike
from jaxtyping import Array, Complex, Float

from .._checks import check_finite, check_int, check_nonnegative, check_shape


def ladder_spin(d: int) -> np.ndarray:
    """Coefficients ``l_m = A_{j,m} = sqrt((j-m)(j+m+1))``, ``m = -j..j-1`` (001 Eq 5)."""
    d = check_int("d", d, minimum=2)
    j = (d - 1) / 2
    m = np.arange(d - 1) - j
    return np.sqrt((j - m) * (j + m + 1))


def ladder_uniform(d: int) -> np.ndarray:
    """Coefficients ``l_m = sqrt(2j)`` for all ``m`` (the m-independent dissipator, 001 Eq 6)."""
    d = check_int("d", d, minimum=2)
    return np.full(d - 1, np.sqrt(d - 1.0))


def spin_matrices(d: int) -> dict:
    """Single-particle spin matrices ``j_+, j_-, j_x, j_y, j_z`` (numpy, complex, ``(d, d)``).

    Basis index ``k = m + j`` (ascending ``m``): ``j_+[k+1, k] = A_{j,m}`` (001 Eq 1).
    """
    d = check_int("d", d, minimum=2)
    j = (d - 1) / 2
    jp = np.diag(ladder_spin(d), -1).astype(complex)
    jm = jp.conj().T
    return {
        "+": jp,
        "-": jm,
        "x": (jp + jm) / 2,
        "y": (jp - jm) / 2j,
        "z": np.diag(np.arange(d) - j).astype(complex),
    }


class QuditLMG(eqx.Module):
    """Qudit dissipative LMG model (paper 001 Eqs 2-4), immutable.

    Rates are the paper's ``gamma_I``, ``gamma_C`` (the prefactors ``gamma_I/j`` and
    ``gamma_C/(N j)`` of Eq 3 are applied by every method); ``V`` may have either sign.
    Continuous fields are JAX arrays, so models can be vmapped over ``V``, ``gamma_I``,
    ``gamma_C`` and ``ladder``.

    Attributes:
        d: single-particle dimension ``d = 2j + 1 >= 2`` (static).
        n: particle number ``N`` for exact finite-N methods, or ``None`` (mean field only).
        V: interaction strength.
        gamma_I: individual decay rate (paper convention, >= 0).
        gamma_C: collective decay rate (paper convention, >= 0).
        ladder: ``(d - 1,)`` coefficients ``l_m``, ``m = -j..j-1`` (real or complex).

    Examples:
        >>> model = QuditLMG.m_independent(4, V=1.0, gamma_I=2.02, gamma_C=0.0)
        >>> model.j
        1.5
    """

    d: int = eqx.field(static=True)
    n: int | None = eqx.field(static=True)
    V: Float[Array, ""]
    gamma_I: Float[Array, ""]
    gamma_C: Float[Array, ""]
    ladder: Array

    def __init__(
        self,
        d: int,
        V: ArrayLike,
        gamma_I: ArrayLike,
        gamma_C: ArrayLike,
        ladder: ArrayLike,
        n: int | None = None,
    ):
        """Validate and store; see the class docstring for the arguments."""
        self.d = check_int("d", d, minimum=2)
        self.n = None if n is None else check_int("n", n, minimum=1)
        check_finite("V", V)
        check_nonnegative("gamma_I", gamma_I)
        check_nonnegative("gamma_C", gamma_C)
        ladder = jnp.asarray(ladder)
        check_shape("ladder", ladder, (self.d - 1,))
        check_finite("ladder", ladder)
        self.V = jnp.asarray(V)
        self.gamma_I = jnp.asarray(gamma_I)
        self.gamma_C = jnp.asarray(gamma_C)
        self.ladder = ladder

    @classmethod
    def spin_ladder(cls, d, V=1.0, gamma_I=0.0, gamma_C=0.0, n=None) -> "QuditLMG":
        """The spin-ladder dissipator ``L = j_-`` (001 Eq 5)."""
        return cls(d, V, gamma_I, gamma_C, ladder_spin(d), n=n)

    @classmethod
    def m_independent(cls, d, V=1.0, gamma_I=0.0, gamma_C=0.0, n=None) -> "QuditLMG":
        """The m-independent dissipator ``L = sqrt(2j) sum_m |m><m+1|`` (001 Eq 6)."""
        return cls(d, V, gamma_I, gamma_C, ladder_uniform(d), n=n)

    @property
    def j(self) -> float:
        """Single-particle spin ``j = (d - 1)/2``."""
        return (self.d - 1) / 2

    def replace(self, **kwargs) -> "QuditLMG":
        """A copy with some fields replaced (``V``, ``gamma_I``, ``gamma_C``, ``ladder``, ``n``)."""
        fields = dict(
            V=self.V, gamma_I=self.gamma_I, gamma_C=self.gamma_C, ladder=self.ladder, n=self.n
        )
        for k in kwargs:
            if k not in fields:
                raise ValueError(
                    f"`{k}` is not a replaceable field of QuditLMG ({sorted(fields)})."
                )
        fields.update(kwargs)
        return QuditLMG(
            self.d,
            fields["V"],
            fields["gamma_I"],
            fields["gamma_C"],
            fields["ladder"],
            n=fields["n"],
        )

    def jump_matrix(self) -> Complex[Array, "d d"]:
        """Single-particle jump ``L = sum_m l_m |m><m+1|`` as a ``(d, d)`` matrix (Eq 4)."""
        return jnp.diag(self.ladder.astype(jnp.result_type(self.ladder, 1j)), 1)

    def polarised_threshold(self):
        """``4 j |V| / |l_{-j}|^2``: the polarised state is stable iff ``gamma_I + gamma_C`` exceeds it.

        (001 Appendix B, Eq B2; equal to ``2|V|`` with the paper's scaling ``l_{-j} = sqrt(2j)``.)
        """
        return 4 * self.j * jnp.abs(self.V) / jnp.abs(self.ladder[0]) ** 2
