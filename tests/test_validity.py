"""Validity signals of TWOQS runs: measures in ``Solution.stats``, flags, one warning.

Thresholds and their meaning: :mod:`twoqs_jax._validity` and docs/methods/fidelity.md.
pyproject ignores :class:`TWOQSAccuracyWarning` (many tests run paper 003's variant on
purpose); the runs here record warnings themselves (``pytest.warns``, or
:func:`_no_accuracy_warning` for runs that must not warn).
"""

import warnings

import numpy as np
import pytest

import twoqs_jax as tq
from twoqs_jax import _validity  # the thresholds themselves, checked on purpose


def _no_accuracy_warning(fn):
    """``fn()``, asserting it emits no :class:`TWOQSAccuracyWarning`."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn()
    assert not [w for w in rec if issubclass(w.category, tq.TWOQSAccuracyWarning)]
    return out


def _info(clip=0.0, change=0.0, drift=None):
    return {"clip_fraction": clip, "spin_length_change": change, "window_drift": drift}


def test_thresholds():
    """Each measure flags exactly above its documented threshold, and warns once."""
    for info in (
        _info(_validity.CLIP_FRACTION, _validity.SPIN_LENGTH_CHANGE),
        _info(drift=_validity.WINDOW_DRIFT),
        _info(clip=[0.0, 0.5 * _validity.CLIP_FRACTION]),
    ):
        assert _no_accuracy_warning(lambda info=info: _validity.assess(info)) == []
    cases = (
        (_info(clip=[0.0, 1.01 * _validity.CLIP_FRACTION]), ["clipping"]),
        (_info(change=1.01 * _validity.SPIN_LENGTH_CHANGE), ["spin_length"]),
        (_info(drift=1.01 * _validity.WINDOW_DRIFT), ["not_relaxed"]),
        (_info(0.2, 0.2, 9.0), ["clipping", "spin_length", "not_relaxed"]),
    )
    for info, flags in cases:
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            assert _validity.assess(info) == flags
        assert len(rec) == 1 and issubclass(rec[0].category, tq.TWOQSAccuracyWarning)
        assert all(f in str(rec[0].message) for f in flags)
    assert issubclass(tq.TWOQSAccuracyWarning, UserWarning)


def test_relaxed_default_run_is_not_flagged():
    """Driven spin S = 20, Omega = 0.5 (relaxes within t ~ 10), default method, window
    [40, 60]: no flag, no warning; the projection keeps the spin length to round-off and the
    two halves of the window agree within their errors.
    """
    sol = _no_accuracy_warning(
        lambda: tq.solve(
            tq.driven_spin(20, 0.5),
            tq.spin_down(),
            tq.SteadyState(t_burn=40.0, t_avg=20.0, every=0.5),
            tq.TWOQS(tq.EulerMaruyama(0.05)),
            n_traj=400,
            key=3,
            observables=("Sx", "Sy", "Sz"),
        )
    )
    assert sol.stats["flags"] == []
    assert sol.stats["spin_length_change"] < 1e-9
    assert sol.stats["window_drift"] < _validity.WINDOW_DRIFT
    assert sol.stats["clip_fraction"] == 0.0


def test_unrelaxed_window_warns():
    """The same spin above threshold (Omega = 1.5, relaxation time ~0.7 S = 14) averaged
    over [0.5, 5.5] from m = -S: the window is still relaxing, flagged and warned (measured
    8.3 standard errors between the halves of <S_z>).
    """
    with pytest.warns(tq.TWOQSAccuracyWarning, match="not_relaxed"):
        sol = tq.solve(
            tq.driven_spin(20, 1.5),
            tq.spin_down(),
            tq.SteadyState(t_burn=0.5, t_avg=5.0, every=0.5),
            tq.TWOQS(tq.EulerMaruyama(0.05)),
            n_traj=400,
            key=3,
            observables=("Sz",),
        )
    assert sol.stats["flags"] == ["not_relaxed"]
    assert sol.stats["window_drift"] > _validity.WINDOW_DRIFT


def test_paper_variant_spin_length_warns():
    """Paper 003's variant (no constraint, the paper noise) lets the spin length diffuse:
    driven spin S = 10, Omega = 1.5, t = 10: rms (N - N_0)/2 is a large fraction of S
    (variance rate ~kappa S^2: ~0.5 sqrt(Gamma t / S) = 0.5), flagged and warned.
    """
    with pytest.warns(tq.TWOQSAccuracyWarning, match="spin_length"):
        sol = tq.solve(
            tq.driven_spin(10, 1.5),
            tq.spin_down(),
            tq.SaveAt([0.0, 5.0, 10.0]),
            tq.TWOQS.paper(tq.EulerMaruyama(0.02)),
            n_traj=200,
            key=3,
            observables=("Sz",),
        )
    assert "spin_length" in sol.stats["flags"]
    assert sol.stats["spin_length_change"] > 0.2
    assert sol.stats["window_drift"] is None
    assert np.isfinite(sol.stats["clip_fraction"])
