r"""Gradient estimators of :func:`twoqs_jax.gradient` and their noise-independent parts.

An estimator is a small Module naming *how* ``d<O>/dp`` is estimated from TWOQS
trajectories (derivations: ``docs/methods/gradients.md``):

- :class:`Pathwise`: differentiate every trajectory with its random numbers held fixed
  (``v_{k+1} = J_k v_k + dA/dp dt + dB/dp dW_k``). Unbiased; its variance is that of the
  tangent dynamics: bounded near stable fixed points, growing with time under the shear of
  neutral orbits and exponentially where the tangent dynamics is chaotic.
- :class:`LikelihoodRatio`: weight observables by the score ``W_k = sum_{k' < k} s_{k'}``,
  ``s_k = delta(y_k) . dW_k`` with ``B(y_k) delta = dA/dp`` (Girsanov for Gaussian
  increments; the exact likelihood ratio of a tilted two-point chain for two-point ones).
  ``memory=None``: full memory (exact for finite times; variance grows with the time since
  ``ts[0]``). ``memory=(m0, width)``: for steady states, the stationary response summed
  with a triangular memory taper (bounded variance ~ ``1/t_avg``), less a control variate
  on the conserved spin lengths (:func:`length_control`; unbiased, cross-fitted).
- :class:`FiniteDifference`: the central difference ``[O(p + h) - O(p - h)] / 2h`` of every
  trajectory run at both points with the same random numbers (common random numbers; the
  runs in :mod:`twoqs_jax._finite_difference`). Bias ``h^2 O'''/6``; its variance falls
  with the window of a steady state, and it covers every parameter (rates included).
- :class:`Auto`: a pilot run picks one by the documented rule (:func:`choose`).

This module holds the Modules and everything that does not depend on the noise model: the
reducers from per-block records to per-trajectory estimator values, the memory kernels,
the pilot's correlation summary and long-lag level, and the selection rule. The score itself is computed from
the scheme's step in :mod:`twoqs_jax._score`.
"""

import math

import equinox as eqx
import numpy as np

from ._checks import check_in, check_int

COST_PATHWISE = 1.0
COST_LR = 1.7
"""Relative cost per step of the two estimators in the selection rule (measured on CPU,
float64, one site: pathwise 5.7e6, score 3.4e6 steps/s)."""
M0_FACTOR = 2.5
"""Memory ``m0 = 2.5 tau_e`` when the pilot's autocorrelation oscillates (period ``P``;
triangular taper of width ``2P``)."""
M0_FACTOR_MONOTONE = 4.0
"""Memory ``m0 = 4 tau_e`` (width ``2 tau_e``) for a non-oscillating autocorrelation."""
PLATEAU_MAX = 0.1
"""A normalised autocorrelation that keeps this level at separations beyond three of its
correlation times (after regressing out the conserved spin lengths, by more than
``PLATEAU_Z`` standard errors; :func:`long_lag_level`) means the trajectories do not mix:
no stationary gradient."""
PLATEAU_LAGS = 3.0
"""The long-lag level is measured at separations ``>= 3 tau_e``, where a single-exponential
autocorrelation with e-fold time ``tau_e`` has fallen to ``e^-3 = 0.05 < PLATEAU_MAX``."""
PLATEAU_Z = 2.0
"""The refusal needs the level above ``PLATEAU_MAX`` by this many standard errors."""


# ------------------------------------------------------------------ the Modules
class AbstractEstimator(eqx.Module):
    """A gradient estimator of :func:`twoqs_jax.gradient` (abstract)."""


class Pathwise(AbstractEstimator):
    """Pathwise (common random numbers) derivative of every trajectory.

    Attributes:
        mode: ``"forward"`` (``jax.jvp`` per parameter; memory independent of the number of
            steps) or ``"reverse"`` (``jax.jacrev`` with ``jax.checkpoint`` per block).

    Examples:
        >>> import twoqs_jax as tq
        >>> est = tq.Pathwise()
    """

    mode: str = eqx.field(static=True, default="forward")

    def __check_init__(self):
        check_in("mode", self.mode, ("forward", "reverse"))


