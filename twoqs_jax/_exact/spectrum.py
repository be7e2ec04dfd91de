"""Liouvillian spectrum: the slowest relaxation rates of a :class:`SpinModel` (small sizes).

The eigenvalues ``lambda_k`` of ``L`` (``drho/dt = L rho``) have ``Re lambda_k <= 0``; the
steady state is ``lambda_0 = 0`` and the *Liouvillian gap* is
``-max{Re lambda_k : |lambda_k| > tol}``, the slowest decay rate towards the steady state
(it closes at a dissipative phase transition as S grows).
"""

import numpy as np
import scipy.linalg
import scipy.sparse.linalg as sla

from .._model.model import SpinModel
from .cost import DENSE_SPECTRUM_MAX, check_cost, estimate_exact_cost
from .operators import check_model, liouvillian


def liouvillian_gap(
    model: SpinModel,
    n_eigs: int = 6,
    *,
    dense: bool | None = None,
    sigma: complex | None = None,
    tol: float = 1e-9,
    max_memory: float | None = None,
) -> tuple[float, np.ndarray]:
    """The Liouvillian eigenvalues with the largest real parts and the spectral gap.

    Up to ``N = D^2 = 2500`` (or with ``dense=True``) all eigenvalues are computed densely
    (exact ordering by real part). Larger Liouvillians (or ``dense=False``) use
    ``scipy.sparse.linalg.eigs`` in shift-invert mode around the real shift ``sigma``
    (default: ``0.01 * max|L_ii|``, just right of the spectrum); it returns the ``n_eigs``
    eigenvalues *nearest* to ``sigma``, which are those with the largest real parts unless
    slow modes have large imaginary parts: check with a larger ``n_eigs``.

    Args:
        model: a concrete :class:`SpinModel`.
        n_eigs: number of eigenvalues returned (largest real parts first).
        dense: force the dense (``True``) or sparse (``False``) path; default by size.
        sigma: real shift for the sparse path.
        tol: ``|lambda| <= tol * max|L_ii|`` counts as a zero eigenvalue (stationary mode).
        max_memory: memory limit in bytes for the refusal check (default 8 GiB).

    Returns:
        ``(gap, eigenvalues)``: the gap (``nan`` if every returned eigenvalue is zero) and the
        ``(n_eigs,)`` complex eigenvalues sorted by decreasing real part.

    Examples:
        >>> import twoqs_jax as tq
        >>> gap, ev = tq.liouvillian_gap(tq.superradiance(0.5, Gamma=0.5))  # kappa = 1
        >>> round(gap, 12)  # coherences of a decaying spin-1/2 relax at kappa / 2
        0.5
    """
    check_model(model)
    n_eigs = int(n_eigs)
    if n_eigs < 1:
        raise ValueError(f"`n_eigs` must be >= 1, got {n_eigs}.")
    N = estimate_exact_cost(model, "liouvillian").liouville_dim
    if dense is None:
        dense = N <= DENSE_SPECTRUM_MAX
    dense = bool(dense) or n_eigs >= N - 1  # ARPACK needs n_eigs < N - 1
    check_cost(model, "spectrum", max_memory=max_memory, dense=dense)
    L = liouvillian(model, max_memory=max_memory).data.as_scipy().tocsc()
    scale = float(np.max(np.abs(L.diagonal()))) or float(np.max(np.abs(L.data)))
    if dense:
        ev = scipy.linalg.eigvals(L.toarray())
    else:
        s = 0.01 * scale if sigma is None else float(sigma)
        ev = sla.eigs(L, k=n_eigs, sigma=s, which="LM", return_eigenvectors=False)
    ev = ev[np.argsort(-ev.real, kind="stable")][:n_eigs]
    nonzero = ev[np.abs(ev) > tol * scale]
    gap = float(-np.max(nonzero.real)) if nonzero.size else float("nan")
    return gap, ev
