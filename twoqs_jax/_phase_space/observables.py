"""Per-trajectory estimators of the primitive moments, with the ordering corrections of ``k``.

The primitive moments are those of the observable registry (:mod:`twoqs_jax._observables`);
their per-trajectory estimators (averaged over trajectories; see :mod:`.symbols`) are:

- ``<S_i^a>``: ``s_a`` for every ``k``;
- same-site symmetrised ``<(S_a S_b + S_b S_a)/2>``:
  ``s_a s_b + delta_ab [(k/4)(|alpha|^2 + |beta|^2) + (k^2-1)/8]`` (``-1/8`` for W,
  ``+N/4`` for P, ``-N/4`` for Q with ``N = |alpha|^2 + |beta|^2``);
- ``<S_i^+ S_j^->``: ``conj(alpha_i) beta_i alpha_j conj(beta_j)`` for ``i != j``; on the
  diagonal ``<S_x^2> + <S_y^2> + <S_z>`` with the corrected symbols (complex);
- ``<S_i^z S_j^z>``: plain product off the diagonal, ``<S_z^2>`` on it;
- ``spin_drift``: ``<(a^+a + b^+b)/2> - S`` with the symbol ``N/2 - (1-k)/2`` (zero in exact
  dynamics: a health monitor).

Observables linear in the primitives are evaluated per trajectory from these; nonlinear ones
(variances, ``xi2``) from the trajectory means of their primitives, with a jackknife
standard error (:mod:`twoqs_jax._sde.statistics`).
"""

import jax.numpy as jnp


def trajectory_primitives(alpha, beta, spin, k: int, names) -> dict:
    """Per-trajectory estimators of the primitive moments ``names`` (one trajectory).

    Args:
        alpha, beta: ``(n,)`` complex amplitudes.
        spin: ``(n,)`` spin lengths.
        k: representation.
        names: primitive names (:data:`twoqs_jax._observables.PRIMITIVES`).

    Returns:
        dict name -> array (``(n,)`` or ``(n, n)``; ``SpSm`` complex).
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
        elif name == "SpSm":
            m = sp[:, None] * jnp.conj(sp)[None, :]
            diag = sx * sx + sy * sy + 2 * corr + sz
            out[name] = m.at[jnp.diag_indices(sp.shape[0])].set(diag.astype(m.dtype))
        elif name == "SzSz":
            m = sz[:, None] * sz[None, :]
            out[name] = m.at[jnp.diag_indices(sz.shape[0])].set(sz * sz + corr)
        elif name == "spin_drift":
            out[name] = 0.5 * (na + nb) - (1 - k) / 2 - spin.astype(sz.dtype)
        else:
            raise ValueError(f"unknown primitive moment {name!r}.")
    return out