class LikelihoodRatio(AbstractEstimator):
    r"""Likelihood-ratio (score-function) estimator for parameters of the drift.

    ``d E[f(y_t)]/dp = E[(f(y_t) - b_t) W_t]``, ``W_t = sum_{k < t/dt} delta(y_k) . dW_k``
    with ``B(y_k) delta = dA/dp`` on the physical tangent space (spin rotations; needs the
    spin-length constraint) and a baseline ``b_t`` independent of the trajectory's own
    score (the leave-one-out mean of its chunk), which keeps it unbiased. Parameters that
    move the noise amplitudes (jump rates) are refused: use :class:`Pathwise` or
    reparametrise (e.g. the driven spin's steady state depends on ``Omega / Gamma`` only).

    Attributes:
        memory: ``None``: full memory (every score since ``ts[0]``; exact for
            :class:`SaveAt` and finite windows). ``(m0, width)`` (time units, steady states
            only): the stationary response with a triangular memory kernel on
            ``[m0, m0 + width]``; choose ``width`` = twice the period of the
            autocorrelation and ``m0`` >= 2.5 correlation times (:func:`memory_rule`).
            ``"auto"``: ``(m0, width)`` from a pilot run.

    Examples:
        >>> import twoqs_jax as tq
        >>> est = tq.LikelihoodRatio(memory=(30.0, 11.5))
    """

    memory: tuple | str | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        m = self.memory
        if m is None or m == "auto":
            return
        ok = isinstance(m, tuple) and len(m) == 2
        ok = ok and all(isinstance(x, int | float) and math.isfinite(x) for x in m)
        if not ok or m[0] <= 0 or m[1] < 0:
            raise ValueError(
                f"`memory` must be None, 'auto' or a tuple (m0, width) of times with m0 > 0 "
                f"and width >= 0, got {m!r}."
            )


class FiniteDifference(AbstractEstimator):
    r"""Central finite difference with common random numbers, for every parameter.

    Every trajectory ``i`` is run at ``p`` and at ``p +- h e_j`` for every parameter ``j``
    with the same random numbers (its initial sample, hence its conserved spin lengths, and
    its increments depend on ``(key, i)`` only), and its derivative is the paired difference

    ``D_i = [O_i(p + h e_j) - O_i(p - h e_j)] / 2h``,

    whose mean estimates ``d<O>/dp_j`` and whose standard error is that of the ``D_i``
    (nonlinear observables: the chain rule over the moments with a jackknife, as the other
    estimators). What the two runs share (the conserved spin lengths, which carry much of a
    window mean's spread on the LMG dimer) cancels in the difference; the rest is that of
    two window means, whose variance falls like ``1/t_avg``. The values (``mean``) are those
    of the run at ``p``, equal to :func:`twoqs_jax.solve`'s for the same key up to round-off
    (``solve`` steps site-major, the gradient runs per trajectory).

    Bias: that of the difference quotient of the *TWOQS* expectation,
    ``h^2 O'''(p)/6 + O(h^4)`` (``richardson=True``: ``(4 D(h) - D(2h))/3``, bias
    ``-h^4 O^{(5)}(p)/30``, two more runs per parameter and a larger variance). Choose ``h``
    from the exact curve where one exists (``tq.solve(..., tq.Exact())`` at ``p +- h``): on
    the LMG dimer (``S = 10``, ``lambda = 1``, ``Z_A``) the exact central difference is off
    by +0.9 % at ``h = 0.05``, +3.8 % at 0.1 and +17 % at 0.2; Richardson at ``h = 0.1``:
    -0.7 %. Cost: ``2 n_par + 1`` runs (``4 n_par + 1`` with Richardson), vectorised per
    trajectory. Covers every parameter, jump rates included (a step that makes a rate
    negative is refused).

    Attributes:
        h: the step, in the units of the parameters (one step for all of them), > 0.
        richardson: extrapolate from ``h`` and ``2h`` (bias ``O(h^4)``).

    Examples:
        >>> import twoqs_jax as tq
        >>> est = tq.FiniteDifference(h=0.1)
    """

    h: float = eqx.field(static=True)
    richardson: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        h = self.h
        real = isinstance(h, int | float | np.integer | np.floating) and not isinstance(h, bool)
        ok = real and math.isfinite(h)
        if not ok or h <= 0:
            raise ValueError(f"`h` must be a finite step > 0 (the parameters' units), got {h!r}.")
        if not isinstance(self.richardson, bool):
            raise ValueError(f"`richardson` must be True or False, got {self.richardson!r}.")


class Auto(AbstractEstimator):
    """Pick :class:`Pathwise` or :class:`LikelihoodRatio` from a pilot run (:func:`choose`).

    For a steady state the pilot also checks that the trajectories mix: the correlation of
    ``S_x, S_y, S_z`` left at separations beyond three of their correlation times
    (:func:`long_lag_level`); above ``PLATEAU_MAX = 0.1`` by more than 2 standard errors
    the gradient is refused (a ``RuntimeError`` naming a longer window and
    :class:`FiniteDifference`). The pick and the pilot's numbers are in ``stats["reason"]``.
    Rule and measurements: ``docs/methods/gradients.md#rule``.

    Attributes:
        pilot_traj: trajectories of the pilot (its own key, ``pilot_key``).
        pilot_key: integer seed of the pilot (independent of the main run's key).

    Examples:
        >>> import twoqs_jax as tq
        >>> est = tq.Auto(pilot_traj=256)
    """

    pilot_traj: int = eqx.field(static=True, default=256)
    pilot_key: int = eqx.field(static=True, default=987654)

    def __check_init__(self):
        check_int("pilot_traj", self.pilot_traj, minimum=16)
        check_int("pilot_key", self.pilot_key, minimum=0)


