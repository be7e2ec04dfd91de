"""Every entry of the error map at S <= 100 pinned for the default TWOQS (issue 13).

For each regime of ``benchmarks/error_map.py`` (imported: its own models, protocols, exact
references, observables and error definitions), each of its observables and each of its
``S <= 100`` whose exact reference fits the memory guard, the default method
(``tq.TWOQS(tq.EulerMaruyama(dt))`` at the regime's ``dt``, the map's ``n_traj``, key
``KEY``) is rerun together with the exact result, and at every saved time (steady states:
the one value; ``min xi2``: the minimum over the grid, as the map defines it)

    |error| <= Z * sem + c / S + flat,

with the map's error (first moments ``(TWOQS - exact) / S``; second moments and ``xi^2``
relative to the largest exact value over the grid) and its standard error. Nothing is read
from the committed ``error_map.json``: the test draws new trajectories (the map was run with
key 0 before the kernel's counter-based streams; the test uses ``KEY = 1``), so it can fail.

How each ``c`` is set (``BUDGET``, one comment per entry with the map's numbers, default
variant, 2000 trajectories, 20000 for twisting; ``benchmarks/results/error_map.md``):

- **derived**: where a derivation or a dedicated measurement gives the size of the error
  (the driven spin: the budgets of ``tests/test_twa_fidelity.py`` and their derivation in
  ``docs/methods/fidelity.md``; dephasing: TWOQS is exact there, ``c = 0``);
- **rule A** (the map resolves the error at > 3 sem at some ``S <= 100``): 1.5 times the
  largest measured prefactor ``S |error|`` over those ``S`` (a 3-sem point estimate is
  uncertain by up to a third of itself; the margin covers that);
- **rule B** (the map resolves no error at ``S <= 100``): the map's 2-sem upper bound on a
  ``c / S`` error at its smallest ``S``, ``c = S_min (|error| + 2 sem)``: the tightest bound
  the map gives on ``c``, since ``c / S`` is largest at ``S_min`` while the standard errors
  of these entries do not shrink with ``S``.

``flat`` is nonzero only where the docs derive or measure an error that does not shrink
with ``S``: Euler's step bias (weak order 1, at the regime's ``dt``), the driven spin at
threshold and the Fock-sampling truncation of one-axis twisting (``docs/methods/fidelity.md``,
"Inherent limits"), and the residual Var S_z = 1/4 of relaxed polarised states in the chain
(docs/derivations/twoqs.md, "quarter residual"; ``c = 0`` there). ``Z = 4`` as in the other fidelity tests: with 16-41 saved times per
entry, checked pointwise, a correct method fails an entry with probability below
41 x 6e-5 = 3e-3 even with no bias slack.

Cost: the default suite pins the three cheapest regimes (superradiance, dephasing, the
driven spin below threshold) at ``S = 10, 20`` (16 entries, about 40 s of one core with
compilation, one per regime and time grid); the other 119 are ``slow`` (about 11 minutes of
CPU time, most of it the exact steady states of the LMG dimer at S = 6 and the chain at
S = 2). Entries that miss their justified budget are ``xfail(strict=True)`` with the measured numbers
(``XFAIL``) and are documented in ``docs/methods/fidelity.md`` ("Pinned entries").
"""

import functools
import warnings

import numpy as np
import pytest
from helpers import load_benchmark

import twoqs_jax as tq

Z = 4.0
KEY = 1
N_TRAJ = 2000  # the map's (x10 for twisting: the regime's n_traj_factor)


em = load_benchmark("error_map")


def _second_order_oat(S, scale):
    """One-axis twisting, min xi^2, with the default's third-order correction: what remains
    is second order in the third-order term. The first-order effect is the truncation error
    of plain TWOQS, measured within 0.37-0.41 S^(-1/3) (-17.0 .. -8.8 % at S = 10 .. 100,
    benchmarks/results/oat_truncation.md; 0.49 S^(-1/3) with a 20 % margin for the Euler step
    and the grid's minimum), so the remainder is bounded by its square, 0.24 S^(-2/3) (5.2 %
    at S = 10, 1.1 % at S = 100). Measured: -1.1(5) % at S = 10, -0.9(5) to -0.9(6) % at S = 25 .. 400 with 200000
    trajectories (benchmarks/results/oat_third_order.md); the map's -0.029(14) .. -0.034(17).
    """
    return (0.49 * S ** (-1.0 / 3.0)) ** 2


