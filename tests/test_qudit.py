"""Qudit dissipative LMG (paper 001): model, mean field for any d, fixed points, bistability."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from twoqs_jax import qudit

# the equations themselves (right-hand sides, coordinates, ladders, the solver returning the
# Bloch coordinates) have no public names: tq.solve wraps them
from twoqs_jax._qudit.large_spin import large_spin_rhs
from twoqs_jax._qudit.meanfield import (
    coords_to_rho,
    hermitian_basis,
    meanfield_rhs,
    meanfield_rhs_rho,
    rho_to_coords,
    solve_qudit_meanfield,
)
from twoqs_jax._qudit.model import ladder_spin, ladder_uniform
from twoqs_jax.qudit import (
    QuditLMG,
    bistable_upper_end,
    broken_symmetry_state,
    coherent_rho,
    jacobian_eigenvalues,
    polarised_state,
    scaled_spin,
    solve_large_spin,
)


def _random_rho(rng, d, rank=None):
    rank = d if rank is None else rank
    a = rng.normal(size=(d, rank)) + 1j * rng.normal(size=(d, rank))
    rho = a @ a.conj().T
    return rho / np.trace(rho)


# --- model -----------------------------------------------------------------------------


def test_model_validation():
    with pytest.raises(ValueError, match="`d`"):
        QuditLMG.spin_ladder(1)
    with pytest.raises(ValueError, match="`gamma_I`.*-0.5"):
        QuditLMG.spin_ladder(3, gamma_I=-0.5)
    with pytest.raises(ValueError, match="`gamma_C`"):
        QuditLMG.m_independent(3, gamma_C=-1.0)
    with pytest.raises(ValueError, match="`ladder`"):
        QuditLMG(4, 1.0, 0.1, 0.1, np.ones(4))
    with pytest.raises(ValueError, match="`V`"):
        QuditLMG.spin_ladder(3, V=np.nan)
    with pytest.raises(ValueError, match="`n`"):
        QuditLMG.spin_ladder(3, n=0)


def test_ladders():
    # 001 below Eq 6: both dissipators coincide for d = 2, 3, differ for d >= 4; l_{-j} = sqrt(2j).
    for d in (2, 3):
        np.testing.assert_allclose(ladder_spin(d), ladder_uniform(d))
    for d in range(2, 8):
        np.testing.assert_allclose(ladder_spin(d)[0], math.sqrt(d - 1))
        np.testing.assert_allclose(ladder_uniform(d)[0], math.sqrt(d - 1))
    assert not np.allclose(ladder_spin(4), ladder_uniform(4))


def test_coordinates_roundtrip():
    rng = np.random.default_rng(0)
    for d in (2, 3, 5):
        G = hermitian_basis(d)
        gram = np.einsum("aij,bji->ab", G, G)
        np.testing.assert_allclose(gram, np.eye(d * d - 1), atol=1e-13)
        rho = _random_rho(rng, d)
        np.testing.assert_allclose(coords_to_rho(rho_to_coords(rho), d), rho, atol=1e-13)


# --- mean field ------------------------------------------------------------------------


def test_d2_reduces_to_eq10():
    """At d = 2 the general mean field is 001 Eq 10 for X, Y, Z (any V sign, mixed states)."""
    rng = np.random.default_rng(1)
    for V, gI, gC in [(0.7, 0.3, 0.4), (-1.3, 0.05, 1.1), (1.0, 0.0, 0.8)]:
        m = QuditLMG.spin_ladder(2, V=V, gamma_I=gI, gamma_C=gC)
        for _ in range(3):
            c = rho_to_coords(_random_rho(rng, 2))
            X, Y, Z = np.asarray(scaled_spin(2, c))
            dxyz = jax.jacfwd(lambda x: scaled_spin(2, x))(c) @ meanfield_rhs(m, c)
            eq10 = [
                -2 * V * Y * Z - gI * X + gC * X * Z,
                -2 * V * X * Z - gI * Y + gC * Y * Z,
                4 * V * X * Y - 2 * gI * (Z + 1) - gC * (X**2 + Y**2),
            ]
            np.testing.assert_allclose(dxyz, eq10, atol=1e-13)


def _exact_reduced_derivative(model, rho1, n):
    """D rho^(1)/dt of particle 0 from the exact N-particle Liouvillian at rho1^{(x)N}."""
    d = model.d
    full = rho1
    for _ in range(n - 1):
        full = np.kron(full, rho1)
    L = qudit.liouvillian(model, n)
    drho = (L @ full.reshape(-1, order="F")).reshape(d**n, d**n, order="F")
    t = drho.reshape(d, d ** (n - 1), d, d ** (n - 1))
    return np.einsum("aibi->ab", t)


@pytest.mark.parametrize("d", [3, 4])
def test_meanfield_is_large_n_limit_of_exact(d):
    """Independent check of the any-d mean field against the exact master equation.

    For a product state rho1^{(x)N} the exact derivative of the one-particle state is
    affine in 1/N (two-body terms carry (N-1)/N, one-body ones 1/N), so its N -> infinity
    limit is 3 f(3) - 2 f(2) exactly; it must equal the mean-field right-hand side.
    """
    rng = np.random.default_rng(d)
    ladder = rng.normal(size=d - 1) + 1j * rng.normal(size=d - 1)  # generic complex l_m
    m = QuditLMG(d, V=-0.8, gamma_I=0.37, gamma_C=0.61, ladder=ladder)
    rho1 = _random_rho(rng, d)
    f2 = _exact_reduced_derivative(m, rho1, 2)
    f3 = _exact_reduced_derivative(m, rho1, 3)
    mf = np.asarray(meanfield_rhs_rho(m, jnp.asarray(rho1)))
    np.testing.assert_allclose(3 * f3 - 2 * f2, mf, atol=1e-12)


@pytest.mark.parametrize("V, gI, gC", [(1.0, 0.6, 0.5), (-0.8, 0.3, 0.2), (1.0, 1.2, 0.0)])
def test_d2_broken_symmetry_fixed_points(V, gI, gC):
    """001 Sec III A: X = sgn(V) Y = +-sqrt(gI (2|V| - gI - gC))/(2|V| - gC), Z = -gI/(2|V| - gC)."""
    m = QuditLMG.spin_ladder(2, V=V, gamma_I=gI, gamma_C=gC)
    c, stable = broken_symmetry_state(m)
    X, Y, Z = np.asarray(scaled_spin(2, c))
    a = 2 * abs(V) - gC
    np.testing.assert_allclose(abs(X), math.sqrt(gI * (a - gI)) / a, atol=1e-10)
    np.testing.assert_allclose(Y, np.sign(V) * X, atol=1e-10)
    np.testing.assert_allclose(Z, -gI / a, atol=1e-10)
    assert stable
    # 001 App. B: Jacobian eigenvalues -4|V| gI/(2|V| - gC) and -gI +- sqrt(gI (5gI + 4gC - 8|V|)).
    ev = np.sort_complex(jacobian_eigenvalues(m, c))
    ref = np.sort_complex(
        np.array(
            [
                -4 * abs(V) * gI / a,
                -gI + np.sqrt(complex(gI * (5 * gI + 4 * gC - 8 * abs(V)))),
                -gI - np.sqrt(complex(gI * (5 * gI + 4 * gC - 8 * abs(V)))),
            ]
        )
    )
    np.testing.assert_allclose(ev, ref, atol=1e-10)


# One Diffrax solve (d = 4, spin ladder, interaction-dominated) shared by two tests.
_RELAX = dict(V=1.0, gI=0.5, gC=0.3, theta=2.0, phi=0.3, t1=200.0, n_save=401)


@pytest.fixture(scope="module")
def relaxed_d4():
    p = _RELAX
    m = QuditLMG.spin_ladder(4, V=p["V"], gamma_I=p["gI"], gamma_C=p["gC"])
    return m, solve_qudit_meanfield(
        m, coherent_rho(4, p["theta"], p["phi"]), p["t1"], n_save=p["n_save"]
    )


def test_solve_meanfield_relaxes_to_fixed_point(relaxed_d4):
    m, sol = relaxed_d4
    c, stable = broken_symmetry_state(m)
    assert stable
    np.testing.assert_allclose(sol["coords"][-1], c, atol=1e-7)
    np.testing.assert_allclose(sol["Sz"][-1, 0], 1.5 * sol["Z"][-1])
    np.testing.assert_allclose(sol["purity"][0], 1.0, atol=1e-12)  # coherent start
    with pytest.raises(ValueError, match="`rho0`"):
        solve_qudit_meanfield(m, np.eye(3) / 3, 1.0)


# --- polarised state -------------------------------------------------------------------


def _appendix_b_spectrum(ell, gI, gC, V):
    d = len(ell) + 1
    j = (d - 1) / 2
    a = abs(ell[0]) ** 2 * (gI + gC) / (2 * j)
    ev = [-a + 2 * abs(V), -a - 2 * abs(V)]  # the 2x2 block (B2), coherence (m, n) = (-j+1, -j)
    lm1 = lambda m: 0.0 if m == 0 else abs(ell[m - 1]) ** 2  # |l_{m-1}|^2, index m = 0..d-1
    for mm in range(2, d):
        for nn in range(mm):
            ev += [-gI * (lm1(mm) + lm1(nn)) / (2 * j)] * 2
    ev += [-gI * lm1(mm) / j for mm in range(1, d)]
    return np.sort(np.array(ev))


@pytest.mark.parametrize("d", [2, 3, 4, 6])
def test_polarised_state_spectrum_and_threshold(d):
    """001 App. B: spectrum at the polarised state, stable iff |l_-j|^2 (gI + gC) > 4 j |V|."""
    rng = np.random.default_rng(10 + d)
    j = (d - 1) / 2
    for ell in (ladder_spin(d), ladder_uniform(d), rng.uniform(0.5, 2.0, size=d - 1)):
        V, frac = -1.1, 0.3  # gamma_C = frac * (gamma_I + gamma_C)
        thr = 4 * j * abs(V) / ell[0] ** 2
        for factor in (0.97, 1.03):
            g = factor * thr
            m = QuditLMG(d, V, (1 - frac) * g, frac * g, ell)
            np.testing.assert_allclose(m.polarised_threshold(), thr)
            c, stable = polarised_state(m)
            assert stable == (factor > 1)
            ev = jacobian_eigenvalues(m, c)
            # The Jacobian is triangular with repeated diagonal entries (Jordan blocks), so
            # computed eigenvalues carry errors ~ eps^(1/k) for a k x k block (2e-3 measured
            # at d = 6, uniform ladder); 1e-2 is still far below the spacing of the distinct
            # values (multiples of gamma_I |l|^2 / 2j, here >= 0.1).
            np.testing.assert_allclose(np.abs(ev.imag), 0, atol=1e-2)
            np.testing.assert_allclose(
                np.sort(ev.real), _appendix_b_spectrum(ell, (1 - frac) * g, frac * g, V), atol=1e-2
            )


# --- bistability (m-independent dissipator) --------------------------------------------

FIG4_CAPTION = {4: 2.05, 5: 2.16, 6: 2.30, 7: 2.46}  # 001 Fig 4 caption, gamma_I/|V|


def _check_upper_end(d):
    (g, X, Z), br = bistable_upper_end(QuditLMG.m_independent(d, V=1.0), return_branch=True)
    assert abs(g - FIG4_CAPTION[d]) <= 0.01
    # First-order transition: at the fold the state is still far from X = 0, Z = -1.
    assert X > 0.2 and Z > -0.95
    # The stable part of the branch reaches beyond 2|V|: bistable with the polarised state.
    stable = br["max_re"] < -1e-9
    assert np.any(stable & (br["gamma_I"] > 2.0 + 0.5 * (g - 2.0)))
    # Beyond the fold (towards Z = -1) the branch is unstable.
    assert np.all(~stable[br["Z"] < Z - 1e-3])


def test_bistable_upper_end_d4():
    _check_upper_end(4)


@pytest.mark.slow
@pytest.mark.parametrize("d", [4, 5, 6, 7])
def test_bistable_upper_end_fig4(d):
    _check_upper_end(d)


def test_spin_ladder_has_no_bistability():
    (g, X, Z) = bistable_upper_end(QuditLMG.spin_ladder(4, V=1.0))
    # The branch ends on the polarised state at the pitchfork gamma_I = 2|V| (second order).
    assert abs(g - 2.0) < 1e-3 and abs(X) < 0.05


# --- large-spin limit ------------------------------------------------------------------


def test_large_spin_eq14_is_eq10_with_collective_rate():
    rng = np.random.default_rng(3)
    V, gI, gC = 0.9, 0.4, 0.3
    v = rng.normal(size=3)
    v /= np.linalg.norm(v)
    r = np.tile(v, (4, 1))
    X, Y, Z = v
    eq10 = [
        -2 * V * Y * Z + (gI + gC) * X * Z,
        -2 * V * X * Z + (gI + gC) * Y * Z,
        4 * V * X * Y - (gI + gC) * (X**2 + Y**2),
    ]
    np.testing.assert_allclose(
        large_spin_rhs(jnp.asarray(r), V, gI, gC), np.tile(eq10, (4, 1)), atol=1e-14
    )


def test_limits_do_not_commute(relaxed_d4):
    """N -> inf at finite d: static attracting fixed point; j -> inf at finite N: oscillation."""
    m, mf = relaxed_d4
    p = _RELAX
    late = slice(300, None)
    assert np.std(mf["Z"][late]) < 1e-6 and abs(mf["X"][-1]) > 0.1
    th, ph = p["theta"], p["phi"]
    r0 = np.tile([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], (3, 1))
    ls = solve_large_spin(
        r0, p["t1"], V=p["V"], gamma_I=p["gI"], gamma_C=p["gC"], n_save=p["n_save"]
    )
    assert np.std(ls["Z"][late]) > 0.1  # still oscillating
    np.testing.assert_allclose(np.linalg.norm(ls["r"][-1], axis=-1), 1.0, atol=1e-6)
