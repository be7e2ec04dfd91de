"""Validity signals of a TWOQS run: measures, documented thresholds, flags and one warning.

TWOQS is an O(1/S) approximation whose error is larger in a few known situations
(docs/methods/fidelity.md, "Validity signals"). What a run can detect about itself is
reported in ``Solution.stats``; a measure past its threshold is listed in
``stats["flags"]`` and :func:`twoqs_jax.solve` warns once with a
:class:`TWOQSAccuracyWarning`:

- ``"clipping"``: ``max(stats["clip_fraction"]) > CLIP_FRACTION`` (0.05). Only the paper
  noise clips (its Wigner diffusion argument ``|alpha|^2 - 1/2`` of decay, or ``|beta|^2 -
  1/2`` of gain, was negative in more than 5 % of the site-steps): the noise is then
  modified beyond its O(1/S) budget in a region of phase space the run spends much time in.
- ``"spin_length"``: ``stats["spin_length_change"] > SPIN_LENGTH_CHANGE`` (0.05): the
  root-mean-square change of a trajectory's spin length ``(N - N_0)/2`` relative to ``S``
  (largest over sites, times and the batch). The master equation conserves it; without the
  constraint the paper noise makes it diffuse and Euler's Hamiltonian step lets it grow.
- ``"not_relaxed"``: steady states only, ``stats["window_drift"] > WINDOW_DRIFT`` (5): the
  difference of the first-half and second-half averages of ``<S_x>``, ``<S_y>``, ``<S_z>``
  over the averaging window, in units of its standard error (largest over sites and the
  batch; requested spin components only). A relaxed run gives a standard normal number per
  component; 5 is a 1-in-3.5-million false alarm per component. Lengthen ``t_burn``.
- ``"third_order_cut"``: the default's third-order correction of closed dynamics
  (``stats["third_order"]``) outgrew its expansion at ``stats["third_order"]["cut_at"]``
  (the spread of its per-trajectory values exceeded half the observables' own,
  :data:`twoqs_jax._sde.third_order.MAX_SPREAD`); from that saved time on the results are
  plain TWOQS (docs/methods/fidelity.md#third-order).

Not detectable at run time (documented instead): the window around the driven spin's
threshold, where variances are 5-12 % off for every second-order variant, and the
truncation error of nonlinear Hamiltonians where the default's third-order correction does
not run (``stats["third_order"]`` says where it ran; without it one-axis twisting's min xi^2
is 8.8 % low at S = 100), which is in the dynamics itself, not in any run-time symptom.
"""

import warnings

import numpy as np

CLIP_FRACTION = 0.05
SPIN_LENGTH_CHANGE = 0.05
WINDOW_DRIFT = 5.0


class TWOQSAccuracyWarning(UserWarning):
    """A TWOQS run crossed a documented validity threshold (see ``Solution.stats["flags"]``)."""


def spin_length_change(stats, spin) -> float:
    """Largest root-mean-square ``(N - N_0)/2`` over trajectories, relative to ``S``."""
    from ._sde.kernel import SPIN_CHANGE

    mean = np.asarray(stats.mean[SPIN_CHANGE])
    var = np.asarray(stats.m2[SPIN_CHANGE]) / max(stats.count, 1.0)
    spin = np.asarray(spin, dtype=np.float64)
    if mean.ndim > spin.ndim:  # a time axis after the batch axis
        spin = np.expand_dims(spin, -2)
    rms = np.sqrt(mean**2 + var) / spin
    return float(np.nanmax(rms)) if not np.all(np.isnan(rms)) else float("nan")


def window_drift(stats) -> float | None:
    """Largest |first-half - second-half| window average in standard errors (or None)."""
    from ._sde.kernel import HALF_DIFF

    z = [
        np.abs(np.asarray(stats.mean[k])) / np.maximum(stats.sem(k), 1e-300)
        for k in stats.mean
        if k.startswith(HALF_DIFF)
    ]
    z = [x for x in z if not np.all(np.isnan(x))]  # failed sweep points are NaN
    return float(max(np.nanmax(x) for x in z)) if z else None


def assess(info: dict) -> list:
    """The flags of ``info`` (a run's stats dict) and one warning if any (module docstring)."""
    flags, why = [], []
    clip = float(np.max(np.asarray(info["clip_fraction"])))
    if clip > CLIP_FRACTION:
        flags.append("clipping")
        why.append(f"clip fraction {clip:.3g} > {CLIP_FRACTION}")
    if info["spin_length_change"] > SPIN_LENGTH_CHANGE:
        flags.append("spin_length")
        why.append(
            f"rms spin-length change / S {info['spin_length_change']:.3g} > {SPIN_LENGTH_CHANGE}"
        )
    drift = info.get("window_drift")
    if drift is not None and drift > WINDOW_DRIFT:
        flags.append("not_relaxed")
        why.append(f"window drift {round(drift, 2)} sem > {WINDOW_DRIFT}")
    cut = np.asarray((info.get("third_order") or {}).get("cut_at", np.nan), dtype=float)
    if not np.all(np.isnan(cut)):
        flags.append("third_order_cut")
        why.append(
            "the third-order correction outgrew its expansion from t = "
            f"{np.nanmin(cut):g} on (plain TWOQS from there)"
        )
    if flags:
        warnings.warn(
            TWOQSAccuracyWarning(
                f"TWOQS validity thresholds crossed: {', '.join(flags)} ({'; '.join(why)}). "
                "The results may carry more than the O(1/S) error of the method: see "
                "docs/methods/fidelity.md, 'Validity signals'."
            ),
            stacklevel=3,
        )
    return flags
