r"""Phase-space (W, P, Q) drift and noise of the general jump ``L = c_- S^- + c_+ S^+ + c_z S^z``.

Kept in its own file so that a full Wigner-Moyal treatment of bilinear jumps can replace it.

**Derivation.** With the Schwinger bosons ``v = (a, b)`` the jump is the bilinear
``L = v^+ M v``, ``M = [[c_z/2, c_+], [c_-, -c_z/2]]`` (``S^+ = a^+ b``, ``S^- = b^+ a``,
``S_z = (a^+ a - b^+ b)/2``). The correspondences of paper 003 Eqs. 5-8 for
``F_k`` (``k`` = 0 W, 1 P, -1 Q; ``p = (1-k)/2``, ``q = (1+k)/2``),
``a rho -> (alpha + p d/dalpha*)``, ``a^+ rho -> (alpha* - q d/dalpha)``,
``rho a^+ -> (alpha* + p d/dalpha)``, ``rho a -> (alpha - q d/dalpha*)``, composed for
``D[L] rho = L rho L^+ - (L^+ L rho + rho L^+ L)/2`` and ordered with the derivatives to the
left, give (symbolic operator algebra, every coefficient checked for general complex ``c`` and
``k``) with ``z = (alpha, beta)``, ``g = M z``, ``h = M^+ z``, ``l = z^+ M z``:

- drift (Ito): ``A = (kappa/2) (conj(l) g - l h) - (kappa/4) [(1+k) M^+M + (1-k) M M^+] z``;
- normal diffusion ``<dz dz^+> = D_N dt``:
  ``D_N = (kappa/2) [(1+k) g g^+ + (1-k) h h^+] + kappa (1-k^2)/4 (M^+M - M M^+)``;
- anomalous diffusion ``<dz dz^T> = D_A dt``: ``D_A = -(kappa/2) (g h^T + h g^T)``;
- third-order terms proportional to ``(1 - k^2)``: dropped for W (the truncated Wigner
  approximation), absent for P and Q.

For ``c = (1, 0, 0)`` this is paper 003's Eq. 12 (decay), for ``(0, 0, 1)`` dephasing.

**Tangential noise (the default, Wigner).** With one complex increment
``xi = (dW1 + i dW2)/sqrt(2)`` per site (``E|xi|^2 = dt``, ``E xi^2 = 0``),
``dz = A dt + sqrt(kappa/2) (h xi - g conj(xi))`` realises ``D_A`` and the rank-one part
``(kappa/2)(g g^+ + h h^+)`` of ``D_N`` exactly; only the vacuum part
``(kappa/4)[M^+, M]`` (traceless, indefinite, O(kappa) against O(kappa S)) is dropped. The
noise is ``dz = G z`` with the anti-Hermitian ``G = sqrt(kappa/2)(xi M^+ - conj(xi) M)``: a
random unitary of the Schwinger-boson vector, which conserves ``|alpha|^2 + |beta|^2`` in the
continuum (docs/methods/fidelity.md). For decay and gain it is the fused step's tangential
noise of :mod:`twoqs_jax._phase_space.drift`; the rows ``dW3``, ``dW4`` are unused.

**Paper-style positive diffusion** (``diffusion="paper"``, and P, Q). Paper 003 (Sec. 2.4) keeps the drift as it is and drops the diffusion
terms that make ``D`` non-positive while leaving the equations of the spin means (which only
see ``D_N``) unchanged. Decay and gain drop the anomalous block ``D_A`` (their cross-mode
``d^2/dalpha dbeta`` terms); dephasing keeps it (its full ``D`` is positive, a real phase
noise that conserves ``|alpha|`` and ``|beta|``). For a general ``c`` this file keeps ``D_N``
and the fraction ``lam = |c_z|^2 / (|c_-|^2 + |c_+|^2 + |c_z|^2)`` of ``D_A``: continuous in
``c``, exactly the decay, gain and dephasing rules at the three corners, and positive at
leading order for the Wigner function (``D_N + lam D_A`` is a convex combination of ``D_N``
and the full, realisable, ``D_N + D_A``). The ``O(1)`` ordering corrections (and, for P and Q,
the unequal weights ``1 +- k``) can still make the 4x4 real covariance indefinite, like the
``|alpha|^2 - 1/2`` of Wigner decay: its negative eigenvalues are clipped at 0 and counted.
This choice of ``lam`` is a rule, not a derivation; the comparisons with exact results in
tests/test_spin_jump.py bound its error.

**Noise.** The real covariance ``Sigma`` of ``(Re alpha, Im alpha, Re beta, Im beta)``
follows from ``D_N`` and ``lam D_A``; the increment is ``A dt + V sqrt(w_+) dW`` with
``Sigma = V diag(w) V^T`` and four real Wiener increments per site. The 4x4 eigenproblem is
solved per site and step by cyclic Jacobi rotations in elementwise arithmetic
(:func:`jacobi_eigh`): LAPACK's batched ``syevd``, which ``jnp.linalg.eigh`` calls on CPU,
deadlocked inside the kernel's ``lax.scan`` (its batch runs on the thread pool the scan
occupies). Pathwise gradients through a :class:`SpinJump` are not supported (the
eigenvectors of degenerate ``Sigma`` have no derivative).
"""

