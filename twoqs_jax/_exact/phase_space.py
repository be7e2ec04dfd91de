"""Spin Wigner and Husimi functions of one spin's density matrix on a (theta, phi) grid.

Both are ``F(theta, phi) = Tr[rho R(theta, phi) K R(theta, phi)^+]`` with the rotation
``R = exp(-i phi S_z) exp(-i theta S_y)`` (Bloch convention: theta from +z, phi from +x) and
a kernel ``K`` diagonal in ``m``:

- Husimi: ``K = |S, S><S, S|``, so ``Q(theta, phi) = <theta, phi| rho |theta, phi>``.
- Wigner (Stratonovich-Weyl kernel of Agarwal 1981, as in Tilma et al. PRL 117, 180401 (2016),
  used by paper 000 Fig. 4): ``K = sum_{k=0}^{2S} sqrt((2k+1)/(2S+1)) T_k0``, i.e.
  ``W = sqrt(4 pi/(2S+1)) sum_kq rho_kq Y_kq(theta, phi)`` with ``rho_kq = Tr(rho T_kq^+)``.
  ``T_k0`` are the orthonormal diagonal multipole operators, polynomials of degree ``k`` in
  ``m`` with positive leading coefficient (``T_10`` proportional to ``+S_z``), computed here by
  a Lanczos (Stieltjes) recurrence on the ladder ``m = S, ..., -S``, stable for any ``S``.

Normalisation, for both: ``(2S+1)/(4 pi) int F sin(theta) dtheta dphi = 1``. Exact identities
(tested): ``<S_a> = (2S+1)/(4 pi) int W sqrt(S(S+1)) n_a dOmega`` and
``<S_a> = (2S+1)/(4 pi) int Q (S+1) n_a dOmega`` with ``n = (sin th cos ph, sin th sin ph,
cos th)``; ``Tr(rho1 rho2) = (2S+1)/(4 pi) int W1 W2 dOmega``.

QuTiP's ``spin_wigner`` is Agarwal's ``W`` without the factor ``sqrt(4 pi/(2S+1))`` and returns
arrays indexed ``[phi, theta]``; here results are indexed ``[theta, phi]``.
"""

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .._optional import require
from .operators import spin_coherent_ket

if TYPE_CHECKING:
    import qutip
else:  # imported on first use of the exact references: an optional dependency
    qutip = require("qutip", "exact references (tq.Exact, tq.exact)")


def _density_matrix(rho) -> np.ndarray:
    if isinstance(rho, qutip.Qobj):
        if rho.isket or rho.isbra:
            rho = rho.proj()
        if len(rho.dims[0]) != 1:
            raise ValueError(
                f"`rho` must be the state of ONE spin (use reduced_state(model, rho, site)); "
                f"got a state with subsystem dims {rho.dims[0]}."
            )
        rho = rho.full()
    rho = np.asarray(rho, dtype=complex)
    if rho.ndim != 2 or rho.shape[0] != rho.shape[1]:
        raise ValueError(f"`rho` must be a square density matrix, got shape {rho.shape}.")
    return rho


def _grid(theta, phi):
    theta = np.atleast_1d(np.asarray(theta, dtype=float))
    phi = np.atleast_1d(np.asarray(phi, dtype=float))
    for name, v in (("theta", theta), ("phi", phi)):
        if v.ndim != 1:
            raise ValueError(f"`{name}` must be a 1-D array of angles, got shape {v.shape}.")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"`{name}` must be finite, got {v.tolist()[:8]}.")
    return theta, phi


def multipole_diagonal(S: float) -> np.ndarray:
    """``(2S+1, 2S+1)`` array ``p[k, idx]``: diagonal of ``T_k0`` at ``m = S - idx``.

    Orthonormal polynomials in ``m`` on ``m = S, S-1, ..., -S`` (uniform weight), degree
    ``k``, positive leading coefficient; ``T_00 = 1 / sqrt(2S+1)``.
    """
    d = int(round(2 * S)) + 1
    m = S - np.arange(d)
    p = np.zeros((d, d))
    p[0] = 1.0 / np.sqrt(d)
    for k in range(1, d):
        v = m * p[k - 1]
        # full re-orthogonalisation (twice) keeps the recurrence stable at large k
        for _ in range(2):
            v = v - p[:k].T @ (p[:k] @ v)
        p[k] = v / np.linalg.norm(v)
    return p


