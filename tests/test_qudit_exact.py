"""Exact finite-N qudit LMG (paper 001 Secs IV-V) against independent QuTiP constructions."""

import math

import numpy as np
import pytest
import qutip as qt
import scipy.linalg
import scipy.optimize

from twoqs_jax import qudit

# the operators and the symmetry-sector decomposition behind tq.qudit have no public names
from twoqs_jax._qudit.exact import expectation, operators, symmetry_sectors
from twoqs_jax.qudit import QuditLMG


def _qutip_reference(model, n):
    """001 Eq 3 built by hand in QuTiP's own basis (jmat: m = +j first), solved by QuTiP."""
    d, j = model.d, model.j
    ell = np.asarray(model.ladder)
    # L = sum_m l_m |m><m+1| with |m> = basis(d, j - m).
    Lsingle = sum(
        ell[k] * qt.basis(d, d - 1 - k) * qt.basis(d, d - 2 - k).dag() for k in range(d - 1)
    )
    ident = qt.qeye(d)

    def site(op, i):
        return qt.tensor([op if k == i else ident for k in range(n)])

    Jp = sum(site(qt.jmat(j, "+"), i) for i in range(n))
    Jm = Jp.dag()
    H = float(model.V) / (2 * n * j) * (Jp * Jp + Jm * Jm)
    Ls = [site(Lsingle, i) for i in range(n)]
    c_ops = [math.sqrt(float(model.gamma_I) / j) * L for L in Ls]
    c_ops.append(math.sqrt(float(model.gamma_C) / (n * j)) * sum(Ls))
    rho = qt.steadystate(H, c_ops)
    Jz = sum(site(qt.jmat(j, "z"), i) for i in range(n))
    return rho, {"Jz": Jz, "Jp": Jp}, H, c_ops


def _flip_basis(rho, d, n):
    """Reorder each particle's index k -> d - 1 - k (QuTiP's m-descending to our ascending)."""
    t = np.asarray(rho).reshape([d] * (2 * n))
    t = t[tuple(slice(None, None, -1) for _ in range(2 * n))]
    return t.reshape(d**n, d**n)


@pytest.mark.parametrize(
    "builder, d, n, V, gI, gC",
    [
        (QuditLMG.spin_ladder, 2, 5, 1.0, 0.9, 0.6),
        (QuditLMG.m_independent, 3, 3, -1.0, 1.3, 0.4),
        (QuditLMG.m_independent, 4, 2, 1.0, 2.02, 0.2),
        (QuditLMG.spin_ladder, 4, 2, 0.7, 0.5, 1.0),
        pytest.param(QuditLMG.m_independent, 4, 3, 1.0, 2.02, 0.2, marks=pytest.mark.slow),
    ],
)
def test_steady_state_against_qutip(builder, d, n, V, gI, gC):
    m = builder(d, V=V, gamma_I=gI, gamma_C=gC, n=n)
    rho = qudit.steady_state(m)
    ref, ops, _, _ = _qutip_reference(m, n)
    np.testing.assert_allclose(rho, _flip_basis(ref.full(), d, n), atol=1e-9)
    mine = operators(m)
    np.testing.assert_allclose(expectation(rho, mine["Jz"]), qt.expect(ops["Jz"], ref), atol=1e-9)
    np.testing.assert_allclose(qudit.purity(rho), (ref * ref).tr().real, atol=1e-10)