import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from .._phase_space.lowering import AbstractPhaseSpaceTerm


def jacobi_eigh(a, sweeps: int = 5):
    """Eigenvalues ``w`` ``(..., m)`` and eigenvectors ``V`` (columns, ``(..., m, m)``) of the
    symmetric matrices ``a`` ``(..., m, m)`` by cyclic Jacobi rotations: one sweep over the
    ``m (m - 1) / 2`` pairs is unrolled in elementwise arithmetic (vectorises, no custom
    call) and the sweeps run in a ``lax.fori_loop`` (small compiled code). Quadratic
    convergence: 5 sweeps reach round-off for ``m = 4``.
    """
    m = a.shape[-1]
    tiny = jnp.finfo(a.dtype).tiny

    def sweep(_, carry):
        A, V = carry
        A = [list(row) for row in A]
        V = [list(row) for row in V]
        for p in range(m):
            for q in range(p + 1, m):
                apq = A[p][q]
                small = jnp.abs(apq) <= tiny
                theta = (A[q][q] - A[p][p]) / (2 * jnp.where(small, 1, apq))
                t = jnp.sign(theta) / (jnp.abs(theta) + jnp.sqrt(theta * theta + 1))
                t = jnp.where(small, 0, jnp.where(theta == 0, 1, t))
                c = 1 / jnp.sqrt(t * t + 1)
                sn = t * c
                for k in range(m):
                    if k in (p, q):
                        continue
                    akp, akq = A[k][p], A[k][q]
                    A[k][p] = A[p][k] = c * akp - sn * akq
                    A[k][q] = A[q][k] = sn * akp + c * akq
                app, aqq = A[p][p], A[q][q]
                A[p][p] = app - t * apq
                A[q][q] = aqq + t * apq
                A[p][q] = A[q][p] = jnp.zeros_like(apq)
                for k in range(m):
                    vkp, vkq = V[k][p], V[k][q]
                    V[k][p] = c * vkp - sn * vkq
                    V[k][q] = sn * vkp + c * vkq
        return tuple(tuple(row) for row in A), tuple(tuple(row) for row in V)

    A0 = tuple(tuple(a[..., i, j] for j in range(m)) for i in range(m))
    one, zero = jnp.ones(a.shape[:-2], a.dtype), jnp.zeros(a.shape[:-2], a.dtype)
    V0 = tuple(tuple(one if i == j else zero for j in range(m)) for i in range(m))
    A, V = lax.fori_loop(0, sweeps, sweep, (A0, V0))
    w = jnp.stack([A[i][i] for i in range(m)], axis=-1)
    vecs = jnp.stack([jnp.stack(row, axis=-1) for row in V], axis=-2)
    return w, vecs


def _m_matrix(c_minus, c_plus, c_z):
    """``(..., 2, 2)`` complex ``M`` of ``L = v^+ M v``."""
    half = c_z / 2
    return jnp.stack(
        [jnp.stack([half, c_plus], axis=-1), jnp.stack([c_minus, -half], axis=-1)], axis=-2
    )


