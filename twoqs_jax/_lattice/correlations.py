r"""Correlation functions on rings and square lattices, correlation lengths, chain edges.

``C(s) = <S_n^+ S_{n+s}^-> / <S_n^+ S_n^->`` (paper 003 Fig. 7b), averaged over the sites
``n`` of a translation-invariant ring (or over the sites of a periodic square lattice at
displacement ``(dx, dy)``). Two sources:

- a :class:`Solution` with the ``(n, n)`` matrix ``SpSm`` (TWOQS, exact, linearised theory):
  :func:`correlation_function` averages its diagonals;
- TWOQS with the per-trajectory, translation-averaged estimator of
  :func:`translation_averaged_functions` (phase-space functions passed in ``observables`` of
  :func:`twoqs_jax.solve`): the site average is taken inside every trajectory, so the
  standard errors are right, and the cost is ``O(n log n)`` per sample instead of the
  ``O(n^2)`` of ``SpSm``.

Wigner symbols (DESIGN.md): ``S^+ -> s = conj(alpha) beta``; for ``s != 0`` sites differ and
``<S_n^+ S_m^-> -> s_n conj(s_m)``; on one site ``S^+ S^- = S_x^2 + S_y^2 + S_z`` whose symbol is
``|s|^2 - 1/4 + s_z`` (two ``-1/8`` ordering corrections).
"""

import numpy as np
from numpy.typing import ArrayLike

from .._checks import check_int
from .._solution import Solution


def _fft_correlation(alpha, beta, shape):
    import jax.numpy as jnp

    sp = jnp.conj(alpha) * beta
    sz = 0.5 * (jnp.abs(alpha) ** 2 - jnp.abs(beta) ** 2)
    grid = sp.reshape(shape)
    f = jnp.fft.fftn(grid)
    # G(d) = (1/n) sum_x s_x conj(s_{x+d}) (cross-site symbol products)
    g = jnp.fft.ifftn(jnp.conj(f) * f).conj() / sp.shape[0]
    # the d = 0 term needs the same-site ordering correction: |s|^2 -> |s|^2 - 1/4 + s_z
    g0 = jnp.mean(jnp.abs(sp) ** 2 - 0.25 + sz)
    g = g.reshape(-1).at[0].set(g0)
    return g


def translation_averaged_functions(lattice, part="real") -> tuple:
    """Per-trajectory phase-space functions for ``tq.solve(..., observables=...)`` (TWOQS).

    Args:
        lattice: ``n`` (a ring) or ``(lx, ly)`` (periodic square lattice, site ``x ly + y``).
        part: "real" (default) or "both" (adds the imaginary part).

    Returns:
        ``(PhaseSpaceFunction("G_re", f),)`` (and ``"G_im"``) with ``f(alpha, beta)`` the
        flattened ``G(d) = n^{-1} sum_x <S_x^+ S_{x+d}^->`` symbol over displacements ``d``
        (``(lx * ly,)``, index ``dx * ly + dy``). Pass the solution to
        :func:`correlation_function`.

    Examples:
        >>> obs = ("Sz",) + tq.lattice.translation_averaged_functions(100)  # doctest: +SKIP
    """
    shape = (
        (check_int("lattice", lattice, 1),)
        if np.ndim(lattice) == 0
        else tuple(check_int("lattice", v, 1) for v in lattice)
    )
    if part not in ("real", "both"):
        raise ValueError(f"`part` must be 'real' or 'both', got {part!r}.")
    import jax.numpy as jnp

    from .._observables import PhaseSpaceFunction

    out = (PhaseSpaceFunction("G_re", lambda a, b: jnp.real(_fft_correlation(a, b, shape))),)
    if part == "both":
        out += (PhaseSpaceFunction("G_im", lambda a, b: jnp.imag(_fft_correlation(a, b, shape))),)
    return out


