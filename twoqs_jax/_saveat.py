"""What to save: time points (:class:`SaveAt`) or a steady-state window (:class:`SteadyState`).

Convention, the same for every solver (QuTiP's ``tlist`` and dynamiqs' ``tsave``): **the
initial state sits at** ``ts[0]``. The models are time independent, so only the differences
``ts - ts[0]`` matter, but every solver labels its results with the user's ``ts``.
"""

import math

import equinox as eqx
import numpy as np
from numpy.typing import ArrayLike

from ._checks import is_complex


def _float(name, value, *, positive=False, nonnegative=False):
    if is_complex(value):
        raise ValueError(f"`{name}` must be a real number, got {value!r}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a real number, got {value!r}.") from None
    if not math.isfinite(v):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    if positive and v <= 0:
        raise ValueError(f"`{name}` must be > 0, got {value!r}.")
    if nonnegative and v < 0:
        raise ValueError(f"`{name}` must be >= 0, got {value!r}.")
    return v


class SaveAt(eqx.Module):
    """Save the observables at the times ``ts``; the initial state sits at ``ts[0]``.

    Attributes:
        ts: ``(T,)`` strictly increasing finite times (float64 numpy array). ``ts[0]`` is the
            time of the initial state (QuTiP's ``tlist``, dynamiqs' ``tsave``), so
            ``SaveAt(ts=[1.0, 2.0])`` returns the initial state at ``t = 1`` and the state one
            time unit later at ``t = 2``, for every solver.

    TWOQS integrates with a fixed step ``dt``: every ``ts[k] - ts[0]`` must be an integer
    multiple of ``dt`` (within 1e-9 relative), otherwise the solve is refused with the nearest
    valid times; the grid is never changed silently.

    Examples:
        >>> import numpy as np, twoqs_jax as tq
        >>> saveat = tq.SaveAt(ts=np.linspace(0.0, 5.0, 51))
    """

    _ts: tuple = eqx.field(static=True)

    def __init__(self, ts: ArrayLike):
        """``ts``: the saving times (the first one is the time of the initial state)."""
        if is_complex(ts):
            raise ValueError("`ts` must hold real times, got complex values.")
        try:
            t = np.atleast_1d(np.asarray(ts, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"`ts` must be a 1D array of times, got {ts!r}.") from None
        if t.ndim != 1 or t.size < 1:
            raise ValueError(f"`ts` must be a non-empty 1D array of times, got shape {t.shape}.")
        if not np.all(np.isfinite(t)):
            raise ValueError(f"`ts` must be finite, got {t[:8].tolist()}.")
        if np.any(np.diff(t) <= 0):
            i = int(np.flatnonzero(np.diff(t) <= 0)[0])
            raise ValueError(
                f"`ts` must increase strictly, got ts[{i}] = {t[i]!r} and ts[{i + 1}] = "
                f"{t[i + 1]!r}."
            )
        self._ts = tuple(float(x) for x in t)

    @property
    def ts(self) -> np.ndarray:
        """``(T,)`` saving times (a fresh float64 array)."""
        return np.asarray(self._ts, dtype=np.float64)

    @property
    def t0(self) -> float:
        """The time of the initial state, ``ts[0]``."""
        return self._ts[0]


class SteadyState(eqx.Module):
    """Steady state: a time average over a window, or the exact stationary state.

    TWOQS averages every trajectory over ``[t0 + t_burn, t0 + t_burn + t_avg]``, sampled
    every ``every`` time units (default: every step), and then takes means and standard errors
    over the independent trajectories; the samples are the states at
    ``t0 + t_burn + j * every``, ``j = 1 .. t_avg / every``. The mean-field and cumulant ODEs
    average their solution at the same times (``every`` defaults to ``t_avg / 200`` there).
    ``t0`` is the time of the initial state (0 unless given by a model's convention).

    :class:`Exact` returns the exact stationary state (the Liouvillian's null vector) and
    ignores the window (so that one ``SteadyState`` object compares every method; the exact
    state is the limit the window approximates). A window is required by TWOQS and by the
    mean-field and second-order cumulant equations of a :class:`SpinModel`; the central-spin
    cumulant equations find their fixed point when no window is given.

    Attributes:
        t_burn: burn-in time before averaging (>= 0), or ``None``.
        t_avg: length of the averaging window (> 0), or ``None``.
        every: sampling interval inside the window (> 0), or ``None`` (see above).

    Examples:
        >>> import twoqs_jax as tq
        >>> ss = tq.SteadyState(t_burn=250.0, t_avg=40.0, every=0.25)
    """

    t_burn: float | None = eqx.field(static=True, default=None)
    t_avg: float | None = eqx.field(static=True, default=None)
    every: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.t_burn is not None:
            _float("t_burn", self.t_burn, nonnegative=True)
        if self.t_avg is not None:
            _float("t_avg", self.t_avg, positive=True)
        if self.every is not None:
            _float("every", self.every, positive=True)
        if (self.t_burn is None) != (self.t_avg is None):
            raise ValueError(
                f"give both `t_burn` and `t_avg` (a window) or neither, got t_burn="
                f"{self.t_burn!r}, t_avg={self.t_avg!r}."
            )
        if self.every is not None and self.t_avg is None:
            raise ValueError("`every` needs a window (`t_burn` and `t_avg`).")

    @property
    def has_window(self) -> bool:
        """Whether a time-averaging window is given."""
        return self.t_avg is not None

    def require_window(self, who: str) -> None:
        """Raise unless a window is given (``who``: the solver, for the message)."""
        if not self.has_window:
            raise ValueError(
                f"{who} needs a steady-state window: give SteadyState(t_burn=..., t_avg=...) "
                f"(got t_burn={self.t_burn!r}, t_avg={self.t_avg!r})."
            )

    def sample_times(self, t0: float, default_every: float) -> np.ndarray:
        """Times ``t0 + t_burn + j every``, ``j = 1 .. n`` (deterministic backends)."""
        every = self.every if self.every is not None else default_every
        n = steps_of("t_avg", float(self.t_avg), float(every), "every")
        return t0 + float(self.t_burn) + float(every) * np.arange(1, n + 1)


def steps_of(name: str, value: float, unit: float, unit_name: str = "dt") -> int:
    """``value / unit`` as an integer, or a ``ValueError`` with the nearest valid values."""
    ratio = value / unit
    n = round(ratio)
    if abs(ratio - n) > 1e-9 * max(1.0, abs(ratio)):
        lo, hi = math.floor(ratio) * unit, math.ceil(ratio) * unit
        raise ValueError(
            f"`{name}` = {value!r} is not an integer multiple of `{unit_name}` = {unit!r} "
            f"({value!r} / {unit!r} = {ratio:.12g}); the time grid is honoured exactly or "
            f"refused: use {name} = {lo:.12g} or {hi:.12g}, or another `{unit_name}`."
        )
    return int(n)
