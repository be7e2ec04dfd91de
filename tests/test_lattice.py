"""Linearised (Holstein-Primakoff) theory, correlation functions and chain edges.

Deterministic checks: the linear-stability edge against the analytic formula, momentum space
against real space, the linearised steady state against exact master-equation steady
states (its error must be O(S^0) in absolute units, i.e. O(1/S) relative), and the
correlation-length fit on exact exponentials.
"""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from helpers import exact_steady

import twoqs_jax as tq

KEYS = ("Sz", "varx", "vary", "varz", "SxSy", "SpSm", "SzSz")


def _edge(Jx, convention, n_sites, periodic=True):
    f = lambda jy: tq.lattice.linear_growth_rate(  # noqa: E731
        tq.heisenberg_chain(n_sites, 50, Jx=Jx, Jy=jy, convention=convention, periodic=periodic)
    )
    lo = tq.lattice.xyz_chain_critical_Jy(Jx, 1.0, convention) * 0.5
    hi = tq.lattice.xyz_chain_critical_Jy(Jx, 1.0, convention) * 1.5
    return scipy.optimize.brentq(f, lo, hi, xtol=1e-13, rtol=1e-14)


@pytest.mark.parametrize(
    "Jx, convention, n_sites, expected",
    [(0.125, "fig7", 100, -0.5), (0.125, "printed", 100, -8.0), (0.3, "fig7", 12, -1 / 4.8)],
)
def test_linear_edge_is_analytic(Jx, convention, n_sites, expected):
    # numerical edge of max Re eig(A) = 0 from the general real-space linearisation vs
    # J_x J_y = -Gamma^2 / lam^2 (lam = 1 printed, 4 fig7); even rings contain k = 0, pi
    assert tq.lattice.xyz_chain_critical_Jy(Jx, 1.0, convention) == pytest.approx(
        expected, rel=1e-14
    )
    assert abs(_edge(Jx, convention, n_sites) - expected) < 1e-8


def test_open_chain_edge_and_growth_rate_with_Jz():
    # open chain: sine modes, max |cos k| = cos(pi/(n+1)) < 1 shifts the edge;
    # J_z != 0 shifts the frequencies (ring formula)
    edge = _edge(0.125, "fig7", 7, periodic=False)
    want = tq.lattice.xyz_chain_critical_Jy(0.125, 1.0, "fig7", n_sites=7, periodic=False)
    assert abs(edge - want) < 1e-8
    assert edge < -0.55
    rng = np.random.default_rng(0)
    for _ in range(5):
        jx, jy, jz = rng.normal(size=3) * 0.3
        for conv in ("printed", "fig7"):
            m = tq.heisenberg_chain(10, 20, Jx=jx, Jy=jy, Jz=jz, Gamma=0.7, convention=conv)
            want = tq.lattice.xyz_chain_growth_rate(10, jx, jy, jz, 0.7, conv)
            assert tq.lattice.linear_growth_rate(m) == pytest.approx(want, abs=1e-10)


@pytest.mark.parametrize(
    "model, lattice, cell",
    [
        (
            tq.heisenberg_chain(12, 100, Jx=0.125, Jy=-0.3, Jz=0.05, convention="fig7"),
            (12, 1),
            (1, 1),
        ),
        (tq.pt_chain(10, 50, J=0.2, gamma=1.0, periodic=True), (10, 1), (2, 1)),
        (tq.pt_chain(None, 50, J=0.1, gamma=1.0, periodic=True, lattice=(4, 6)), (4, 6), (2, 2)),
    ],
)
def test_momentum_space_equals_real_space(model, lattice, cell):
    real = tq.lattice.linear_steady_state(model)
    mom = tq.lattice.linear_steady_state(model, lattice=lattice, cell=cell)
    for k in KEYS:
        np.testing.assert_allclose(mom[k], real[k], rtol=1e-9, atol=1e-9 * model.spin[0])


def test_momentum_space_rejects_wrong_cell():
    # (alternating gain/loss rings ARE invariant with cell 1 in the rotated frame: gain on an
    # up site is loss of its boson; an open chain is not invariant at all)
    m = tq.heisenberg_chain(10, 50, Jx=0.1, Jy=-0.2, periodic=False)
    with pytest.raises(ValueError, match="not invariant"):
        tq.lattice.linear_steady_state(m, lattice=(10, 1), cell=(1, 1))
    with pytest.raises(ValueError, match="tile"):
        tq.lattice.linear_steady_state(m, lattice=(3, 3))


@pytest.mark.parametrize(
    "name, model",
    [
        (
            "xy chain (down)",
            tq.heisenberg_chain(2, 3, Jx=0.125, Jy=-0.4, periodic=False, convention="fig7"),
        ),
        ("pt dimer (down + up)", tq.pt_dimer(5, 0.3)),
        ("lmg (field + same-site)", tq.lmg(40, 0.3, 1.0, 1.0)),
    ],
)
def test_linear_theory_against_exact(name, model):
    # The linearised theory is the leading order in 1/S: observables of size S (variances,
    # <S+S->) carry O(S^0) corrections. Measured |exact - linear| for these models at
    # S = 3..8: <= 0.17 (xy varx: 0.143 at S=3, 0.136 at S=5, 0.134 at S=7; pt <S+S->: 0.10).
    # Budget 0.3 (in units of hbar, absolute).
    ex = exact_steady(model)
    lin = tq.lattice.linear_steady_state(model)
    for k in ("Sz", "varx", "vary", "varz", "SpSm", "SzSz"):
        np.testing.assert_allclose(lin[k], ex[k], atol=0.3, rtol=0, err_msg=f"{name}: {k}")