def _quarter(S, scale):
    """The residual Var S_z = 1/4 of Fock sampling with the projection in a relaxed
    polarised state, where exact is 0 (docs/derivations/twoqs.md#quarter-residual): an O(1)
    absolute excess, its value at full polarisation, relative to the exact Var S_z (``scale``).
    """
    return 0.25 / scale


# (regime, observable): (c, flat); flat is a number or flat(S, scale) with scale the map's
# (S or the largest |exact|; the exact minimum for min xi2). The comment gives the map's signed errors (sem) at S <= 100.
BUDGET = {
    # superradiance, dt = 0.01. Sz: -0.0088(116) -0.0062(115) +0.0052(45) +0.0062(67): rule B
    # 10 (0.0088 + 2 x 0.0116); flat 1.2 dt: Euler's step error of <S_z>/S in the burst
    # (issue 13: 0.006-0.012 at dt = 0.01, 0.0027 at dt = 0.005)
    ("superradiance", "Sz"): (0.32, 1.2 * 0.01),
    # varz: +0.0413(234) +0.0231(434) +0.0440(367) +0.0465(371): rule B 10 (0.0413 + 0.0468)
    ("superradiance", "varz"): (0.88, 0.0),
    # dephasing, dt = 0.005: derived exact. The dephasing noise is the exact Wigner diffusion
    # (no vacuum part, no third-order term) and a state-independent diffusion of the phase,
    # so <S_x>, Var S_x, Var S_y are linear in the initial first and second moments, which
    # Fock sampling reproduces exactly: c = 0. flat 0.3 dt: Euler with projection, measured
    # 0.063 dt in <S_x>/S at t = 2 (fidelity.md, time step), x 4 for the doubled phase of
    # the variances. Map: Sx -0.0205(153), varx -0.0200(147), vary +0.03(12) at every S (one
    # key: the same fluctuation at every S)
    ("dephasing", "Sx"): (0.0, 0.3 * 0.005),
    ("dephasing", "varx"): (0.0, 0.3 * 0.005),
    ("dephasing", "vary"): (0.0, 0.3 * 0.005),
    # driven spin, dt = 0.02: the budgets of tests/test_twa_fidelity.py (fidelity.md,
    # "Measured errors"): <S_y>/S 0.06/S (fitted c = 0.048(4) above threshold), <S_z>/S
    # 0.05/S + 0.2 dt (Euler's step bias 0.14 dt), Var S_z 0.75 dt relative (Euler's ~0.4 dt).
    # below: Sz -0.0020(11) -0.0012(6) -0.0006(3) -0.0004(2); Sy -0.0020(11) -0.0011(8)
    # -0.0006(5) -0.0004(3)
    ("driven_below", "Sz"): (0.05, 0.2 * 0.02),
    ("driven_below", "Sy"): (0.06, 0.0),
    # varz +0.2016(103) +0.0947(75) +0.0319(59) +0.0115(55): an O(1) absolute excess
    # 0.31-0.33 over an exact Var S_z ~ S, i.e. c / S relative; rule A 1.5 x 2.016
    ("driven_below", "varz"): (3.0, 0.75 * 0.02),
    # threshold: Sz -0.0196(25) -0.0098(17) -0.0057(11) -0.0023(7): rule A 1.5 x 0.285
    ("driven_threshold", "Sz"): (0.43, 0.2 * 0.02),
    # Sy +0.0014(18) +0.0052(13) +0.0051(9) +0.0048(6): flat +0.004-0.005, inherent to the
    # truncation at threshold (fidelity.md, "Inherent limits"): flat 0.006 as in
    # test_twa_fidelity
    ("driven_threshold", "Sy"): (0.06, 0.006),
    # varz -0.0483(82) -0.0517(79) -0.0601(64) -0.0628(68): flat -5..-7 %, inherent (same
    # section): flat 0.10 as in test_twa_fidelity
    ("driven_threshold", "varz"): (0.0, 0.10),
    # above: Sz +0.0009(10) +0.0040(5) +0.0032(2) +0.0027(1) (the +0.0028 = 0.14 dt step
    # bias); Sy +0.0017(19) +0.0016(14) -0.0001(11) +0.0000(11)
    ("driven_above", "Sz"): (0.05, 0.2 * 0.02),
    ("driven_above", "Sy"): (0.06, 0.0),
    # varz +0.0037(52) -0.0017(56) +0.0031(53) +0.0012(59): rule B 10 (0.0037 + 0.0104)
    ("driven_above", "varz"): (0.14, 0.75 * 0.02),
    # one-axis twisting, dt = 0.01, with the third-order correction (the default). Sz
    # -0.0095(45) -0.0098(45) -0.0100(44) -0.0099(41); plain TWOQS in the map's earlier random
    # stream +0.0147(41) +0.0079(41) +0.0042(44) +0.0028(41): rule A 1.5 x 0.147 (kept)
    ("oat", "Sz"): (0.22, 0.0),
    # min xi2 -0.0310(154) -0.0293(144) -0.0337(166) -0.0323(163); plain -0.1992(147) ..
    # -0.1218(162): the second order in the third-order term (flat term)
    ("oat", "min xi2"): (0.0, _second_order_oat),
    # vary -0.0075(48) -0.0088(44) -0.0097(41) -0.0101(40); plain (earlier stream) +0.0215(42)
    # .. : rule A 1.5 x 0.215 (kept)
    ("oat", "vary"): (0.32, 0.0),
    # with decay Gamma = 0.1. Sz +0.0052(34) +0.0041(36) +0.0015(22) +0.0015(14): rule B
    # 10 (0.0052 + 0.0068)
    ("oat_decay", "Sz"): (0.12, 0.0),
    # min xi2 -0.1062(103) -0.0566(91) -0.0167(106) -0.0194(95): rule A 1.5 x 1.13 (S = 20)
    ("oat_decay", "min xi2"): (1.70, 0.0),
    # with dephasing Gamma_phi = 0.01. Sz +0.0150(37) +0.0055(30) +0.0067(39) +0.0020(43):
    # rule A 1.5 x 0.150
    ("oat_dephasing", "Sz"): (0.23, 0.0),
    # min xi2 -0.0906(135) -0.0588(111) -0.0066(124) -0.0186(127): rule A 1.5 x 1.18 (S = 20)
    ("oat_dephasing", "min xi2"): (1.76, 0.0),
    # LMG dimer, dt = 0.01, S = 2..6 (map's S = 2, 4, 6, 8, 10 in the normal phase).
    # normal: Sz_A +0.0000(41) -0.0003(21) -0.0004(14); Sz_B +0.0053(42) +0.0023(21)
    # +0.0013(14); SzA SzB -0.0053(59) -0.0026(30) -0.0017(20): rule B at S = 2
    ("lmg_dimer_normal", "Sz_A"): (0.017, 0.0),
    ("lmg_dimer_normal", "Sz_B"): (0.027, 0.0),
    ("lmg_dimer_normal", "SzA SzB"): (0.034, 0.0),
    # J = 1.5: Sz_A +0.0138(39) +0.0066(27) +0.0041(20) +0.0031(16) +0.0024(14): rule A
    # 1.5 x 0.0276; Sz_B -0.0271(14) -0.0078(10) -0.0057(9) -0.0020(8) +0.0009(7): rule A
    # 1.5 x 0.0542; SzA SzB +0.0665(53) +0.0254(36) +0.0174(28) +0.0076(24) +0.0006(21):
    # rule A 1.5 x 0.133 (errors fall as S^-1.8 .. S^-2.5: the S = 2 prefactor bounds them)
    ("lmg_dimer_J", "Sz_A"): (0.041, 0.0),
    ("lmg_dimer_J", "Sz_B"): (0.081, 0.0),
    ("lmg_dimer_J", "SzA SzB"): (0.20, 0.0),
    # J = 1.5, lam = 0.5: Sz_A -0.0217(44) -0.0013(37) +0.0020(31) +0.0035(26) +0.0017(21):
    # rule A 1.5 x 0.0434; Sz_B +0.0051(27) -0.0060(24) -0.0041(21) -0.0054(18) -0.0033(16):
    # rule B 2 (0.0051 + 0.0054); SzA SzB +0.0458(89) +0.0449(67) +0.0352(55) +0.0261(46)
    # +0.0176(39): rule A 1.5 x 0.141 (S = 4)
    ("lmg_dimer_J_lam", "Sz_A"): (0.065, 0.0),
    ("lmg_dimer_J_lam", "Sz_B"): (0.021, 0.0),
    ("lmg_dimer_J_lam", "SzA SzB"): (0.21, 0.0),
    # XY chain, 3 sites, dt = 0.01, S = 1, 2 (S = 3, 4 exceed the exact solver's memory
    # guard). Sz -0.0657(81) -0.0130(45): rule A 1.5 x 0.0657; Sz0 Sz1 +0.1077(142)
    # +0.0177(70): rule A 1.5 x 0.108
    ("chain", "Sz"): (0.099, 0.0),
    ("chain", "Sz0 Sz1"): (0.16, 0.0),
    # varz +0.6915(249) +0.7122(227): not O(1/S) relative. The residual 1/4 of relaxed
    # polarised states (an O(1) absolute excess; absolute here 0.13 and 0.21 over an exact
    # Var S_z of 0.19 and 0.30 at S = 1, 2, itself O(1) since the chain is polarised): flat
    # 1/4 absolute, c = 0
    ("chain", "varz"): (0.0, _quarter),
}

