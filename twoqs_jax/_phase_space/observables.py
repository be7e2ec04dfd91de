"""Observables with the ordering corrections of representation ``k``.

Estimators (per trajectory, averaged over trajectories; see :mod:`.symbols`):

- ``<S_i^a>``: ``s_a`` for every ``k``;
- same-site symmetrised ``<(S_a S_b + S_b S_a)/2>``:
  ``s_a s_b + delta_ab [(k/4)(|alpha|^2 + |beta|^2) + (k^2-1)/8]`` (``-1/8`` for W,
  ``+N/4`` for P, ``-N/4`` for Q with ``N = |alpha|^2 + |beta|^2``);
- ``<S_i^+ S_j^->``: ``conj(alpha_i) beta_i alpha_j conj(beta_j)`` for ``i != j``; on the
  diagonal ``<S_x^2> + <S_y^2> + <S_z>`` with the corrected symbols;
- ``<S_i^z S_j^z>``: plain product off the diagonal, ``<S_z^2>`` on it;
- ``spin_drift``: ``<(a^+a + b^+b)/2> - S`` with the symbol ``N/2 - (1-k)/2`` (zero in exact
  dynamics: a health monitor).

Nonlinear functions of means (variances, ``xi2``) are computed on the host from the means
(:func:`derived`); their standard errors come from a batch jackknife.
"""

import jax.numpy as jnp
import numpy as np

SHARED = ("Sx", "Sy", "Sz", "Sx2", "Sy2", "Sz2", "SxSy", "SxSz", "SySz", "SpSm", "SzSz")
DERIVED = ("varx", "vary", "varz", "xi2")
EXTRA = ("spin_drift",)
ALL = SHARED + DERIVED + EXTRA
# primitives the jackknife groups carry (enough for every derived observable)
GROUPED = ("Sx", "Sy", "Sz", "Sx2", "Sy2", "Sz2", "SxSy")
_NEEDS = {
    "varx": ("Sx", "Sx2"),
    "vary": ("Sy", "Sy2"),
    "varz": ("Sz", "Sz2"),
    "xi2": ("Sx", "Sy", "Sz", "Sx2", "Sy2", "SxSy"),
}


def default_observables(n_sites: int) -> tuple:
    """Default observable names: single-site moments, variances, xi2, spin drift; two-site
    correlations for up to 10 sites."""
    names = [o for o in ALL if o not in ("SpSm", "SzSz")]
    if n_sites <= 10:
        names += ["SpSm", "SzSz"]
    return tuple(names)


def primitives_needed(names) -> tuple:
    """Linear (per-trajectory) observables needed for ``names``, in a fixed order."""
    need = set()
    for o in names:
        if o in DERIVED:
            need.update(_NEEDS[o])
        elif o == "SpSm":
            need.update(("SpSm_re", "SpSm_im"))
        else:
            need.add(o)
    order = [o for o in SHARED + EXTRA if o in need]
    order += [o for o in ("SpSm_re", "SpSm_im") if o in need]
    order += sorted(need - set(order))
    return tuple(order)


def trajectory_observables(alpha, beta, spin, k: int, names, functions=None) -> dict:
    """Per-trajectory estimators of the linear observables ``names`` (one trajectory).

    Args:
        alpha, beta: ``(n,)`` complex amplitudes.
        spin: ``(n,)`` spin lengths.
        k: representation.
        names: primitive names (from :func:`primitives_needed`) and user function names.
        functions: user functions ``f(alpha, beta) -> array`` by name (their values are
            averaged as they are: the user chooses the symbol).
    """
    sp = jnp.conj(alpha) * beta
    sx, sy = jnp.real(sp), jnp.imag(sp)
    na, nb = jnp.abs(alpha) ** 2, jnp.abs(beta) ** 2
    sz = 0.5 * (na - nb)
    corr = (k / 4) * (na + nb) + (k * k - 1) / 8
    out = {}
    for name in names:
        if name == "Sx":
            out[name] = sx
        elif name == "Sy":
            out[name] = sy
        elif name == "Sz":
            out[name] = sz
        elif name == "Sx2":
            out[name] = sx * sx + corr
        elif name == "Sy2":
            out[name] = sy * sy + corr
        elif name == "Sz2":
            out[name] = sz * sz + corr
        elif name == "SxSy":
            out[name] = sx * sy
        elif name == "SxSz":
            out[name] = sx * sz
        elif name == "SySz":
            out[name] = sy * sz
        elif name in ("SpSm_re", "SpSm_im"):
            m = sp[:, None] * jnp.conj(sp)[None, :]
            diag = sx * sx + sy * sy + 2 * corr + sz
            m = m.at[jnp.diag_indices(sp.shape[0])].set(diag.astype(m.dtype))
            out[name] = jnp.real(m) if name == "SpSm_re" else jnp.imag(m)
        elif name == "SzSz":
            m = sz[:, None] * sz[None, :]
            out[name] = m.at[jnp.diag_indices(sz.shape[0])].set(sz * sz + corr)
        elif name == "spin_drift":
            out[name] = 0.5 * (na + nb) - (1 - k) / 2 - spin.astype(sz.dtype)
        else:
            out[name] = jnp.asarray(functions[name](alpha, beta))
    return out


def _var(m1, m2):
    return m2 - m1 * m1


def xi2_from_means(m, spin0):
    """Squeezing ``xi^2 = 2S lambda_min(C) / <S_z>^2`` of site 0 (paper 003 Eq. 33).

    ``C`` is the covariance matrix of ``(S_x, S_y)``, so ``lambda_min = min_phi Var(S_phi)``
    with ``S_phi = cos(phi) S_x + sin(phi) S_y``. ``m`` maps names to arrays ``(..., n)``.
    """
    vxx = _var(m["Sx"][..., 0], m["Sx2"][..., 0])
    vyy = _var(m["Sy"][..., 0], m["Sy2"][..., 0])
    cxy = m["SxSy"][..., 0] - m["Sx"][..., 0] * m["Sy"][..., 0]
    lam = 0.5 * (vxx + vyy) - np.sqrt(0.25 * (vxx - vyy) ** 2 + cxy**2)
    return 2 * spin0 * lam / m["Sz"][..., 0] ** 2


def derived(name, m, spin0):
    """Value of a derived observable from the means ``m`` (host side, numpy)."""
    if name == "xi2":
        return xi2_from_means(m, spin0)
    a = name[-1]
    return _var(m[f"S{a}"], m[f"S{a}2"])