def test_linear_theory_error_shrinks_like_one_over_S():
    # relative error of Var(S_x)/S between S = 3 and S = 7 (PT dimer): expected ratio 7/3
    errs = []
    for S in (3, 7):
        m = tq.pt_dimer(S, 0.3)
        errs.append(
            abs(exact_steady(m)["varx"][0] - tq.lattice.linear_steady_state(m)["varx"][0]) / S
        )
    assert errs[0] / errs[1] > 1.8


def test_linear_rejects_bad_input():
    with pytest.raises(ValueError, match="transverse"):
        tq.lattice.linearize(tq.driven_spin(10, 0.5))
    with pytest.raises(ValueError, match="dephasing"):
        tq.lattice.linearize(tq.collective_dephasing(10))
    with pytest.raises(ValueError, match="unstable"):
        tq.lattice.linear_steady_state(
            tq.heisenberg_chain(10, 10, Jx=0.125, Jy=-0.6, convention="fig7")
        )
    with pytest.raises(ValueError, match="polarization"):
        tq.lattice.linearize(tq.superradiance(10), polarization=[0.0])
    with pytest.raises(ValueError, match="batch"):
        tq.lattice.linearize(_batched())


def _batched():
    import jax

    return jax.vmap(lambda jy: tq.heisenberg_chain(4, 5, Jx=0.1, Jy=jy))(jnp.array([-0.1, -0.2]))


def test_polarization_mapping_signs():
    # a gain-only site is polarised up: <S_z> = +S - <n>, and "down" is unstable there
    m = tq.SpinModel(10, gain=0.1)
    sol = tq.lattice.linear_steady_state(m)
    assert sol["Sz"][0] == pytest.approx(10.0, abs=1e-12)
    assert sol["varx"][0] == pytest.approx(5.0, rel=1e-12)  # coherent state: S/2
    assert tq.lattice.linear_growth_rate(m, "down") > 0


def test_correlation_length_fit():
    s = np.arange(40)
    xi = 3.7
    C = np.exp(-s / xi) * (s % 2 == 0)
    got, err = tq.lattice.correlation_length(C)
    assert got == pytest.approx(xi, rel=1e-12)
    # noisy data with errors: within 4 sigma of the truth
    rng = np.random.default_rng(1)
    e = 0.01 * np.ones_like(C)
    got, err = tq.lattice.correlation_length(C + e * rng.normal(size=C.shape), err=e)
    assert abs(got - xi) < 4 * err
    with pytest.raises(ValueError, match="one-dimensional"):
        tq.lattice.correlation_length(np.ones((2, 2)))


def test_correlation_function_matches_site_resolved_and_symbols():
    m = tq.heisenberg_chain(12, 100, Jx=0.125, Jy=-0.45, convention="fig7")
    sol = tq.lattice.linear_steady_state(m)
    C, err = tq.lattice.correlation_function(sol)
    C5, _ = tq.lattice.correlation_function(sol, site=5)
    np.testing.assert_allclose(C, C5, atol=1e-12)
    assert C[0] == 1.0 and np.all(err == 0)
    assert np.all(np.abs(C[1::2]) < 1e-12) and C[2] > 0.5
    xi, _ = tq.lattice.correlation_length(C, s_max=6)
    assert 1 < xi < 10
    # the per-trajectory estimator: G(d) = mean_x <S_x^+ S_{x+d}^-> with the same-site
    # ordering correction, on a deterministic 2D configuration
    rng = np.random.default_rng(2)
    a = rng.normal(size=6) + 1j * rng.normal(size=6)
    b = rng.normal(size=6) + 1j * rng.normal(size=6)
    g = np.asarray(
        tq.lattice.translation_averaged_functions((2, 3))[0].fn(jnp.asarray(a), jnp.asarray(b))
    )
    sp = np.conj(a) * b
    sz = 0.5 * (abs(a) ** 2 - abs(b) ** 2)
    x, y = np.divmod(np.arange(6), 3)
    for d in range(6):
        dx, dy = divmod(d, 3)
        tgt = ((x + dx) % 2) * 3 + (y + dy) % 3
        want = np.mean(sp * np.conj(sp[tgt])) if d else np.mean(abs(sp) ** 2 - 0.25 + sz)
        assert g[d] == pytest.approx(np.real(want), abs=1e-12)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda J: tq.pt_dimer(1000, J, gamma=1.0), 1.0),  # paper 000: PT transition at lam = gamma
        (
            lambda J: tq.pt_chain(12, 1000, J=J, gamma=1.0, periodic=True),
            0.5,
        ),  # 2 J |cos k| = gamma
    ],
)
def test_pt_linear_edge(make, expected):
    # loss sites down, gain sites up (the default polarization); both bosons are lost at
    # rate 2 gamma (amplitude damping gamma) and coupled by J (x x - p p) per bond:
    # eigenvalues -gamma +- lam (dimer), -gamma +- 2 J |cos k| (ring)
    edge = scipy.optimize.brentq(
        lambda J: tq.lattice.linear_growth_rate(make(J)), 0.05, 3.0, xtol=1e-14
    )
    assert abs(edge - expected) < 1e-8