# entries that miss their budget: (regime, S, observable) -> measured numbers and reason
XFAIL = {}

# the default suite: cheap regimes at small S (compilation dominates: one per regime)
CHEAP = {(r, S) for r in ("superradiance", "dephasing", "driven_below") for S in (10, 20)}


def _entries():
    out = []
    for rname, regime in em.REGIMES.items():
        for S in regime["S"]:
            if S > 100 or (rname == "chain" and S > 2):  # chain S = 3, 4: no exact reference
                continue
            for label, _, _ in regime["observables"]:
                marks = [] if (rname, S) in CHEAP else [pytest.mark.slow]
                if (rname, S, label) in XFAIL:
                    marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[rname, S, label]))
                out.append(pytest.param(rname, S, label, marks=marks, id=f"{rname}-S{S}-{label}"))
    return out


@functools.lru_cache(maxsize=None)
def _run(rname, S):
    """Exact and default-TWOQS values of one regime at one ``S`` (shared by its observables)."""
    regime = em.REGIMES[rname]
    exact = em.exact_values(regime, S)
    method = em._variants()["default"](regime["dt"])
    n = N_TRAJ * regime.get("n_traj_factor", 1)
    with warnings.catch_warnings():
        # one-axis twisting at S = 10 runs past the time where the third-order correction is
        # cut (t = 7.97 of 8.62: a documented, flagged event, asserted below)
        warnings.simplefilter("ignore", tq.TWOQSAccuracyWarning)
        mean, sem, stats = em.twoqs_values(regime, S, method, n, KEY)
    return exact, mean, sem, stats