def test_purity_and_negativity_direct():
    """Purity and Eq 17 negativity at one point against QuTiP's partial transpose."""
    d, n = 3, 3
    m = QuditLMG.m_independent(d, V=1.0, gamma_I=1.0, gamma_C=1.5, n=n)
    rho = qudit.steady_state(m)
    q = qt.Qobj(rho, dims=[[d] * n, [d] * n])
    np.testing.assert_allclose(qudit.purity(rho), (q * q).tr().real, atol=1e-12)
    pt = qt.partial_transpose(q, [0, 0, 1])  # B = last floor(N/2) = 1 particle
    ev = np.linalg.eigvalsh(pt.full())
    neg = -ev[ev < 0].sum()
    np.testing.assert_allclose(qudit.negativity(rho, d, n), neg, atol=1e-12)
    assert neg > 1e-3  # the point is entangled, so the comparison is not 0 == 0
    # Known values: a Bell state has negativity 1/2, a product state 0.
    bell = np.zeros(4)
    bell[[0, 3]] = 1 / np.sqrt(2)
    np.testing.assert_allclose(qudit.negativity(np.outer(bell, bell), 2, 2), 0.5, atol=1e-14)
    prod = np.kron(np.diag([0.3, 0.7]), np.diag([0.6, 0.4]))
    assert qudit.negativity(prod, 2, 2) < 1e-14


def test_refuses_large_systems():
    m = QuditLMG.spin_ladder(4, V=1.0, gamma_I=1.0, n=5)
    with pytest.raises(ValueError, match="exceeds `max_memory`"):
        qudit.steady_state(m)
    with pytest.raises(ValueError, match="particle number"):
        qudit.steady_state(QuditLMG.spin_ladder(3, gamma_I=1.0))


def test_symmetry_sectors_block_diagonalise():
    """Z2 x Z2 sectors of 001 Sec II: orthonormal, complete, invariant under the Liouvillian,
    the union of the block spectra is the full spectrum, and the steady state is in (+1, +1).
    """
    d, n = 3, 2
    m = QuditLMG.m_independent(d, V=0.8, gamma_I=0.7, gamma_C=0.9, n=n)
    L = qudit.liouvillian(m).toarray()
    secs = symmetry_sectors(m)
    Q = np.hstack([s.toarray() for s in secs.values()])
    D2 = d ** (2 * n)
    assert Q.shape == (D2, D2)
    np.testing.assert_allclose(Q.conj().T @ Q, np.eye(D2), atol=1e-13)
    evs = []
    for s in secs.values():
        s = s.toarray()
        # invariance: the complement of the sector does not receive L Q_s
        np.testing.assert_allclose(L @ s - s @ (s.conj().T @ L @ s), 0, atol=1e-12)
        evs.append(scipy.linalg.eigvals(s.conj().T @ L @ s))
    full = scipy.linalg.eigvals(L)
    blocks = np.concatenate(evs)
    # match the two spectra one to one (sorting is fragile for near-degenerate values)
    cost = np.abs(full[:, None] - blocks[None, :])
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    assert cost[rows, cols].max() < 1e-8
    rho = qudit.steady_state(m).reshape(-1, order="F")
    s11 = secs[(1, 1)].toarray()
    np.testing.assert_allclose(s11 @ (s11.conj().T @ rho), rho, atol=1e-12)
    gaps = qudit.sector_gaps(m)
    assert abs(gaps["zero"]) < 1e-10
    for key in secs:
        assert gaps[key] > 0


def test_gap_closes_with_n_in_broken_phase():
    """Delta^(-1,+1) (001 Eq 15, the Pi_1-breaking sector for V > 0) decreases with N in the
    interaction-dominated phase (001 Figs 5-6), faster than in the dissipation-dominated one.
    """

    def gap(gI, n):
        return qudit.sector_gaps(QuditLMG.spin_ladder(2, V=1.0, gamma_I=gI, gamma_C=0.2, n=n))

    broken = [gap(0.6, n)[(-1, 1)] for n in (2, 3, 4, 5)]
    assert all(a > b for a, b in zip(broken, broken[1:]))
    polar = [gap(3.0, n)[(-1, 1)] for n in (2, 5)]
    assert broken[-1] / broken[0] < 0.9 * polar[-1] / polar[0]
    # the Pi_2-odd sectors do not close (001 Sec IV: Pi_2 stays unbroken)
    assert gap(0.6, 5)[(1, -1)] > 2 * broken[-1] and gap(0.6, 5)[(-1, -1)] > 2 * broken[-1]