def wigner_kernel_diagonal(S: float) -> np.ndarray:
    """Diagonal ``Delta_m`` (``m = S, ..., -S``) of the Stratonovich-Weyl kernel at the pole."""
    d = int(round(2 * S)) + 1
    k = np.arange(d)
    return np.sqrt((2 * k + 1) / d) @ multipole_diagonal(S)


def _transform(rho: np.ndarray, theta: np.ndarray, phi: np.ndarray, rotated_kernel) -> np.ndarray:
    """``F[i, l] = sum_ab rho_ab M_ab(theta_i) e^{i phi_l (m_a - m_b)}``.

    ``M(theta) = d(theta) K d(theta)^T`` with the real rotation ``d = exp(-i theta S_y)``;
    ``rotated_kernel(theta)`` returns ``M`` with shape ``(T, d, d)``. Grouping by the
    difference ``m_a - m_b = b - a`` costs ``O(T d^2 + T P d)``.
    """
    d = rho.shape[0]
    M = rotated_kernel(theta)  # (T, d, d)
    G = rho[None] * M
    offsets = np.arange(-(d - 1), d)
    F = np.stack([np.trace(G, offset=o, axis1=1, axis2=2) for o in offsets], axis=-1)  # (T, 2d-1)
    phase = np.exp(1j * np.outer(offsets, phi))  # (2d-1, P)
    return np.real(F @ phase)


def spin_wigner(rho: Any, theta: ArrayLike, phi: ArrayLike) -> np.ndarray:
    """Spin Wigner function (Agarwal / Stratonovich-Weyl) of one spin's state.

    ``W(theta, phi) = Tr[rho Delta(theta, phi)]`` with the kernel described in the module
    docstring; real, bounded, with negative regions for non-classical states.

    Args:
        rho: ``Qobj`` ket or density matrix of one spin (dimension ``2S+1``, ``jmat`` basis
            ``m = S, ..., -S``), e.g. ``reduced_state(model, rho, site)``; or a numpy array.
        theta: ``(T,)`` polar angles from +z.
        phi: ``(P,)`` azimuthal angles from +x.

    Returns:
        ``(T, P)`` array ``W[i, l] = W(theta[i], phi[l])``, normalised so that
        ``(2S+1)/(4 pi) int W sin(theta) dtheta dphi = 1``.

    Examples:
        >>> import numpy as np, qutip
        >>> W = spin_wigner(qutip.spin_coherent(3, 0.0, 0.0), np.linspace(0, np.pi, 5), [0.0])
        >>> int(np.argmax(W[:, 0]))  # peaked at the north pole
        0
    """
    rho = _density_matrix(rho)
    theta, phi = _grid(theta, phi)
    d = rho.shape[0]
    S = (d - 1) / 2
    delta = wigner_kernel_diagonal(S)
    sy = qutip.jmat(S, "y").full()
    lam, V = np.linalg.eigh(sy)

    def kernel(th):
        # d(theta) = exp(-i theta S_y), real orthogonal for the jmat basis
        rot = np.einsum("ak,tk,bk->tab", V, np.exp(-1j * np.outer(th, lam)), V.conj()).real
        return np.einsum("tam,m,tbm->tab", rot, delta, rot)

    return _transform(rho, theta, phi, kernel)


def spin_husimi(rho: Any, theta: ArrayLike, phi: ArrayLike) -> np.ndarray:
    """Spin Husimi function ``Q(theta, phi) = <theta, phi| rho |theta, phi>`` of one spin.

    ``|theta, phi>`` is the spin coherent state in the Bloch convention
    (``<S> = S (sin th cos ph, sin th sin ph, cos th)``, QuTiP's ``spin_coherent``).

    Args:
        rho: ``Qobj`` ket or density matrix of one spin (or a numpy array).
        theta: ``(T,)`` polar angles from +z.
        phi: ``(P,)`` azimuthal angles from +x.

    Returns:
        ``(T, P)`` array in ``[0, 1]``, normalised so that
        ``(2S+1)/(4 pi) int Q sin(theta) dtheta dphi = 1``.
    """
    rho = _density_matrix(rho)
    theta, phi = _grid(theta, phi)
    S = (rho.shape[0] - 1) / 2

    def kernel(th):
        amp = np.stack([spin_coherent_ket(S, t, 0.0).real for t in th])  # (T, d), real at phi=0
        return amp[:, :, None] * amp[:, None, :]

    return _transform(rho, theta, phi, kernel)