def test_budget_table_covers_the_map():
    """Every (regime, observable) of the map has a budget, and only those do."""
    keys = {(r, label) for r, reg in em.REGIMES.items() for label, _, _ in reg["observables"]}
    assert set(BUDGET) == keys


@pytest.mark.parametrize(("rname", "S", "label"), _entries())
def test_error_map_entry(rname, S, label):
    regime = em.REGIMES[rname]
    exact, mean, sem, stats = _run(rname, S)
    c, flat = BUDGET[rname, label]
    kind = next(k for lab, _, k in regime["observables"] if lab == label)
    if kind == "min":
        err, s, signed = em.entry_error(kind, S, mean[label], sem[label], exact[label])
        bias = c / S + (flat(S, float(np.min(exact[label]))) if callable(flat) else flat)
        assert err <= Z * s + bias, (rname, S, label, f"error {signed:+.4f} sem {s:.4f}", bias)
    else:
        value, sd, ex = (
            np.atleast_1d(np.asarray(x, float)) for x in (mean[label], sem[label], exact[label])
        )
        scale = S if kind == "first" else max(float(np.max(np.abs(ex))), 1e-300)
        dev, se = (value - ex) / scale, sd / scale
        bias = c / S + (flat(S, scale) if callable(flat) else flat)
        worst = int(np.argmax(np.abs(dev) - Z * se))
        assert np.all(np.abs(dev) <= Z * se + bias), (
            rname,
            S,
            label,
            f"error {dev[worst]:+.4f} sem {se[worst]:.4f} at point {worst}",
            f"budget Z sem + {bias:.4f}",
        )
    assert float(np.max(stats.get("clip_fraction", 0.0))) == 0.0  # the tangential noise
    assert set(stats["flags"]) <= ({"third_order_cut"} if (rname, S) == ("oat", 10) else set())
