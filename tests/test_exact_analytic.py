"""Analytic steady state of the driven spin (``driven_spin_steady_state``) against QuTiP.

Cooperative resonance fluorescence, ``H = Omega S_x``, ``kappa = Gamma / S`` (Puri & Lawande
1979; Carmichael 1980): ``rho_ss = X^+ X / Tr``, ``X = sum_n (S^+ / g)^n``,
``g = i Omega / kappa``. The O(S) log-space recursions are checked against the sparse-LU
steady state of the package (``steady_state_exact``, QuTiP), against ``X^+ X`` built densely,
and at large S against the mean-field fixed point (below threshold) and ``<S_z>/S -> 0``
(above threshold).
"""

import tracemalloc

import numpy as np
import pytest
import qutip
from helpers import exact_steady

import twoqs_jax as tq

OBS = ("Sz", "Sz2", "SpSm", "Sx", "Sy")


def _reference(S, Omega, Gamma=1.0):
    model = tq.driven_spin(S, Omega, Gamma)
    ss = exact_steady(model, observables=OBS)
    ref = {
        "Sz": ss["Sz"][0],
        "Sz2": ss["Sz2"][0],
        "SpSm": np.real(ss["SpSm"][0, 0]),
        "Sx": ss["Sx"][0],
        "Sy": ss["Sy"][0],
        "purity": tq.exact.purity(tq.exact.steady_state_rho(model)),
    }
    return {k: float(v) for k, v in ref.items()}


@pytest.mark.parametrize("S", [0.5, 1, 5, 20])
@pytest.mark.parametrize("Omega", [0.3, 1.0, 1.5, 3.0])
def test_matches_qutip_steady_state(S, Omega):
    # measured: max relative error 1.2e-13 (Sz), 5e-14 (others) over this grid
    got = tq.exact.driven_spin_steady_state(S, Omega, 1.0)
    ref = _reference(S, Omega)
    for key in ("Sz", "Sz2", "SpSm", "Sy", "purity"):
        assert got[key] == pytest.approx(ref[key], rel=1e-8, abs=0), key
    assert got["Sx"] == 0.0
    assert abs(ref["Sx"]) < 1e-10 * S


def test_negative_drive_and_other_gamma():
    # Omega -> -Omega flips S_y only; Gamma enters through Omega / Gamma and kappa = Gamma / S
    S, Omega, Gamma = 3.5, -0.7, 0.4
    got = tq.exact.driven_spin_steady_state(S, Omega, Gamma)
    ref = _reference(S, Omega, Gamma)
    for key in ("Sz", "Sz2", "SpSm", "Sy", "purity"):
        assert got[key] == pytest.approx(ref[key], rel=1e-8, abs=0), key
    assert got["Sy"] < 0


def test_matches_dense_closed_form():
    # X^+ X built densely from QuTiP's S^+ (no recursion), incl. the off-diagonal <S^+>
    S, Omega = 6, 0.8
    g = 1j * Omega * S  # i Omega / kappa with Gamma = 1
    sp = qutip.jmat(S, "+").full() / g
    X, term = np.eye(2 * S + 1, dtype=complex), np.eye(2 * S + 1, dtype=complex)
    for _ in range(2 * S):
        term = term @ sp
        X = X + term
    rho = X.conj().T @ X
    rho /= np.trace(rho)
    sz = qutip.jmat(S, "z").full()
    got = tq.exact.driven_spin_steady_state(S, Omega)
    assert got["Sz"] == pytest.approx(np.trace(sz @ rho).real, rel=1e-12)
    assert got["Sz2"] == pytest.approx(np.trace(sz @ sz @ rho).real, rel=1e-12)
    s_plus = np.trace(qutip.jmat(S, "+").full() @ rho)
    assert got["Sx"] == pytest.approx(s_plus.real, abs=1e-12)
    assert got["Sy"] == pytest.approx(s_plus.imag, rel=1e-12)
    assert got["purity"] == pytest.approx(np.trace(rho @ rho).real, rel=1e-12)


def test_zero_drive_is_the_ground_state():
    got = tq.exact.driven_spin_steady_state(2.5, 0.0)
    assert got == {"Sz": -2.5, "Sz2": 6.25, "SpSm": 0.0, "Sx": 0.0, "Sy": 0.0, "purity": 1.0}
    weak = tq.exact.driven_spin_steady_state(2.5, 1e-9)
    assert weak["Sz"] == pytest.approx(-2.5, rel=1e-15)


@pytest.mark.parametrize(
    "args, match",
    [
        ((0, 1.0), "`S`"),
        ((-1, 1.0), "`S`"),
        ((1.3, 1.0), "`S`"),
        ((np.nan, 1.0), "`S`"),
        (("5", 1.0), "`S`"),
        ((5, np.inf), "`Omega`"),
        ((5, np.nan), "`Omega`"),
        ((5, 1.0 + 0.5j), "`Omega`"),
        ((5, [1.0, 2.0]), "`Omega`"),
        ((5, 1.0, 0.0), "`Gamma`"),
        ((5, 1.0, -1.0), "`Gamma`"),
        ((5, 1.0, np.inf), "`Gamma`"),
    ],
)
def test_bad_inputs_raise(args, match):
    with pytest.raises(ValueError, match=match):
        tq.exact.driven_spin_steady_state(*args)


def test_large_S_limits():
    # The closed form is O(S) in time and memory: at S = 1000 both calls together peaked at
    # 0.24 MB of (traced) allocations, where one dense (2S+1)^2 float64 matrix takes 32 MB.
    # Below threshold: mean field Z = -sqrt(1 - (Omega/Gamma)^2) and <S_y> = |g| =
    # Omega S / Gamma (up to exponentially small terms); above threshold <S_z> stays O(1)
    # (-0.257 measured), so <S_z>/S -> 0.
    S = 1000
    closed_form = tq.exact.driven_spin_steady_state
    closed_form(2, 0.5)  # first call: imports and caches outside the measurement
    tracemalloc.start()
    try:
        below = closed_form(S, 0.5)
        above = closed_form(S, 1.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4e6, f"closed form allocated {peak / 1e6:.1f} MB at S = {S}: not O(S)"
    for r in (below, above):
        assert all(np.isfinite(v) for v in r.values())
        assert abs(r["Sz"]) / S <= 1
        assert 0 < r["purity"] <= 1
        # S_x^2 + S_y^2 + S_z^2 = S(S+1) with <S^+S^-> = <S_x^2 + S_y^2> + <S_z>
        assert r["SpSm"] - r["Sz"] + r["Sz2"] == pytest.approx(S * (S + 1), rel=1e-12)
    assert below["Sz"] / S == pytest.approx(-np.sqrt(1 - 0.5**2), abs=1e-2)
    assert below["Sy"] == pytest.approx(0.5 * S, rel=1e-10)
    assert abs(above["Sz"] / S) < 1e-2
    big = tq.exact.driven_spin_steady_state(5000, 1.5)
    assert all(np.isfinite(v) for v in big.values())
    assert abs(big["Sz"] / 5000) < 1e-3
