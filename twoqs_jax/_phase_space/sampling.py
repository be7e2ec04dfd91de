"""Initial phase-space samples of spin coherent states (paper 003 Sec. 2.5.1, Eqs. 16-20).

A spin coherent state of Bloch angles ``(theta, phi)`` (theta from +z, our
:class:`SpinCoherentState` convention) is the two-mode state ``|0>_a |2S>_b`` (spin down)
rotated by the mode unitary

    alpha = -sin(theta/2) e^{-i phi} alpha0 + cos(theta/2) beta0
    beta  =  cos(theta/2) alpha0 + sin(theta/2) e^{i phi} beta0,

which maps the down state's mean ``(0, sqrt(2S))`` to ``sqrt(2S)(cos(theta/2),
sin(theta/2) e^{i phi})``, i.e. ``<S> = S (sin th cos ph, sin th sin ph, cos th)``. A mode
unitary maps Wigner, P and Q functions covariantly, so the rotation applies to samples.
(Paper 003 Eqs. 19-20 start from the south pole, ``theta_paper = pi - theta``, and as printed,
``W_{theta,phi}(alpha, beta) = W_0(alpha~, beta~)``, the phase ``phi`` drops out of the Bloch
vector; see docs/derivations/twoqs.md.)

Samples of the down state ``(alpha0, beta0)``:

- W, ``fock_sampling="coherent"`` (paper 003 Eq. 18): ``alpha0 ~ CN(0, 1/2)``,
  ``beta0 = sqrt(2S) + CN(0, 1/2)``.
- W, ``fock_sampling="fock"`` (this package): ``alpha0 ~ CN(0, 1/2)``,
  ``|beta0|^2 = 2S + E`` with ``E ~ Exp(mean 1/2)`` and a uniform phase. This matches the
  exact Fock-state Wigner moments ``<|beta|^2>_W = n + 1/2`` and ``Var_W(|beta|^2) = 1/4``
  (the coherent approximation has variance ``n + 1/4``) and the phase invariance of ``|n>``.
- Q: the exact Fock Q function, ``|beta0|^2 ~ Gamma(2S+1, 1)``, uniform phase,
  ``alpha0 ~ CN(0, 1)`` (paper 003 Eq. 16).
- P: the coherent amplitude ``alpha0 = 0``, ``beta0 = sqrt(2S)`` (paper 003 Eq. 17).

The random numbers come from the caller: the kernel, the pathwise gradient and the score
estimator all draw them with :func:`twoqs_jax._sde.kernel.initial_sample`: two
counter-based Box-Muller draws per site in polar form (:func:`twoqs_jax._sde.rng.polar`),
``sqrt(e) e^{i phi}`` with ``e ~ Exp(1)`` and a uniform phase, i.e. standard complex
normals whose squared modulus and phase are also used directly (the Fock sample's
exponential and uniform phase); only Q's Gamma variate, a rejection sampler, uses
``jax.random``.
"""

import jax
import jax.numpy as jnp

FOCK_SAMPLINGS = ("coherent", "fock")
N_POLAR = 2
"""Polar draws per site of one initial sample (0: ``alpha0``, 1: ``beta0``), drawn by the
caller (:func:`twoqs_jax._sde.kernel.initial_sample`).
"""


def sample_down(polar, gamma_key, spin, k: int, fock_sampling: str, dtype):
    """One sample ``(alpha0, beta0)`` of the spin-down state on every site, ``(n,)`` each.

    Args:
        polar: ``polar(r)`` returns draw ``r < N_POLAR`` (0 for ``alpha0``, 1 for
            ``beta0``) of every site, ``(e, c, s)``, ``(n,)`` each: ``e ~ Exp(1)`` and an
            independent uniform phase ``(c, s) = (cos, sin)(phi)``, i.e. ``sqrt(e)(c + i s)``
            is a standard complex normal; only the draws a representation needs are
            requested (none for P).
        gamma_key: a JAX key for the Gamma draw of Q (``k == -1``); unused otherwise.
        spin: ``(n,)`` spin lengths.
        k, fock_sampling, dtype: as in :func:`sample_initial`.

    With ``z = sqrt(e)(c + i s) ~ CN(0, 1)``: ``alpha0 = z_0 / sqrt(2)`` (W) or ``z_0`` (Q);
    ``beta0 = sqrt(2S) + z_1 / sqrt(2)`` (W coherent: ``CN(0, 1/2)`` around the mean) or
    ``sqrt(2S + e_1 / 2) (c_1 + i s_1)`` (W Fock: ``2S + Exp(mean 1/2)`` and a uniform phase)
    or ``sqrt(G) (c_1 + i s_1)`` with ``G ~ Gamma(2S + 1, 1)`` (Q). These hold up to the
    generator's resolution: ``e`` comes from a 24-bit uniform (``e <= 16.6``) and ``(c, s)``
    from a polynomial cosine with ``c^2 + s^2 = 1`` to about ``1e-7``, so ``|beta0|^2`` can
    fall below ``2S`` by about ``2S * 1e-7`` in float64.
    """
    n = spin.shape
    two_s = (2 * spin).astype(dtype)
    zero = jnp.zeros(n, dtype)
    if k == 1:
        return jax.lax.complex(zero, zero), jax.lax.complex(jnp.sqrt(two_s), zero)

    def radial(r, c, s):  # r e^{i phi}
        return jax.lax.complex(r * c, r * s)

    ea, ca, sa = polar(0)
    eb, cb, sb = polar(1)
    if k == -1:
        nb = jax.random.gamma(gamma_key, two_s + 1, dtype=dtype)
        return radial(jnp.sqrt(ea), ca, sa), radial(jnp.sqrt(nb), cb, sb)
    alpha0 = radial(jnp.sqrt(0.5 * ea), ca, sa)
    if fock_sampling == "coherent":
        rb = jnp.sqrt(0.5 * eb)
        return alpha0, jax.lax.complex(jnp.sqrt(two_s) + rb * cb, rb * sb)
    return alpha0, radial(jnp.sqrt(two_s + 0.5 * eb), cb, sb)  # 2S + Exp(mean 1/2)


def rotate(alpha0, beta0, theta, phi):
    """Rotate spin-down samples to the coherent state ``(theta, phi)`` (module docstring)."""
    c = jnp.cos(theta / 2).astype(alpha0.dtype)
    s = jnp.sin(theta / 2).astype(alpha0.dtype)
    e = jax.lax.complex(jnp.cos(phi), jnp.sin(phi))  # e^{i phi}
    alpha = -s * jnp.conj(e) * alpha0 + c * beta0
    beta = c * alpha0 + s * e * beta0
    return alpha, beta


def sample_initial(polar, gamma_key, spin, theta, phi, k: int, fock_sampling: str, dtype):
    """One trajectory's initial ``(alpha, beta)`` for a product of spin coherent states.

    Args:
        polar, gamma_key: this trajectory's random numbers (:func:`sample_down`).
        spin: ``(n,)`` spin lengths.
        theta, phi: ``(n,)`` Bloch angles (theta from +z).
        k: representation (0 W, 1 P, -1 Q).
        fock_sampling: "coherent" or "fock" (Wigner only).
        dtype: real dtype of the amplitudes.
    """
    a0, b0 = sample_down(polar, gamma_key, spin, k, fock_sampling, dtype)
    a, b = rotate(a0, b0, theta.astype(dtype), phi.astype(dtype))
    return a.astype(a0.dtype), b.astype(a0.dtype)
