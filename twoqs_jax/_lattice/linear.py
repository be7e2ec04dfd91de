r"""Linearised (Holstein-Primakoff) theory of fluctuations around a fully polarised state.

Applies to any :class:`SpinModel` whose steady state is the classical state with every
spin fully polarised along ``-z`` (``sigma_i = -1``, loss sites) or ``+z`` (``sigma_i = +1``,
gain sites). Conventions: hbar = 1, standard Lindblad rates, ``S^pm = S_x pm i S_y``.

Derivation
----------
**Bosonisation.** On a site polarised down, ``S_z = -S + n``, ``S^+ = b^+ sqrt(2S - n)``,
``S^- = sqrt(2S - n) b``; on a site polarised up, ``S_z = S - n``, ``S^- = c^+ sqrt(2S - n)``,
``S^+ = sqrt(2S - n) c`` (``n`` the boson number). To leading order in ``1/S``, with the
quadratures ``x = (b + b^+)/sqrt(2)``, ``p = (b - b^+)/(i sqrt(2))`` (``[x, p] = i``),

    S_x = sqrt(S) x,   S_y = sigma sqrt(S) p,   S_z = sigma (S - n),   n = (x^2 + p^2 - 1)/2,
    S^+ = sqrt(S) (x + i sigma p),   S^- = sqrt(S) (x - i sigma p).

**Hamiltonian.** Let ``g_i = dH_cl/ds_i`` be the classical field on site ``i`` at the
polarised configuration ``s_i = (0, 0, sigma_i S_i)``, with
``H_cl = sum f.s + sum_e s_i^T J_e s_j`` (same-site edges symmetrised). The polarised state is
a fixed point only if the transverse fields ``g_i^x, g_i^y`` vanish (checked; a
:class:`ValueError` otherwise). Expanding ``H`` to second order in the quadratures:

- every term linear in ``S_i^z`` (fields and the ``z`` parts of bonds through the mean
  ``sigma_j S_j`` of the partner) gives ``g_i^z S_i^z -> -sigma_i g_i^z n_i``, i.e.
  ``-sigma_i g_i^z (x_i^2 + p_i^2)/2`` (constants dropped);
- every bond term with ``a, b in {x, y}`` gives ``J_e^{ab} sqrt(S_i S_j) u_i^a u_j^b`` with
  ``u^x = x``, ``u^y = sigma p`` (on a same site, symmetrised = Weyl ordered);
- ``z``-``z`` bond terms beyond the mean (``n_i n_j``) are quartic and dropped; cross
  ``x``-``z`` terms would be linear (excluded by the fixed-point check).

So ``H_2 = r^T M r / 2`` with ``r = (x_0, p_0, x_1, p_1, ...)`` and ``M`` real symmetric;
Heisenberg's equation gives ``dr/dt = Omega M r`` with ``Omega = oplus [[0, 1], [-1, 0]]``
(``[r_a, r_b] = i Omega_ab``).

**Dissipation.** Decay ``L = S^-`` (rate ``kappa_d``) is, on a down site, boson loss
``L = sqrt(2S) b`` at rate ``2 S kappa_d``; gain ``L = S^+`` is boson gain
``L = sqrt(2S) b^+`` at rate ``2 S kappa_g``. On an up site the roles swap (gain is loss of
``c``). A mode with loss ``gamma_l`` and gain ``gamma_g`` has
``d<r>/dt = -(gamma_l - gamma_g)/2 <r>`` and adds ``(gamma_l + gamma_g)/2`` to the diffusion of
``x`` and ``p``. Dephasing ``L = S_z`` is ``L = n`` (not quadratic): not supported here.
In general a jump that is linear in the quadratures, ``L = l^T r`` (``l`` complex) at rate
``kappa``, adds ``-kappa Omega Im(l l^+)`` to the drift (from
``d<r_a>/dt = kappa <L^+ [r_a, L] + [L^+, r_a] L> / 2`` and ``[r_a, r_b] = i Omega_ab``) and
``kappa Re(m m^+) = kappa Omega Re(l l^+) Omega^T`` to ``D``, with ``m = [r, L] = i Omega l``
(the noise a quadrature receives comes from the jump's coefficient of its conjugate; for
``L = sqrt(2S) b`` both are the loss above). Jumps enter through one registry,
:func:`linear_dissipator`, one registration per jump type.

**Gaussian steady state.** With the drift ``A = Omega M - diag((gamma_l - gamma_g)/2)``
and ``D = diag((gamma_l + gamma_g)/2)``, the symmetrised covariance
``C_ab = <{r_a, r_b}>/2`` obeys ``dC/dt = A C + C A^T + D``. The polarised state is
linearly stable iff every eigenvalue of ``A`` has negative real part; then the steady
state solves the Lyapunov equation ``A C + C A^T + D = 0`` (means zero).

**Observables** (to leading order; per site ``C^xx = C[x_i, x_i]`` etc.):

- ``<S_z> = sigma (S - <n>)``, ``<n> = (C^xx + C^pp - 1)/2``;
- ``Var S_x = S C^xx``, ``Var S_y = S C^pp``, ``<(S_x S_y + S_y S_x)/2> = sigma S C^xp``;
- ``Var S_z = Var n = (C^xx^2 + C^pp^2 + 2 C^xp^2 - 1/2)/2`` (Wick; thermal check
  ``nbar^2 + nbar``);
- ``<S_i^+ S_j^-> = sqrt(S_i S_j)(C^{xx}_{ij} + sigma_i sigma_j C^{pp}_{ij} - i sigma_j
  C^{xp}_{ij} + i sigma_i C^{px}_{ij}) + delta_ij sigma_i S_i``
  (``<x p> = C^xp + i/2`` on one site; a down site gives ``2S <b^+ b>``);
- ``<S_i^z S_j^z> = <S_i^z><S_j^z> + sigma_i sigma_j Cov(n_i, n_j)``,
  ``Cov(n_i, n_j) = (C^{xx}_{ij}{}^2 + C^{xp}_{ij}{}^2 + C^{px}_{ij}{}^2 + C^{pp}_{ij}{}^2)/2``
  for ``i != j``.

**Momentum space.** On a periodic ``Lx x Ly`` lattice (site ``x Ly + y``; a ring is
``(n, 1)``) whose ``A`` and ``D`` are invariant under translations by a rectangular cell
``(ux, uy)``, the blocks ``A(d)`` between cell 0 and cell ``d`` give
``A(k) = sum_d A(d) e^{i k.d}``, and per ``k``: ``A(k) C(k) + C(k) A(k)^+ + D_0 = 0``,
``C(d) = N_c^{-1} sum_k C(k) e^{-i k.d}``. Cost ``O(N_c (2u)^3)`` instead of ``O(N^3)``.

**Example (dissipative XY chain, paper 003 Eqs. 34-35, ``J_z = 0``).** With ``J~ = lam J/(2S)``
(``lam = 1`` printed, ``4`` fig7) and ``kappa = Gamma/S``, every bond gives
``(lam/2)(J_x x_i x_{i+1} + J_y p_i p_{i+1})`` and the loss rate is ``2 Gamma``; per ring
momentum ``k``: ``dx_k = (lam J_y cos k p_k - Gamma x_k) dt``,
``dp_k = (-lam J_x cos k x_k - Gamma p_k) dt``, eigenvalues
``-Gamma +- lam sqrt(-J_x J_y) |cos k|``: stable iff ``lam^2 J_x J_y > -Gamma^2`` (``k = 0, pi``),
i.e. ``J_x J_y > -Gamma^2`` as printed and ``> -Gamma^2/16`` with ``lam = 4`` (paper 003's quoted
edge and Fig. 7: ``J_y = -1/2`` at ``J_x = Gamma/8``).
"""

