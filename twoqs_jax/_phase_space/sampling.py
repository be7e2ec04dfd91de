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
estimator all draw them with :func:`twoqs_jax._sde.kernel.initial_sample` (counter-based
standard normals of :mod:`twoqs_jax._sde.rng`; only Q's Gamma variate, a rejection sampler,
uses ``jax.random``).
"""

import jax
import jax.numpy as jnp

FOCK_SAMPLINGS = ("coherent", "fock")
N_NORMALS = 6
"""Standard normals per site of one initial sample (rows 0-1: ``alpha0``; 2-3: the spread
of ``beta0``; 4-5: its phase), drawn by the caller (:func:`twoqs_jax._sde.kernel.initial_sample`).
"""


def sample_down(normal, gamma_key, spin, k: int, fock_sampling: str, dtype):
    """One sample ``(alpha0, beta0)`` of the spin-down state on every site, ``(n,)`` each.

    Args:
        normal: ``normal(r)`` returns row ``r < N_NORMALS`` of independent standard normals,
            ``(n,)``; only the rows a representation needs are requested (none for P; 0, 1,
            4, 5 for Q; 0-3 for W "coherent"; all six for W "fock").
        gamma_key: a JAX key for the Gamma draw of Q (``k == -1``); unused otherwise.
        spin: ``(n,)`` spin lengths.
        k, fock_sampling, dtype: as in :func:`sample_initial`.

    An exponential is ``(x^2 + y^2)/2`` and a uniform phase the angle of ``x + i y`` for
    standard normals ``x, y``; only Q's ``|beta0|^2 ~ Gamma(2S + 1, 1)`` is drawn otherwise.
    """
    n = spin.shape
    two_s = (2 * spin).astype(dtype)
    zero = jnp.zeros(n, dtype)
    if k == 1:
        return jax.lax.complex(zero, zero), jax.lax.complex(jnp.sqrt(two_s), zero)
    x = {r: normal(r) for r in (0, 1)}
    z0 = jax.lax.complex(x[0], x[1]) / jnp.sqrt(2.0)  # E|z0|^2 = 1

    def with_phase(r):  # r e^{i arg(x4 + i x5)} (phase 1 in the null event x4 = x5 = 0)
        c, s = normal(4), normal(5)
        h = jnp.hypot(c, s)
        ok = h > 0
        r = r / jnp.where(ok, h, 1)
        return jax.lax.complex(r * jnp.where(ok, c, 1), r * s)

    if k == -1:
        nb = jax.random.gamma(gamma_key, two_s + 1, dtype=dtype)
        return z0, with_phase(jnp.sqrt(nb))
    x2, x3 = normal(2), normal(3)
    alpha0 = z0 * jnp.sqrt(0.5)
    if fock_sampling == "coherent":
        return alpha0, jax.lax.complex(jnp.sqrt(two_s) + 0.5 * x2, 0.5 * x3)
    nb = two_s + 0.25 * (x2**2 + x3**2)  # 2S + Exp(mean 1/2)
    return alpha0, with_phase(jnp.sqrt(nb))


def rotate(alpha0, beta0, theta, phi):
    """Rotate spin-down samples to the coherent state ``(theta, phi)`` (module docstring)."""
    c = jnp.cos(theta / 2).astype(alpha0.dtype)
    s = jnp.sin(theta / 2).astype(alpha0.dtype)
    e = jax.lax.complex(jnp.cos(phi), jnp.sin(phi))  # e^{i phi}
    alpha = -s * jnp.conj(e) * alpha0 + c * beta0
    beta = c * alpha0 + s * e * beta0
    return alpha, beta


def sample_initial(normal, gamma_key, spin, theta, phi, k: int, fock_sampling: str, dtype):
    """One trajectory's initial ``(alpha, beta)`` for a product of spin coherent states.

    Args:
        normal, gamma_key: this trajectory's random numbers (:func:`sample_down`).
        spin: ``(n,)`` spin lengths.
        theta, phi: ``(n,)`` Bloch angles (theta from +z).
        k: representation (0 W, 1 P, -1 Q).
        fock_sampling: "coherent" or "fock" (Wigner only).
        dtype: real dtype of the amplitudes.
    """
    a0, b0 = sample_down(normal, gamma_key, spin, k, fock_sampling, dtype)
    a, b = rotate(a0, b0, theta.astype(dtype), phi.astype(dtype))
    return a.astype(a0.dtype), b.astype(a0.dtype)