def _diag_average(m: np.ndarray, shape) -> np.ndarray:
    """``G(d) = n^{-1} sum_x m[x, x + d]`` on a periodic lattice of ``shape`` (flattened d)."""
    n = m.shape[-1]
    coords = np.stack(np.unravel_index(np.arange(n), shape), axis=1)  # (n, dim)
    g = np.zeros(m.shape[:-2] + (n,), dtype=m.dtype)
    for flat in range(n):
        d = np.asarray(np.unravel_index(flat, shape))
        tgt = np.ravel_multi_index(tuple(((coords + d) % np.asarray(shape)).T), shape)
        g[..., flat] = np.mean(m[..., np.arange(n), tgt], axis=-1)
    return g


def correlation_function(
    sol: Solution, lattice: int | tuple[int, int] | None = None, *, site: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``C(d) = <S_x^+ S_{x+d}^-> / <S_x^+ S_x^->`` averaged over sites, with its error.

    Args:
        sol: a :class:`Solution` holding ``SpSm`` (``(..., n, n)``) or the ``G_re``
            estimator of :func:`translation_averaged_functions` (preferred for TWOQS: the
            site average is taken per trajectory).
        lattice: ``None`` (a ring of ``n`` sites), ``n`` or ``(lx, ly)``.
        site: if given, no translation average: ``C(s) = SpSm[site, site+s] / SpSm[site, site]``.

    Returns:
        ``(C, err)``: real parts, shape ``(..., n)`` over displacements (flattened ``dx ly + dy``
        on a lattice). ``err`` propagates the standard errors of numerator and denominator in
        quadrature (zeros for deterministic methods); for ``SpSm`` input the site-averaged
        error is the mean of the per-element errors (an upper bound for the average).
    """
    if "G_re" in sol.mean:
        g = np.asarray(sol.mean["G_re"], dtype=float)
        ge = np.asarray(sol.error("G_re"), dtype=float)
    elif "SpSm" in sol.mean:
        m = np.real(np.asarray(sol.mean["SpSm"]))
        me = np.real(np.asarray(sol.error("SpSm")))
        n = m.shape[-1]
        shape = (
            (n,) if lattice is None else ((lattice,) if np.ndim(lattice) == 0 else tuple(lattice))
        )
        if int(np.prod(shape)) != n:
            raise ValueError(f"`lattice`={lattice!r} does not have the solution's {n} sites.")
        if site is not None:
            if len(shape) > 1:
                raise ValueError(
                    f"`site`={site!r} selects displacements along a ring; it cannot be combined "
                    f"with the 2D `lattice`={lattice!r} (use the translation average instead)."
                )
            site = check_int("site", site, 0)
            tgt = (site + np.arange(n)) % n
            g, ge = m[..., site, tgt], me[..., site, tgt]
        else:
            g, ge = _diag_average(m, shape), _diag_average(me, shape)
    else:
        raise ValueError(
            f"`sol` must hold 'SpSm' or 'G_re' (translation_averaged_functions), got {sorted(sol.mean)}."
        )
    g0, e0 = g[..., :1], ge[..., :1]
    c = g / g0
    err = np.abs(c) * np.sqrt((ge / np.where(g == 0, 1, g)) ** 2 + (e0 / g0) ** 2)
    return c, err


def correlation_length(
    C: ArrayLike,
    s_max: int | None = None,
    *,
    err: ArrayLike | None = None,
    even: bool = True,
    s_min: int = 1,
) -> tuple[float, float]:
    r"""Correlation length ``xi`` from a fit of ``C(s) = exp(-|s|/xi)`` (paper 003 Fig. 7c).

    Weighted least squares of ``log C(s) = -s / xi`` (through the origin, since ``C(0) = 1``)
    over ``s_min <= s <= s_max`` (even ``s`` only if ``even``), using points with
    ``C(s) > 0`` (and ``C(s) > 2 err`` when errors are given).

    Args:
        C: ``(n,)`` correlation function over ``s = 0 .. n-1`` of a ring.
        s_max: largest distance in the fit (default ``n // 4``).
        err: ``(n,)`` standard errors of ``C`` (weights ``(C/err)^2``); without them the fit is
            unweighted and the error comes from the residuals.
        even: use even ``s`` only (odd ``s`` vanish for ``J_x J_y < 0`` chains).
        s_min: smallest distance in the fit.

    Returns:
        ``(xi, xi_err)``; ``nan`` if fewer than one usable point (two without ``err``).
    """
    C = np.asarray(C, dtype=float)
    if C.ndim != 1:
        raise ValueError(f"`C` must be one-dimensional, got shape {C.shape}.")
    n = C.shape[0]
    s_max = n // 4 if s_max is None else check_int("s_max", s_max, 1)
    s_min = check_int("s_min", s_min, 1)
    s = np.arange(n)
    use = (s >= s_min) & (s <= s_max) & (C > 0)
    if even:
        use &= s % 2 == 0
    if err is not None:
        err = np.asarray(err, dtype=float)
        if err.shape != C.shape:
            raise ValueError(f"`err` must have the shape of `C` {C.shape}, got {err.shape}.")
        use &= C > 2 * err
    s, y = s[use].astype(float), np.log(C[use])
    if s.size == 0 or (err is None and s.size < 2):
        return float("nan"), float("nan")
    if err is not None:
        w = (C[use] / np.maximum(err[use], 1e-300)) ** 2
        slope = np.sum(w * s * y) / np.sum(w * s * s)
        slope_err = 1.0 / np.sqrt(np.sum(w * s * s))
    else:
        slope = np.sum(s * y) / np.sum(s * s)
        resid = y - slope * s
        slope_err = np.sqrt(np.sum(resid**2) / (s.size - 1) / np.sum(s * s))
    if slope >= 0:
        return float("inf"), float("nan")
    return float(-1.0 / slope), float(slope_err / slope**2)


def _scale(convention):
    if convention not in ("printed", "fig7"):
        raise ValueError(f"`convention` must be 'printed' or 'fig7', got {convention!r}.")
    return 1.0 if convention == "printed" else 4.0


def xyz_chain_growth_rate(
    n_sites: int,
    Jx: float,
    Jy: float,
    Jz: float = 0.0,
    Gamma: float = 1.0,
    convention: str = "printed",
) -> float:
    r"""Analytic ``max Re eig(A)`` of the polarised (all-down) XYZ ring, paper 003 Eqs. 34-35.

    Per ring momentum ``k = 2 pi m / n``: ``A(k) = [[-Gamma, lam (J_y cos k - J_z)],
    [-lam (J_x cos k - J_z), -Gamma]]``, eigenvalues
    ``-Gamma +- lam sqrt(-(J_x cos k - J_z)(J_y cos k - J_z))`` (``lam = 1`` printed, 4 fig7).
    """
    n = check_int("n_sites", n_sites, 3)
    lam = _scale(convention)
    c = np.cos(2 * np.pi * np.arange(n) / n)
    disc = -(lam**2) * (Jx * c - Jz) * (Jy * c - Jz)
    return float(np.max(-Gamma + np.real(np.sqrt(disc.astype(complex)))))


def xyz_chain_critical_Jy(
    Jx: float,
    Gamma: float = 1.0,
    convention: str = "fig7",
    n_sites: int | None = None,
    periodic: bool = True,
) -> float:
    r"""Linear-stability edge ``J_y^c`` of the all-down XY chain (``J_z = 0``, ``J_x != 0``).

    ``lam^2 J_x J_y^c c_max^2 = -Gamma^2``, ``lam = 1`` printed, ``4`` fig7, with
    ``c_max`` the largest ``|cos k|`` of the chain's normal modes: 1 on a ring (``k = 0``) or
    an infinite chain, ``cos(pi / (n + 1))`` on an open chain of ``n`` sites (sine modes).
    So ``J_y^c = -Gamma^2 / J_x`` as printed and ``-Gamma^2 / (16 J_x)`` with
    ``convention="fig7"`` (``J_y^c = -0.5`` at ``J_x = Gamma/8``). Stable for
    ``J_x J_y > J_x J_y^c``.
    """
    lam = _scale(convention)
    if Jx == 0:
        raise ValueError("`Jx` must be nonzero (for Jx = 0 the XY chain is stable for every Jy).")
    cmax = 1.0
    if not periodic:
        if n_sites is None:
            raise ValueError("`n_sites` is needed for an open chain (periodic=False).")
        n = check_int("n_sites", n_sites, 2)
        cmax = float(np.cos(np.pi / (n + 1)))
    return -(Gamma**2) / (lam**2 * Jx * cmax**2)
