"""Models of the papers, in each paper's own parameters, converted to standard rates.

Every preset states the equation it implements and how the paper's parameters map to the
standard Lindblad rates of :class:`SpinModel`. Paper 003 (Huber, Kirton, Rabl, TWOQS) writes
``D[c] = 2 c rho c^+ - {c^+ c, rho}``, twice the standard dissipator, so its
``Gamma/(2S) D[S^-]`` is ``kappa = Gamma/S`` here and its ``Gamma_phi D[S_z]`` is
``kappa = 2 Gamma_phi``. Paper 000 (Kothe, Kirton, LMG dimer) uses the standard dissipator.

All presets are traceable in their continuous parameters (not in ``S`` or sizes), so
``jax.vmap(lambda om: driven_spin(100, om, 1.0))`` builds a batch of models. Every preset
checks its own arguments first, so errors name the parameter the user passed (``Omega``,
``J``); the values of a batch built under ``jax.vmap`` are checked by the solvers.
"""

import jax.numpy as jnp
from jax.typing import ArrayLike

from .._checks import (
    check_finite,
    check_in,
    check_int,
    check_nonnegative,
    check_real,
    check_spin_length,
)
from .graphs import chain, edge_list, on_site, square_lattice
from .model import Coupling, SpinModel, flip_flop


def _real(**params):
    """Check that the named parameters are real and finite (values when concrete)."""
    for name, value in params.items():
        check_real(name, value)
        check_finite(name, value)


def _rates(**params):
    for name, value in params.items():
        check_real(name, value)
        check_nonnegative(name, value)


def superradiance(S: ArrayLike, Gamma: ArrayLike = 1.0) -> SpinModel:
    """Superradiant decay, paper 003 Eq. 21: ``drho/dt = Gamma/(2S) D_003[S^-] rho``.

    Standard rate ``kappa = Gamma / S``. The paper starts from ``m = +S`` (``spin_up()``).
    """
    check_spin_length("S", S)
    _rates(Gamma=Gamma)
    return SpinModel(S, decay=jnp.asarray(Gamma) / S)


def collective_dephasing(S: ArrayLike, Gamma_phi: ArrayLike = 1.0) -> SpinModel:
    """Collective dephasing, paper 003 Eq. 24: ``Gamma_phi D_003[S_z]``; ``kappa = 2 Gamma_phi``.

    From a coherent state along x, ``<S_x>(t) = S exp(-kappa t / 2) = S exp(-Gamma_phi t)``.
    """
    check_spin_length("S", S)
    _rates(Gamma_phi=Gamma_phi)
    return SpinModel(S, dephasing=2 * jnp.asarray(Gamma_phi))


def driven_spin(S: ArrayLike, Omega: ArrayLike, Gamma: ArrayLike = 1.0) -> SpinModel:
    """Cooperative resonance fluorescence, paper 003 Eq. 29.

    ``H = Omega S_x`` with ``Gamma/(2S) D_003[S^-]``, i.e. standard ``kappa = Gamma / S``.
    The mean-field transition is at ``Omega = Gamma``. The paper starts from ``m = -S``.
    """
    check_spin_length("S", S)
    _real(Omega=Omega)
    _rates(Gamma=Gamma)
    return SpinModel(S, field={"x": Omega}, decay=jnp.asarray(Gamma) / S)


def one_axis_twisting(
    S: ArrayLike, g: ArrayLike = 1.0, Gamma: ArrayLike = 0.0, Gamma_phi: ArrayLike = 0.0
) -> SpinModel:
    """One-axis twisting with decay and dephasing, paper 003 Eq. 30.

    ``H = g/(2S) S_x^2``, decay ``kappa = Gamma/S``, dephasing ``kappa = 2 Gamma_phi``.
    The paper starts from ``m = -S``.
    """
    check_spin_length("S", S)
    _real(g=g)
    _rates(Gamma=Gamma, Gamma_phi=Gamma_phi)
    twist = Coupling(on_site(1), {"xx": jnp.asarray(g) / (2 * S)})
    return SpinModel(
        S, couplings=twist, decay=jnp.asarray(Gamma) / S, dephasing=2 * jnp.asarray(Gamma_phi)
    )


def lmg(S: ArrayLike, J: ArrayLike, g: ArrayLike = 1.0, gamma: ArrayLike = 0.5) -> SpinModel:
    """Dissipative LMG model of one spin, paper 000 Eq. 3.

    ``H = -J S_x^2 / S - g S_z`` with ``gamma/S D[S^-]`` (standard dissipator):
    ``kappa = gamma / S``.
    """
    check_spin_length("S", S)
    _real(J=J, g=g)
    _rates(gamma=gamma)
    twist = Coupling(on_site(1), {"xx": -jnp.asarray(J) / S})
    return SpinModel(S, field={"z": -g}, couplings=twist, decay=jnp.asarray(gamma) / S)


def pt_dimer(S: ArrayLike, lam: ArrayLike, gamma: ArrayLike = 1.0) -> SpinModel:
    """PT dimer, paper 000 Eq. 1: loss on site A (0), gain on site B (1).

    ``H = lam (S_A^+ S_B^- + S_A^- S_B^+) / (2S)`` with ``gamma/S (D[S_A^-] + D[S_B^+])``:
    ``kappa = gamma / S`` for both. The mean-field PT transition is at ``lam = gamma``
    (``lam = 0.5 g`` in paper 000's Fig. 1b where ``gamma = 0.5 g``).
    """
    check_spin_length("S", S)
    _real(lam=lam)
    _rates(gamma=gamma)
    k = jnp.asarray(gamma) / S
    hop = flip_flop(edge_list([(0, 1)], 2), jnp.asarray(lam) / (2 * S))
    return SpinModel(
        S, n_sites=2, couplings=hop, decay=jnp.stack([k, 0 * k]), gain=jnp.stack([0 * k, k])
    )


