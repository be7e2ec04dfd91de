"""Schwinger-boson symbols of spin operators and the Hamiltonian.

Per site two complex amplitudes ``(alpha, beta)`` stand for the bosons ``(a, b)`` of
``S^+ = a^+ b``, ``S^- = a b^+``, ``S_z = (a^+ a - b^+ b)/2``. Spin down (``m = -S``) is the
b-mode holding ``2S`` quanta. The Weyl (Wigner, ``k = 0``) symbols are

    s_x + i s_y = conj(alpha) beta,    s_z = (|alpha|^2 - |beta|^2) / 2,

and a representation ``k`` (``0`` Wigner, ``1`` P, ``-1`` Q) is obtained from the Wigner one by
the Gaussian smoothing ``F_k = exp(-(k/2) Delta) W`` with ``Delta = sum_modes d^2/(dz dz*)``.
Consequences used throughout (derived in ``docs/derivations/twoqs.md``):

- the symbol of an operator ``O`` to average over ``F_k`` is ``exp(+(k/2) Delta) O_W``: the
  linear spin symbols are the same for every ``k``; a same-site symmetrised product
  ``(S_a S_b + S_b S_a)/2`` has the symbol
  ``s_a s_b + delta_ab [(k/4)(|alpha|^2 + |beta|^2) + (k^2 - 1)/8]``; products on different
  sites are plain products;
- the first-order (drift) part of ``-i[H, rho]`` for ``F_k`` is
  ``dz/dt = -i dH_k/dz*`` with ``H_k = exp(-(k/2) Delta) H_W``. For fields and inter-site
  bilinears ``H_k = H_W``; a same-site bilinear adds ``-(k/4) tr(J) (|alpha|^2 + |beta|^2)``,
  which only turns both modes of the site by the same phase (it commutes with every spin
  operator and leaves all spin observables unchanged). The second-order Hamiltonian
  diffusion terms of ``P``/``Q`` are dropped (the positive diffusion approximation, paper 003
  Sec. 2.4), which is why ``Q`` fails for one-axis twisting.
"""

import jax.numpy as jnp

REPRESENTATIONS = {"W": 0, "P": 1, "Q": -1}


def spin_symbols_real(ar, ai, br, bi):
    """:func:`spin_symbols` of ``alpha = ar + i ai``, ``beta = br + i bi`` in real arithmetic."""
    return ar * br + ai * bi, ar * bi - ai * br, 0.5 * (ar**2 + ai**2 - br**2 - bi**2)


def spin_symbols(alpha, beta):
    """Weyl symbols ``(s_x, s_y, s_z)`` of one site or a batch; shapes follow ``alpha``:
    ``s_x + i s_y = conj(alpha) beta``, ``s_z = (|alpha|^2 - |beta|^2) / 2``.
    """
    return spin_symbols_real(jnp.real(alpha), jnp.imag(alpha), jnp.real(beta), jnp.imag(beta))


def spin_vector(alpha, beta):
    """``(n, 3)`` stack of the spin symbols of ``n`` sites."""
    return jnp.stack(spin_symbols(alpha, beta), axis=-1)


def hamiltonian_symbol(model, alpha, beta, k: int = 0):
    """``H_k(alpha, beta)``: the Hamiltonian symbol whose Wirtinger gradient gives the drift.

    ``H_W = sum_i field_i . s_i + sum_e s_{i_e}^T J_e s_{j_e}`` (same-site ``J_e``
    symmetrised; the constant ``-tr(J_e)/8`` of the same-site Weyl product is dropped), plus
    for ``k != 0`` the same-site ordering term ``-(k/4) tr(J_e) (|alpha_i|^2 + |beta_i|^2)``.

    Args:
        model: a :class:`SpinModel` (one parameter point).
        alpha, beta: ``(n,)`` complex amplitudes.
        k: representation (0, 1, -1).

    Returns:
        A real scalar.
    """
    s = spin_vector(alpha, beta)
    h = jnp.sum(model.field * s)
    edges = model.edges
    if edges.shape[0]:
        J = model.symmetric_coupling
        si, sj = s[edges[:, 0]], s[edges[:, 1]]
        h = h + jnp.sum(jnp.einsum("ea,eab,eb->e", si, J, sj))
        if k != 0:
            same = jnp.asarray(edges[:, 0] == edges[:, 1], dtype=s.dtype)
            n_tot = (jnp.abs(alpha) ** 2 + jnp.abs(beta) ** 2)[edges[:, 0]]
            h = h - (k / 4) * jnp.sum(same * jnp.trace(J, axis1=-2, axis2=-1) * n_tot)
    return h