import functools
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike

from .._checks import check_int
from .._model.jumps import AbstractJump, Decay, Dephasing, Gain
from .._model.model import SpinModel
from .._solution import Solution

_OMEGA1 = np.array([[0.0, 1.0], [-1.0, 0.0]])


@functools.singledispatch
def linear_dissipator(jump: AbstractJump, spin, sigma):
    """``(drift, diffusion)``: ``(n, 2, 2)`` per-site blocks that one jump Module adds to
    ``A`` and ``D`` of the linearised theory (``spin``, ``sigma``: ``(n,)`` numpy; blocks in
    the quadratures ``(x_i, p_i)``). Register every jump type once; raise ``ValueError`` for
    a jump that is not quadratic in the Holstein-Primakoff bosons.
    """
    raise ValueError(
        f"the linearised (Holstein-Primakoff) theory does not support the jump "
        f"{type(jump).__name__} (no registration in "
        "twoqs_jax._lattice.linear.linear_dissipator)."
    )


def _loss_gain_blocks(loss, gain):
    """Blocks of a mode with boson loss ``loss`` and gain ``gain`` (rates ``(n,)``)."""
    eye = np.eye(2)
    drift = -((loss - gain) / 2)[:, None, None] * eye
    diffusion = ((loss + gain) / 2)[:, None, None] * eye
    return drift, diffusion


