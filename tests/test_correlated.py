"""Jumps correlated across sites (tq.CorrelatedJump): ``L = sum_i c_i S_i^a``.

Symmetry check: two spins S in a product of equal spin coherent states live in the
symmetric (total spin 2S) subspace, and ``L = S_1^- + S_2^-`` is the total lowering
operator, so the pair evolves exactly as one spin 2S decaying at the same rate (any S). Every
backend that registers the jump must reproduce it for the collective observables
``sum_i <S_i^z>``, ``sum_ij <S_i^+ S_j^->`` and ``sum_ij <S_i^z S_j^z>``: exactly (exact), and
as the same closed equations (mean field, cumulants: the collective moments obey the
equations of one spin 2S). On one site the jump is :class:`tq.SpinJump` in every backend.
"""

import numpy as np
import pytest
from helpers import assert_same_equations

import twoqs_jax as tq

TS = np.linspace(0.0, 3.0, 7)
OBS = ["Sz", "SpSm", "SzSz"]


def _collective(sol):
    return (
        np.sum(sol["Sz"], axis=-1),
        np.sum(sol["SpSm"], axis=(-2, -1)),
        np.sum(sol["SzSz"], axis=(-2, -1)),
    )


@pytest.mark.parametrize(
    ("S", "method", "theta"),
    [
        (1.5, tq.Exact(), 0.0),  # both fully up
        (1.0, tq.Exact(), 0.4),
        (1.5, tq.Cumulants(), 0.0),
        (2.0, tq.MeanField(), 0.3),  # fully up is a mean-field fixed point: tilt it
        (1.5, tq.Cumulants(), 0.3),
    ],
)
def test_two_ensembles_in_one_channel_are_one_spin_2S(S, method, theta):
    rate = 0.4
    pair = tq.SpinModel([S, S], jumps=[tq.CorrelatedJump(rate, c_minus=1.0)])
    one = tq.SpinModel(2 * S, decay=rate)
    state2 = tq.SpinCoherentState(theta, 0.2, n_sites=2)
    state1 = tq.SpinCoherentState(theta, 0.2, n_sites=1)
    got = _collective(tq.solve(pair, state2, tq.SaveAt(TS), method, observables=OBS))
    want = _collective(tq.solve(one, state1, tq.SaveAt(TS), method, observables=OBS))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6 * (2 * S) ** 2)
    # the dynamics is not trivial: the excitation decays
    assert want[0][-1] < want[0][0] - 0.3 * S


def test_independent_decay_is_not_one_spin_2S():
    """The check can fail: two independent channels (tq.Decay on each site) decay slower
    than the collective channel from the fully-up state (no superradiant enhancement).
    """
    S, rate = 1.5, 0.4
    sep = tq.SpinModel([S, S], decay=rate)
    one = tq.SpinModel(2 * S, decay=rate)
    a = np.sum(tq.solve(sep, tq.spin_up(2), tq.SaveAt(TS), tq.Exact(), observables="Sz")["Sz"], -1)
    b = tq.solve(one, tq.spin_up(1), tq.SaveAt(TS), tq.Exact(), observables="Sz")["Sz"][:, 0]
    assert np.max(np.abs(a - b)) > 0.1


@pytest.mark.slow
def test_one_site_correlated_jump_is_spin_jump():
    cm, cp, cz = 0.7 + 0.2j, 0.3j, 0.5 - 0.1j
    kw = dict(field={"x": 0.3})
    A = tq.SpinModel(2.5, **kw, jumps=[tq.CorrelatedJump(0.3, cm, cp, cz)])
    B = tq.SpinModel(2.5, **kw, jumps=[tq.SpinJump(0.3, cm, cp, cz)])
    assert_same_equations(A, B, np.random.default_rng(0))


@pytest.mark.slow
def test_complex_mixed_channel_cumulants_close_to_exact():
    """An asymmetric channel ``L = S_1^- + e^{i pi/3} 0.6 S_2^- + 0.3 S_1^z`` with fields:
    second-order cumulants track exact results at S = 4 (budget: the third cumulants they
    drop; measured max over t <= 3: 0.018 S on <S_z>, 0.006 S on <S_x>; 0.1 S allowed), mean
    field less well (0.11 S, 0.14 S).
    """
    S = 4.0
    L = tq.CorrelatedJump(0.15, c_minus=[1.0, 0.6 * np.exp(1j * np.pi / 3)], c_z=[0.3, 0.0])
    model = tq.SpinModel([S, S], field={"x": [0.3, -0.2]}, jumps=[L])
    state = tq.SpinCoherentState([0.5, 1.0], [0.0, 0.5])
    ex = tq.solve(model, state, tq.SaveAt(TS), tq.Exact(), observables=["Sz", "Sx"])
    cu = tq.solve(model, state, tq.SaveAt(TS), tq.Cumulants(), observables=["Sz", "Sx"])
    mf = tq.solve(model, state, tq.SaveAt(TS), tq.MeanField(), observables=["Sz", "Sx"])
    err_cu = max(np.max(np.abs(cu[k] - ex[k])) for k in ("Sz", "Sx"))
    err_mf = max(np.max(np.abs(mf[k] - ex[k])) for k in ("Sz", "Sx"))
    assert err_cu < 0.1 * S, err_cu
    assert err_cu < err_mf, (err_cu, err_mf)


def test_validation_and_kernel_refusal():
    with pytest.raises(ValueError, match="at least one of"):
        tq.CorrelatedJump(0.1)
    with pytest.raises(ValueError, match="rate"):
        tq.CorrelatedJump(-0.1, c_minus=1.0)
    with pytest.raises(ValueError, match=r"c_minus.*shape \(2,\)"):
        tq.SpinModel([1, 1], jumps=[tq.CorrelatedJump(0.1, c_minus=[1.0, 1.0, 1.0])])
    with pytest.raises(ValueError, match="scalar"):
        tq.SpinModel([1, 1], jumps=[tq.CorrelatedJump([0.1, 0.2], c_minus=1.0)])
    model = tq.SpinModel([1, 1], jumps=[tq.CorrelatedJump(0.1, c_minus=1.0)])
    # the main kernel's lowering refuses it (tq.solve routes it to the integrator of
    # twoqs_jax._twoqs_cavity, tests/test_twoqs_cavity.py)
    from twoqs_jax._phase_space.lowering import lower

    with pytest.raises(NotImplementedError, match="CorrelatedJump"):
        lower(model)


def test_saved_and_loaded(tmp_path):
    model = tq.two_ensembles(1.5, Gamma=0.3, phase=0.5)
    sol = tq.solve(model, tq.spin_up(2), tq.SaveAt([0.0, 1.0]), tq.Exact(), observables="Sz")
    tq.save(tmp_path / "r.h5", sol, model=model)
    jump = tq.load(tmp_path / "r.h5").model.jumps[-1]
    assert isinstance(jump, tq.CorrelatedJump) and jump.c_plus is None
    np.testing.assert_allclose(jump.c_minus, [1.0, np.exp(0.5j)])
    assert float(jump.rate) == 0.3