# ------------------------------------------------------------------ reducers (numpy)
def loo_mean(g: np.ndarray) -> np.ndarray:
    """Leave-one-out mean over axis 0 (the baseline of trajectory ``i`` excludes it).

    Any baseline independent of a trajectory's own score keeps the estimator unbiased; a
    single trajectory gets the baseline 0.
    """
    c = g.shape[0]
    if c < 2:
        return np.zeros_like(g)
    return (np.sum(g, axis=0, keepdims=True) - g) / (c - 1)


def lr_time(f: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Per-trajectory full-memory LR values at saving times.

    Args:
        f: ``(c, T, *shape)`` observable values per trajectory and time.
        W: ``(c, T, P)`` cumulative scores at the same times.

    Returns:
        ``(c, T, *shape, P)``: ``(f - b) W`` with the leave-one-out baseline ``b``.
    """
    fc = f - loo_mean(f)
    extra = (slice(None), slice(None)) + (None,) * (f.ndim - 2)
    return fc[..., None] * W[extra]


def lr_window(f: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Per-trajectory full-memory LR value of a window average ``(1/n_a) sum_j f_j``.

    ``f``: ``(c, n_a, *shape)``, ``W``: ``(c, n_a, P)`` at the window's sample times.
    Returns ``(c, *shape, P)``: ``(1/n_a) sum_j (f_j - b_j) W_j``.
    """
    return lr_time(f, W).mean(axis=1)


def memory_kernel(m0: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Triangular distribution ``K(m)`` of memory lengths (in samples) on ``m0 .. m0+width``.

    The box of ``width/2 + 1`` samples convolved with itself: its Fourier transform is
    ``sinc^2`` (double zeros at the multiples of ``2/width`` and ``1/nu^2`` decay), which
    cancels an oscillating tail of the response far better than a box (``sinc``).

    Returns:
        ``(ms, K)``: the memories and their probabilities (summing to 1).
    """
    m0, width = check_int("m0", m0, minimum=1), check_int("width", width, minimum=0)
    h = width // 2
    k = np.convolve(np.ones(h + 1), np.ones(h + 1))
    return np.arange(m0, m0 + k.size), k / k.sum()


def taper_weights(n_lags: int, m0: int, width: int) -> np.ndarray:
    """Lag weights ``w_l = P_K(m > l)`` of the memory-averaged truncation ``E_K[lr[m]]``.

    ``lr[m] = sum_{l < m} C(l)`` truncates the lag decomposition at memory ``m``; averaging
    over ``m ~ K`` (:func:`memory_kernel`) gives the weights: 1 for ``l < m0``, a smooth ramp
    to 0 at ``m0 + width``. ``n_lags`` must exceed ``m0 + width``.
    """
    ms, k = memory_kernel(m0, width)
    if ms[-1] > n_lags:
        raise ValueError(f"memory up to {ms[-1]} samples but only {n_lags} lags recorded.")
    lags = np.arange(n_lags)
    return np.array([k[ms > lag].sum() for lag in lags])


def _causal_filter(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``y[:, j] = sum_l w_l x[:, j - l]`` along axis 1 (zero before the start), by FFT."""
    n = x.shape[1]
    nfft = 1 << int(np.ceil(np.log2(n + len(w))))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    fx = np.fft.rfft(x, nfft, axis=1)
    fw = np.fft.rfft(w, nfft).reshape(shape)
    return np.fft.irfft(fx * fw, nfft, axis=1)[:, :n]


def lr_tapered(f: np.ndarray, W: np.ndarray, n_skip: int, m0: int, width: int) -> np.ndarray:
    """Per-trajectory stationary LR with a triangular memory taper.

    ``C(l) = (1/n_a) sum_j (f_j - b_j)(W_{j-l} - W_{j-l-1})`` (the score of sample interval
    ``j - l`` against the observable at ``j``) summed with :func:`taper_weights`:
    ``G = sum_l w_l C(l) = (1/n_a) sum_j (f_j - b_j) V_j`` with ``V`` the causally filtered
    score increments.

    Args:
        f: ``(c, n, *shape)`` observable at the recorded samples.
        W: ``(c, n, P)`` cumulative scores at the same samples.
        n_skip: leading samples that only provide memory (the window is ``n_skip .. n-1``;
            ``n_skip >= m0 + width`` so that every memory window is complete).
        m0, width: the kernel in samples.

    Returns:
        ``(c, *shape, P)``.
    """
    if n_skip < m0 + width:
        raise ValueError(f"n_skip = {n_skip} samples must cover the memory m0 + width.")
    w = taper_weights(m0 + width + 1, m0, width)
    dW = np.zeros_like(W)  # dW[:, j] = W_j - W_{j-1}; j = 0 never meets a nonzero weight
    dW[:, 1:] = np.diff(W, axis=1)
    V = _causal_filter(dW, w)[:, n_skip:]
    fw = f[:, n_skip:]
    fc = fw - loo_mean(fw)
    extra = (slice(None), slice(None)) + (None,) * (f.ndim - 2)
    return (fc[..., None] * V[extra]).mean(axis=1)


def length_control(f: np.ndarray, x: np.ndarray, n_skip: int = 0) -> np.ndarray:
    """``f`` less a control variate on the conserved spin lengths, cross-fitted.

    With the spin-length constraint each trajectory keeps its sampled lengths ``x_i``
    (fixed at ``t = 0``, before any score), and its stationary values depend on them (the
    length classes of the LMG dimer: R^2 = 0.5-0.7 of the window means). Any baseline
    that is a function of ``x_i`` and of *other* trajectories keeps the likelihood ratio
    unbiased (``E[x_i V_ij] = 0``), so ``f_ij - (x_i - xbar) . beta`` with ``beta`` the
    least-squares slope of the window means on the lengths, fitted on the other half of
    the trajectories (even / odd index), removes that part of the variance.

    Args:
        f: ``(c, n, *shape)`` observable at the recorded samples.
        x: ``(c, k)`` conserved lengths (or any ``F_0``-measurable covariates).
        n_skip: leading samples outside the averaging window (not used for the fit).

    Returns:
        ``f`` with the control variate subtracted (unchanged for fewer than 8 trajectories).
    """
    c = f.shape[0]
    if c < 8:
        return f
    X = x.reshape(c, -1) - x.reshape(c, -1).mean(0)
    m = f[:, n_skip:].mean(1).reshape(c, -1)
    half = np.arange(c) % 2
    out = f.copy()
    for h in (0, 1):
        fit = half != h
        beta = np.linalg.lstsq(X[fit], m[fit] - m[fit].mean(0), rcond=None)[0]
        shift = (X[half == h] @ beta).reshape((-1, 1) + f.shape[2:])
        out[half == h] = f[half == h] - shift
    return out


def mean_sem(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over axis 0 and its standard error ``std / sqrt(N)`` (independent trajectories)."""
    x = np.asarray(x, float)
    return x.mean(0), x.std(0, ddof=1) / math.sqrt(x.shape[0])


# ------------------------------------------------------------------ pilot and rule
def autocovariance(g: np.ndarray, max_lag: int) -> np.ndarray:
    """Ensemble-centred autocovariance of stationary samples ``g`` ``(N, n)`` at lags
    ``0 .. max_lag`` (centred on the ensemble mean, not per trajectory: unbiased when the
    correlation time is not much shorter than the window).
    """
    gc = g - g.mean()
    n = g.shape[1]
    lags = range(min(max_lag, n - 1) + 1)
    return np.array([np.mean(gc[:, : n - lag] * gc[:, lag:]) for lag in lags])


def correlation_summary(acf: np.ndarray, dt_lag: float) -> dict:
    """Correlation time and period of an autocovariance.

    ``tau_e``: the first lag after which the envelope ``max_{l' >= l} |a(l')|`` of the
    normalised ``a = acf / acf[0]`` stays below ``1/e`` (the whole range of lags when it
    never does); ``period``: twice the mean spacing of the zero crossings of ``a`` before
    ``3 tau_e`` (``None`` with fewer than 4: not oscillatory).
    """
    if acf[0] <= 0:
        return {"tau_e": 0.0, "period": None, "var": 0.0}
    a = acf / acf[0]
    env = np.maximum.accumulate(np.abs(a)[::-1])[::-1]
    below = np.nonzero(env < np.exp(-1))[0]
    tau_e = (below[0] if below.size else len(a)) * dt_lag
    lim = min(len(a), int(3 * tau_e / dt_lag) + 1)
    s = np.sign(a[:lim])
    crossings = np.nonzero(s[1:] != s[:-1])[0]
    period = 2 * float(np.mean(np.diff(crossings))) * dt_lag if crossings.size >= 4 else None
    return {"tau_e": float(tau_e), "period": period, "var": float(acf[0])}


def long_lag_level(g: np.ndarray, min_lag: int) -> tuple[float, float, int]:
    r"""Normalised correlation of samples at least ``min_lag`` apart, and its standard error.

    ``level = mean_i p_i``, ``p_i = (1/M) sum_{k - j >= m} g_ij g_ik / var`` over the ``M``
    pairs of trajectory ``i``'s samples at least ``m`` apart (``g`` centred on the ensemble
    mean, ``var`` its ensemble variance; the pairs are summed with a suffix sum, ``O(n)``
    per trajectory). The trajectories are independent, so the standard error is
    ``sd(p_i) / sqrt(N)``. A mixing process gives ``sum_l (n - l) a(l) / M`` over
    ``l >= m``, which is ``<= a(m)`` for a decaying ``a``; trajectories that do not mix keep
    the fraction of the variance that lies between them. ``m`` is capped at ``3n/4`` (a
    window shorter than the requested separation is measured at its last quarter).

    Args:
        g: ``(N, n)`` stationary samples (``N >= 2``).
        min_lag: the separation ``m`` in samples (>= 1).

    Returns:
        ``(level, sem, m)`` with ``m`` the separation used.
    """
    N, n = g.shape
    m = max(1, min(int(min_lag), (3 * n) // 4))
    if n < 2:  # no pair of samples: nothing is resolved
        return 0.0, math.inf, m
    gc = g - g.mean()
    var = float(np.mean(gc**2))
    if var <= 0:
        return 0.0, 0.0, m
    suffix = np.cumsum(gc[:, ::-1], axis=1)[:, ::-1]  # suffix[:, j] = sum_{k >= j} gc[:, k]
    pairs = np.sum(gc[:, : n - m] * suffix[:, m:], axis=1)
    p = pairs / ((n - m) * (n - m + 1) / 2) / var
    return float(p.mean()), float(p.std(ddof=1) / math.sqrt(N)), m


def memory_rule(tau_e: float, period: float | None) -> tuple[float, float]:
    """``(m0, width)`` of the triangular memory (time units) from the pilot's correlation time
    and period: ``(2.5 tau_e, 2 P)`` for an oscillating autocorrelation, else
    ``(4 tau_e, 2 tau_e)`` (measured truncation bias on exact responses <= 0.3 % / 0.5 %).
    """
    if period:
        return M0_FACTOR * tau_e, 2 * period
    return M0_FACTOR_MONOTONE * tau_e, 2 * tau_e


def choose(
    var_pathwise: float,
    var_lr: float,
    cost_pathwise: float,
    cost_lr: float,
    plateau: float = 0.0,
    plateau_sem: float = 0.0,
):
    """The selection rule: the estimator with the smaller ``variance x cost``.

    ``var_*``: per-trajectory variances of the two estimators measured on the pilot's own
    trajectories; ``cost_*``: cost of one trajectory (time simulated x relative cost per
    step); ``plateau``, ``plateau_sem``: the pilot's largest long-lag level and its standard
    error (:func:`long_lag_level` at separations ``>= 3 tau_e``). Returns ``(name, reason)``
    with name ``"pathwise"``, ``"likelihood_ratio"`` or ``"refuse"`` (``plateau -
    PLATEAU_Z plateau_sem > PLATEAU_MAX``: the trajectories do not mix, so there is no
    stationary derivative to estimate; a finite window is, with :class:`FiniteDifference`
    or :class:`Pathwise` named by the user).
    """
    if plateau - PLATEAU_Z * plateau_sem > PLATEAU_MAX:
        return "refuse", (
            f"the pilot's autocorrelation keeps a level {plateau:.2f} +- {plateau_sem:.2f} > "
            f"{PLATEAU_MAX} at separations of {PLATEAU_LAGS:g} correlation times (the last "
            "quarter of the window where it is shorter): the "
            "trajectories do not mix within the window; lengthen t_avg if the mixing is only "
            "slow, or name tq.FiniteDifference(h) (common random numbers) or tq.Pathwise() "
            "for the derivative of this finite window"
        )
    c_pw, c_lr = var_pathwise * cost_pathwise, var_lr * cost_lr
    if not math.isfinite(c_lr) or c_pw <= c_lr:
        return "pathwise", f"pilot variance x cost: pathwise {c_pw:.3g} <= LR {c_lr:.3g}"
    return "likelihood_ratio", f"pilot variance x cost: LR {c_lr:.3g} < pathwise {c_pw:.3g}"