def lmg_dimer(
    S: ArrayLike, J: ArrayLike, lam: ArrayLike, g: ArrayLike = 1.0, gamma: ArrayLike = 0.5
) -> SpinModel:
    """LMG dimer with loss on A and gain on B, paper 000 Eqs. 4-5.

    ``H = sum_{s=A,B} (-J S_{s,x}^2 / S - g S_{s,z}) + lam (S_A^+ S_B^- + h.c.) / (2S)``
    with ``gamma/S (D[S_A^-] + D[S_B^+])``, i.e. ``kappa = gamma / S``. Site 0 is A, site 1
    is B. Paper 000's figures use ``gamma = 0.5 g``. The normal state is
    ``Z_A = -1, Z_B = +1``.
    """
    check_spin_length("S", S)
    _real(J=J, lam=lam, g=g)
    _rates(gamma=gamma)
    k = jnp.asarray(gamma) / S
    twist = Coupling(on_site(2), {"xx": -jnp.asarray(J) / S})
    hop = flip_flop(edge_list([(0, 1)], 2), jnp.asarray(lam) / (2 * S))
    return SpinModel(
        S,
        n_sites=2,
        field={"z": -g},
        couplings=(twist, hop),
        decay=jnp.stack([k, 0 * k]),
        gain=jnp.stack([0 * k, k]),
    )


def heisenberg_chain(
    n_sites: int,
    S: ArrayLike,
    Jx: ArrayLike = 0.0,
    Jy: ArrayLike = 0.0,
    Jz: ArrayLike = 0.0,
    Gamma: ArrayLike = 1.0,
    periodic: bool = True,
    convention: str = "printed",
) -> SpinModel:
    """Dissipative XYZ chain, paper 003 Eqs. 34-35.

    ``H = sum_i (Jx~ S_i^x S_{i+1}^x + Jy~ S_i^y S_{i+1}^y + Jz~ S_i^z S_{i+1}^z)`` with
    ``Gamma~ D_003[S_i^-]`` on every site, i.e. standard ``kappa = Gamma / S``.

    ``convention="printed"`` uses ``J~ = J / (2S)`` as printed under Eq. 35. With it, the
    all-down state is linearly stable for ``Jx Jy > -Gamma^2``, while the paper quotes
    ``-Gamma^2/16`` and plots Fig. 7 with the transition near ``Jy = -0.5`` at
    ``Jx = Gamma/8``. ``convention="fig7"`` multiplies the couplings by 4
    (``J~ = 2 J / S``, a Pauli-matrix convention) so that the paper's Fig. 7 numbers
    reproduce.
    """
    check_spin_length("S", S)
    _real(Jx=Jx, Jy=Jy, Jz=Jz)
    _rates(Gamma=Gamma)
    check_in("convention", convention, ("printed", "fig7"))
    n = check_int("n_sites", n_sites, minimum=2)
    scale = (1.0 if convention == "printed" else 4.0) / (2 * S)
    bonds = Coupling(
        chain(n, periodic=periodic),
        {
            "xx": scale * jnp.asarray(Jx),
            "yy": scale * jnp.asarray(Jy),
            "zz": scale * jnp.asarray(Jz),
        },
    )
    return SpinModel(S, n_sites=n, couplings=bonds, decay=jnp.asarray(Gamma) / S)


def pt_chain(
    n_sites: int,
    S: ArrayLike,
    J: ArrayLike = 1.0,
    gamma: ArrayLike = 1.0,
    periodic: bool = False,
    lattice: tuple[int, int] | None = None,
) -> SpinModel:
    """Chain (or square lattice) of collective spins with alternating loss and gain.

    The model class of Huber, Kirton, Rabl, PRA 102, 012219 (2020) (paper 003 ref. [21]),
    generalising the PT dimer of paper 000 Eq. 1:
    ``H = J/(2S) sum_<ij> (S_i^+ S_j^- + h.c.)``, loss ``gamma/S D[S_i^-]`` on even sites and
    gain ``gamma/S D[S_i^+]`` on odd sites (standard dissipator, ``kappa = gamma / S``).
    ``lattice=(lx, ly)`` puts it on a square lattice with checkerboard gain/loss instead.
    """
    check_spin_length("S", S)
    _real(J=J)
    _rates(gamma=gamma)
    if lattice is None:
        n = check_int("n_sites", n_sites, minimum=2)
        graph = chain(n, periodic=periodic)
        parity = jnp.arange(n) % 2
    else:
        lx, ly = lattice
        graph = square_lattice(lx, ly, periodic=periodic)
        n = graph.n_sites
        x, y = jnp.divmod(jnp.arange(n), ly)
        parity = (x + y) % 2
    k = jnp.asarray(gamma) / S
    hop = flip_flop(graph, jnp.asarray(J) / (2 * S))
    even = (parity == 0).astype(k.dtype)
    return SpinModel(S, n_sites=n, couplings=hop, decay=k * even, gain=k * (1 - even))