@linear_dissipator.register
def _(jump: Decay, spin, sigma):
    rate = 2 * spin * np.asarray(jump.rate, dtype=np.float64)
    down = sigma < 0  # S^- lowers a down site's boson, raises an up site's one
    return _loss_gain_blocks(np.where(down, rate, 0.0), np.where(down, 0.0, rate))


@linear_dissipator.register
def _(jump: Gain, spin, sigma):
    rate = 2 * spin * np.asarray(jump.rate, dtype=np.float64)
    down = sigma < 0
    return _loss_gain_blocks(np.where(down, 0.0, rate), np.where(down, rate, 0.0))


@linear_dissipator.register
def _(jump: Dephasing, spin, sigma):
    deph = np.asarray(jump.rate, dtype=np.float64)
    if np.any(deph > 0):
        raise ValueError(
            "`model` has dephasing > 0: L = S_z is not quadratic in the Holstein-Primakoff "
            f"bosons; the linearised theory does not cover it (dephasing={deph.tolist()[:4]}...)."
        )
    zeros = np.zeros((spin.shape[0], 2, 2))
    return zeros, zeros


def linear_jump_blocks(l_vectors, rate):
    """Blocks ``(-rate Omega Im(l l^+), rate Omega Re(l l^+) Omega^T)`` of jumps
    ``L_i = l_i^T r_i`` (``l_vectors``: ``(n, 2)`` complex, ``rate``: ``(n,)``), see the
    module docstring.
    """
    outer = np.einsum("ia,ib->iab", l_vectors, np.conj(l_vectors))
    drift = -rate[:, None, None] * np.einsum("ab,ibc->iac", _OMEGA1, np.imag(outer))
    diffusion = np.einsum("ab,ibc,dc->iad", _OMEGA1, np.real(outer), _OMEGA1)
    return drift, rate[:, None, None] * diffusion


def _polarization(model: SpinModel, polarization) -> np.ndarray:
    n = model.n_sites
    if polarization is None:
        sig = np.where(np.asarray(model.gain) > np.asarray(model.decay), 1.0, -1.0)
        return sig.astype(float)
    if isinstance(polarization, str):
        if polarization not in ("down", "up"):
            raise ValueError(
                f"`polarization` must be 'down', 'up', None or an array of +-1, got {polarization!r}."
            )
        return np.full(n, -1.0 if polarization == "down" else 1.0)
    sig = np.broadcast_to(np.asarray(polarization, dtype=float), (n,)).copy()
    if not np.all(np.isin(sig, (-1.0, 1.0))):
        raise ValueError(
            f"`polarization` entries must be -1 (down) or +1 (up), got {sig.tolist()}."
        )
    return sig