class SpinJumpTerm(AbstractPhaseSpaceTerm):
    """Lowered :class:`SpinJump`: rates, ``M`` as real and imaginary parts, and ``lam``."""

    rate: Float[Array, " n"]
    m_re: Float[Array, "n 2 2"]
    m_im: Float[Array, "n 2 2"]
    lam: Float[Array, " n"]

    noise_rows = 4

    @classmethod
    def from_coefficients(cls, rate, c_minus, c_plus, c_z) -> "SpinJumpTerm":
        """Lower the coefficients (module docstring)."""
        m = _m_matrix(c_minus, c_plus, c_z)
        norm = jnp.abs(c_minus) ** 2 + jnp.abs(c_plus) ** 2 + jnp.abs(c_z) ** 2
        lam = jnp.where(norm > 0, jnp.abs(c_z) ** 2 / jnp.where(norm > 0, norm, 1.0), 0.0)
        return cls(jnp.asarray(rate), jnp.real(m), jnp.imag(m), lam)

    def active(self) -> bool:
        """Whether any site has a nonzero rate."""
        return bool(np.any(np.asarray(self.rate) != 0))

    def coefficients(self, z, k: int):
        """``(A, D_N, lam D_A)`` at the real state ``z`` (module docstring), complex."""
        ar, ai, br, bi = z
        dtype = jnp.result_type(ar.dtype, jnp.complex64)
        M = (self.m_re + 1j * self.m_im).astype(dtype)
        Md = jnp.conj(jnp.swapaxes(M, -1, -2))
        v = jnp.stack([ar + 1j * ai, br + 1j * bi], axis=-1).astype(dtype)  # (n, 2)
        g = jnp.einsum("nij,nj->ni", M, v)
        h = jnp.einsum("nij,nj->ni", Md, v)
        ell = jnp.sum(jnp.conj(v) * g, axis=-1)
        kap = self.rate.astype(ar.dtype)[:, None]
        mdm = jnp.einsum("nij,njk->nik", Md, M)
        mmd = jnp.einsum("nij,njk->nik", M, Md)
        drift = (kap / 2) * (jnp.conj(ell)[:, None] * g - ell[:, None] * h)
        drift = drift - (kap / 4) * jnp.einsum("nij,nj->ni", (1 + k) * mdm + (1 - k) * mmd, v)
        kk = kap[:, :, None]
        outer = jnp.einsum("ni,nj->nij", g, jnp.conj(g))
        outer_h = jnp.einsum("ni,nj->nij", h, jnp.conj(h))
        d_n = (kk / 2) * ((1 + k) * outer + (1 - k) * outer_h)
        d_n = d_n + kk * (1 - k * k) / 4 * (mdm - mmd)
        gh = jnp.einsum("ni,nj->nij", g, h)
        d_a = -(kk / 2) * (gh + jnp.swapaxes(gh, -1, -2))
        return drift, d_n, self.lam.astype(ar.dtype)[:, None, None] * d_a

    def covariance(self, z, k: int):
        """``(n, 4, 4)`` real covariance (per unit time) of ``(Re a, Im a, Re b, Im b)``."""
        _, d_n, d_a = self.coefficients(z, k)
        plus, minus = d_n + d_a, d_n - d_a
        xx = 0.5 * jnp.real(plus)
        yy = 0.5 * jnp.real(minus)
        xy = 0.5 * jnp.imag(d_a - d_n)  # E[x_j y_k]
        n = xx.shape[0]
        cov = jnp.zeros((n, 2, 2, 2, 2), xx.dtype)  # [mode j, part, mode k, part]
        cov = cov.at[:, :, 0, :, 0].set(xx)
        cov = cov.at[:, :, 1, :, 1].set(yy)
        cov = cov.at[:, :, 0, :, 1].set(xy)
        cov = cov.at[:, :, 1, :, 0].set(jnp.swapaxes(xy, -1, -2))
        cov = cov.reshape(n, 4, 4)
        return 0.5 * (cov + jnp.swapaxes(cov, -1, -2))

    def tangential_noise(self, z, dW):
        """``sqrt(kappa/2)(h xi - g conj(xi))`` as ``(n, 2)`` complex (module docstring)."""
        ar, ai, br, bi = z
        dtype = jnp.result_type(ar.dtype, jnp.complex64)
        M = (self.m_re + 1j * self.m_im).astype(dtype)
        v = jnp.stack([ar + 1j * ai, br + 1j * bi], axis=-1).astype(dtype)
        g = jnp.einsum("nij,nj->ni", M, v)
        h = jnp.einsum("nij,nj->ni", jnp.conj(jnp.swapaxes(M, -1, -2)), v)
        xi = (dW[0] + 1j * dW[1]).astype(dtype)[:, None]  # sqrt(2) xi
        amp = jnp.sqrt(self.rate.astype(ar.dtype) / 4)[:, None]
        return amp * (h * xi - g * jnp.conj(xi))

    def increment(self, z, dW, dt, k, sqrt, tangential=False):
        """``(A dt + noise, clipped)`` of one trajectory: the tangential noise, or
        ``V sqrt(w_+) dW`` of the paper-style positive diffusion (module docstring).
        """
        drift, _, _ = self.coefficients(z, k)
        dz = [
            jnp.real(drift[:, 0]) * dt,
            jnp.imag(drift[:, 0]) * dt,
            jnp.real(drift[:, 1]) * dt,
            jnp.imag(drift[:, 1]) * dt,
        ]
        clipped = jnp.zeros(z[0].shape, bool)
        if dW is not None and tangential:
            nz = self.tangential_noise(z, dW)
            noise = (jnp.real(nz[:, 0]), jnp.imag(nz[:, 0]), jnp.real(nz[:, 1]), jnp.imag(nz[:, 1]))
            dz = [dz[i] + noise[i] for i in range(4)]
        elif dW is not None:
            cov = self.covariance(z, k)
            w, V = jacobi_eigh(cov)
            scale = jnp.max(jnp.abs(w), axis=-1, keepdims=True)
            clipped = jnp.any(w < -1e-5 * scale, axis=-1) & (self.rate.astype(w.dtype) > 0)
            amp = sqrt(jnp.maximum(w, 0))
            noise = jnp.einsum("nij,nj,jn->ni", V, amp, jnp.stack(list(dW)))
            dz = [dz[i] + noise[:, i] for i in range(4)]
        return tuple(x.astype(z[0].dtype) for x in dz), clipped