class LinearizedModel(eqx.Module):
    """Quadratic bosonic theory of a :class:`SpinModel` around a polarised state.

    Attributes:
        spin: ``(n,)`` spin lengths.
        sigma: ``(n,)`` polarisations (-1 down, +1 up).
        hamiltonian: ``(2n, 2n)`` symmetric ``M`` of ``H_2 = r^T M r / 2``,
            ``r = (x_0, p_0, x_1, p_1, ...)``.
        drift: ``(2n, 2n)`` ``A`` of ``dr/dt = A r``.
        diffusion: ``(2n, 2n)`` diagonal ``D`` of ``dC/dt = A C + C A^T + D``.
    """

    spin: np.ndarray
    sigma: np.ndarray
    hamiltonian: np.ndarray
    drift: np.ndarray
    diffusion: np.ndarray

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return int(self.spin.shape[0])

    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of the drift matrix ``A`` (``(2n,)`` complex)."""
        return np.linalg.eigvals(self.drift)

    def growth_rate(self) -> float:
        """``max Re eig(A)``: negative iff the polarised state is linearly stable."""
        return float(np.max(np.real(self.eigenvalues())))


def linearize(
    model: SpinModel, polarization: str | ArrayLike | None = None, *, atol: float = 1e-9
) -> LinearizedModel:
    """Holstein-Primakoff linearisation of ``model`` around a polarised state.

    Args:
        model: a concrete (not batched) :class:`SpinModel` without dephasing.
        polarization: ``None`` (default: up where ``gain > decay``, else down), "down", "up",
            or an ``(n,)`` array of ``-1``/``+1``.
        atol: tolerance on the transverse classical field ``|g_i^{x,y}|`` (relative to the
            largest field scale) for the polarised state to be a fixed point.

    Returns:
        :class:`LinearizedModel` (the derivation is in the module docstring).

    Examples:
        >>> import twoqs_jax as tq
        >>> lin = tq.linearize(tq.heisenberg_chain(10, 100, Jx=0.125, Jy=-0.3, convention="fig7"))
        >>> lin.growth_rate() < 0
        True
    """
    if not isinstance(model, SpinModel):
        raise ValueError(f"`model` must be a twoqs_jax.SpinModel, got {type(model).__name__}.")
    if model.spin.ndim != 1:
        raise ValueError(
            f"`model` must be a single model, got a batch (spin shape {model.spin.shape}); "
            "linearise each parameter point separately."
        )
    spin = np.asarray(model.spin, dtype=np.float64)
    n = spin.shape[0]
    sig = _polarization(model, polarization)
    jump_drift, jump_diffusion = np.zeros((n, 2, 2)), np.zeros((n, 2, 2))
    for jump in model.jumps:
        dr, di = linear_dissipator(jump, spin, sig)
        jump_drift, jump_diffusion = jump_drift + dr, jump_diffusion + di
    field = np.asarray(model.field, dtype=np.float64)
    edges = np.asarray(model.edges)
    J = np.asarray(model.symmetric_coupling, dtype=np.float64).reshape(-1, 3, 3)
    s_cl = np.zeros((n, 3))
    s_cl[:, 2] = sig * spin
    g = field.copy()
    if edges.shape[0]:
        i, j = edges[:, 0], edges[:, 1]
        np.add.at(g, i, np.einsum("eab,eb->ea", J, s_cl[j]))
        np.add.at(g, j, np.einsum("eab,ea->eb", J, s_cl[i]))
    scale = 1.0 + float(np.max(np.abs(g))) if g.size else 1.0
    gt = np.max(np.abs(g[:, :2])) if n else 0.0
    if gt > atol * scale:
        site = int(np.argmax(np.max(np.abs(g[:, :2]), axis=1)))
        raise ValueError(
            "the polarised state is not a fixed point of `model`: transverse classical field "
            f"{g[site, :2].tolist()} on site {site} (polarization {sig[site]:+.0f}); the "
            "linearised theory needs zero transverse fields and no x-z / y-z couplings to the "
            "polarised partners."
        )
    M = np.zeros((2 * n, 2 * n))
    idx = np.arange(n)
    M[2 * idx, 2 * idx] += -sig * g[:, 2]
    M[2 * idx + 1, 2 * idx + 1] += -sig * g[:, 2]
    for e in range(edges.shape[0]):
        a, b = int(edges[e, 0]), int(edges[e, 1])
        Ea = np.zeros((2 * n, 2))
        Eb = np.zeros((2 * n, 2))
        Ea[2 * a, 0], Ea[2 * a + 1, 1] = 1.0, sig[a]
        Eb[2 * b, 0], Eb[2 * b + 1, 1] = 1.0, sig[b]
        blk = np.sqrt(spin[a] * spin[b]) * Ea @ J[e, :2, :2] @ Eb.T
        M += blk + blk.T
    Omega = np.kron(np.eye(n), _OMEGA1)
    A = Omega @ M + scipy.linalg.block_diag(*jump_drift)
    D = scipy.linalg.block_diag(*jump_diffusion)
    return LinearizedModel(spin, sig, M, A, D)


def linear_growth_rate(model: SpinModel, polarization: str | ArrayLike | None = None) -> float:
    """``max Re eig(A)`` of the linearised drift (negative: the polarised state is stable)."""
    return linearize(model, polarization).growth_rate()


def _lattice_blocks(lin: LinearizedModel, lattice, cell):
    """Reorder coordinates by (cell_x, cell_y, site in cell) and check translation invariance."""
    lx, ly = (check_int("lattice[0]", lattice[0], 1), check_int("lattice[1]", lattice[1], 1))
    ux, uy = (check_int("cell[0]", cell[0], 1), check_int("cell[1]", cell[1], 1))
    n = lin.n_sites
    if lx * ly != n or lx % ux or ly % uy:
        raise ValueError(
            f"`lattice`={tuple(lattice)} and `cell`={tuple(cell)} must tile the {n} sites "
            "(lx*ly = n, ux | lx, uy | ly)."
        )
    cx, cy, u = lx // ux, ly // uy, ux * uy
    X, Y = np.meshgrid(np.arange(lx), np.arange(ly), indexing="ij")
    site = X * ly + Y  # (lx, ly)
    # order: cell (X // ux, Y // uy), then position inside the cell
    order = site.reshape(cx, ux, cy, uy).transpose(0, 2, 1, 3).reshape(-1)
    coord = np.stack([2 * order, 2 * order + 1], axis=1).reshape(-1)
    A = lin.drift[np.ix_(coord, coord)].reshape(cx, cy, 2 * u, cx, cy, 2 * u)
    D = lin.diffusion[np.ix_(coord, coord)].reshape(cx, cy, 2 * u, cx, cy, 2 * u)
    Ad = A[0, 0].transpose(1, 2, 0, 3)  # (cx, cy, 2u, 2u): block cell 0 -> cell d
    Dd = D[0, 0].transpose(1, 2, 0, 3)
    for mx in range(cx):
        for my in range(cy):
            blk_a = np.roll(np.roll(Ad, mx, axis=0), my, axis=1)
            blk_d = np.roll(np.roll(Dd, mx, axis=0), my, axis=1)
            if not (
                np.allclose(A[mx, my].transpose(1, 2, 0, 3), blk_a, atol=1e-12, rtol=0)
                and np.allclose(D[mx, my].transpose(1, 2, 0, 3), blk_d, atol=1e-12, rtol=0)
            ):
                raise ValueError(
                    f"`model` is not invariant under translations by the cell {tuple(cell)} of the "
                    f"periodic lattice {tuple(lattice)}: use momentum=False (real space)."
                )
    return Ad, Dd, coord, (cx, cy, u)


def momentum_drift_eigenvalues(lin: LinearizedModel, lattice, cell=(1, 1)) -> np.ndarray:
    """Eigenvalues of ``A(k)`` for every lattice momentum, ``(cx, cy, 2u)`` complex."""
    Ad, _, _, (cx, cy, _) = _lattice_blocks(lin, lattice, cell)
    Ak = np.fft.ifft2(Ad, axes=(0, 1)) * (cx * cy)
    return np.linalg.eigvals(Ak)


def _covariance_momentum(lin, lattice, cell):
    Ad, Dd, coord, (cx, cy, u) = _lattice_blocks(lin, lattice, cell)
    Ak = np.fft.ifft2(Ad, axes=(0, 1)) * (cx * cy)
    D0 = Dd[0, 0]
    Ck = np.empty_like(Ak)
    for mx in range(cx):
        for my in range(cy):
            Ck[mx, my] = scipy.linalg.solve_continuous_lyapunov(Ak[mx, my], -D0)
    Cd = np.real(np.fft.fft2(Ck, axes=(0, 1))) / (cx * cy)  # C(d): cell 0 -> cell d
    # assemble the full covariance C[c, c'] = C(c' - c) in the reordered basis, then undo it
    ix = (np.arange(cx)[None, :] - np.arange(cx)[:, None]) % cx
    iy = (np.arange(cy)[None, :] - np.arange(cy)[:, None]) % cy
    full = Cd[ix[:, None, :, None], iy[None, :, None, :]]  # (cx, cy, cx, cy, 2u, 2u)
    full = full.transpose(0, 1, 4, 2, 3, 5).reshape(2 * lin.n_sites, 2 * lin.n_sites)
    C = np.empty_like(full)
    C[np.ix_(coord, coord)] = full
    return C


def linear_covariance(lin: LinearizedModel, *, lattice=None, cell=(1, 1)) -> np.ndarray:
    """Steady-state symmetrised covariance ``C`` (``(2n, 2n)``) of the quadratures.

    Solves ``A C + C A^T + D = 0`` in real space (``lattice=None``) or per momentum on a
    periodic ``lattice=(lx, ly)`` with translation cell ``cell`` (module docstring).

    Raises:
        ValueError: if the polarised state is linearly unstable (no steady state).
    """
    rate = lin.growth_rate()
    if rate >= 0:
        raise ValueError(
            f"the polarised state is linearly unstable (max Re eig(A) = {rate:.6g} >= 0): "
            "the linearised theory has no steady state."
        )
    if lattice is None:
        C = scipy.linalg.solve_continuous_lyapunov(lin.drift, -lin.diffusion)
    else:
        C = _covariance_momentum(lin, lattice, cell)
    return 0.5 * (C + C.T)


LINEAR_PRIMITIVES = ("Sx", "Sy", "Sz", "Sx2", "Sy2", "Sz2", "SxSy", "SxSz", "SySz", "SpSm", "SzSz")


def primitives_from_covariance(lin: LinearizedModel, C: np.ndarray) -> dict:
    """Primitive moments (``Sz``, ``Sx2``, ``SpSm``, ...) from the covariance (formulas in the
    module docstring).
    """
    S, sig = lin.spin, lin.sigma
    cxx_m = C[0::2, 0::2]
    cpp_m = C[1::2, 1::2]
    cxp_m = C[0::2, 1::2]  # [i, j] = C[x_i, p_j]
    cxx, cpp, cxp = np.diag(cxx_m), np.diag(cpp_m), np.diag(cxp_m)
    nbar = (cxx + cpp - 1) / 2
    varn = (cxx**2 + cpp**2 + 2 * cxp**2 - 0.5) / 2
    sz = sig * (S - nbar)
    zeros = np.zeros_like(S)
    out = {
        "Sx": zeros,
        "Sy": zeros,
        "Sz": sz,
        "Sx2": S * cxx,
        "Sy2": S * cpp,
        "Sz2": sz**2 + varn,
        "SxSy": sig * S * cxp,
        "SxSz": zeros,
        "SySz": zeros,
    }
    rs = np.sqrt(np.outer(S, S))
    spsm = rs * (
        cxx_m + np.outer(sig, sig) * cpp_m - 1j * sig[None, :] * cxp_m + 1j * sig[:, None] * cxp_m.T
    )
    spsm[np.diag_indices_from(spsm)] += sig * S
    out["SpSm"] = spsm
    covn = 0.5 * (cxx_m**2 + cxp_m**2 + cxp_m.T**2 + cpp_m**2)
    covn[np.diag_indices_from(covn)] = varn
    out["SzSz"] = np.outer(sz, sz) + np.outer(sig, sig) * covn
    return out


def observables_from_covariance(lin: LinearizedModel, C: np.ndarray, names=None) -> dict:
    """Observables of the registry (:mod:`twoqs_jax._observables`) from the covariance
    (default: single-site moments, variances, ``xi2``, and ``SpSm``, ``SzSz``).
    """
    from .._observables import evaluate, resolve

    if names is None:
        names = "Sx Sy Sz Sx2 Sy2 Sz2 SxSy SxSz SySz varx vary varz xi2 SpSm SzSz".split()
    observables = resolve(names, lin.n_sites, "linearised", LINEAR_PRIMITIVES)
    return evaluate(observables, primitives_from_covariance(lin, C), lin.spin)


def linear_steady_state(
    model: SpinModel,
    polarization: str | ArrayLike | None = None,
    *,
    observables: str | Sequence[Any] | None = None,
    lattice: tuple[int, int] | None = None,
    cell: tuple[int, int] = (1, 1),
) -> Solution:
    r"""Steady state of the linearised (Holstein-Primakoff) theory as a :class:`Solution`.

    Leading order in ``1/S`` around the fully polarised state (module docstring): the
    Gaussian steady state of ``A C + C A^T + D = 0`` and the shared observables from it.

    Args:
        model: concrete :class:`SpinModel` (no dephasing, zero transverse classical field).
        polarization: see :func:`linearize`.
        observables: names or :class:`Observable` objects of the registry (default: all
            single-site ones, ``SpSm``, ``SzSz``, ``xi2``).
        lattice: ``(lx, ly)`` of a periodic lattice (site ``x ly + y``; a ring is
            ``(n, 1)``) to solve per momentum; ``None``: real space (any graph).
        cell: translation cell ``(ux, uy)`` (e.g. ``(2, 1)`` for alternating gain/loss on a
            ring, ``(2, 2)`` for a checkerboard).

    Returns:
        ``Solution(method="linear", times=None)``; ``stats`` holds the ``growth_rate``.

    Raises:
        ValueError: bad input, or the polarised state is linearly unstable.

    Examples:
        >>> import twoqs_jax as tq
        >>> m = tq.heisenberg_chain(100, 5000, Jx=0.125, Jy=-0.3, convention="fig7")
        >>> sol = tq.linear_steady_state(m, lattice=(100, 1))
        >>> float(sol["Sz"][0] / 5000) < -0.99
        True
    """
    lin = linearize(model, polarization)
    C = linear_covariance(lin, lattice=lattice, cell=cell)
    mean = observables_from_covariance(lin, C, observables)
    from .._observables import dims_of, resolve

    names = observables if observables is not None else tuple(mean)
    dims = {
        o.name: dims_of(o, ()) for o in resolve(names, lin.n_sites, "linearised", LINEAR_PRIMITIVES)
    }
    stats = {
        "growth_rate": lin.growth_rate(),
        "polarization": lin.sigma.tolist(),
        "momentum_space": lattice is not None,
    }
    return Solution(method="linear", times=None, mean=mean, sem={}, stats=stats, dims=dims)
