"""Mean-field phase diagram of the LMG dimer (paper 000 Fig. 2), in one compiled call.

At every grid point ``(J, lambda)`` (``g``, ``gamma`` fixed):

- the number of distinct linearly stable fixed points, from Newton runs started at random
  initial conditions and at the same states relaxed under the flow
  (:func:`candidate_fixed_points`, deduplicated by :func:`count_distinct`);
- the dynamical class of ``n_traj`` trajectories (:mod:`.dynamics`: fixed point, limit
  cycle, irregular) and their late-time averages.

The whole grid is one ``jax.jit(jax.vmap(...))``: one compilation, whatever the grid size.
Grid points with a non-finite parameter are flagged ``valid = False`` with counts ``-1`` and
class ``FAILED``, never a silent number.
"""

import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike
from jaxtyping import Array, Bool, Float, Int

from .._checks import check_finite, check_int, check_positive
from .._model.presets import lmg_dimer
from .._optional import require
from .boundaries import lmg_dimer_critical_J_closed_form, lmg_dimer_critical_lambda_small_J
from .dynamics import FAILED, IRREGULAR, LIMIT_CYCLE, classify, late_time
from .fixed_points import candidate_fixed_points, count_distinct, random_unit_vectors


class PhaseDiagram(eqx.Module):
    """Result of :func:`lmg_dimer_phase_diagram` (grid axes: ``J`` first, then ``lambda``).

    Attributes:
        J, lam: ``(nJ,)``, ``(nl,)`` grid values.
        n_stable: ``(nJ, nl)`` number of distinct stable fixed points (``-1``: invalid).
        n_fixed: ``(nJ, nl)`` number of distinct fixed points found (stable or not).
        classes: ``(nJ, nl, n_traj)`` dynamical class of each trajectory.
        time_mean: ``(nJ, nl, n_traj, 2, 3)`` late-time averages of the spin vectors.
        valid: ``(nJ, nl)`` parameters finite.
        g, gamma: the fixed parameters.
    """

    J: Float[Array, " nJ"]
    lam: Float[Array, " nl"]
    n_stable: Int[Array, "nJ nl"]
    n_fixed: Int[Array, "nJ nl"]
    classes: Int[Array, "nJ nl k"]
    time_mean: Float[Array, "nJ nl k 2 3"]
    valid: Bool[Array, "nJ nl"]
    g: float = eqx.field(static=True)
    gamma: float = eqx.field(static=True)

    @property
    def dominant_class(self) -> Int[Array, "nJ nl"]:
        """Most complex class over the trajectories (irregular > limit cycle > fixed point)."""
        return jnp.where(self.valid, jnp.max(self.classes, axis=-1), FAILED)


def _point(J, lam, g, gamma, y0s, n_traj, t_relax, t_burn, t_window, n_samples):
    valid = jnp.isfinite(J) & jnp.isfinite(lam)
    # Evaluate at a harmless point where invalid; the result is masked by `valid` below.
    model = lmg_dimer(1, jnp.where(valid, J, 0.0), jnp.where(valid, lam, 0.0), g, gamma)
    ys, ok, ev = candidate_fixed_points(model, y0s, t_relax=t_relax)
    stable = ok & jnp.all(ev.real < -1e-9, axis=-1)
    n_stable = jnp.where(valid, count_distinct(ys, stable), -1)
    n_fixed = jnp.where(valid, count_distinct(ys, ok), -1)
    if n_traj:
        out = jax.vmap(
            lambda y0: late_time(model, y0, t_burn=t_burn, t_window=t_window, n_samples=n_samples)
        )(y0s[:n_traj])
        cls = jnp.where(valid, classify(out["spread"], out["lyapunov"], out["ok"]), FAILED)
        mean = jnp.where(valid, out["time_mean"], jnp.nan)
    else:
        cls = jnp.zeros((0,), int)
        mean = jnp.zeros((0, 2, 3))
    return n_stable, n_fixed, cls, mean


@functools.partial(jax.jit, static_argnums=(5, 6, 7, 8, 9))
def _grid(Js, lams, g, gamma, y0s, n_traj, t_relax, t_burn, t_window, n_samples):
    f = functools.partial(
        _point,
        g=g,
        gamma=gamma,
        y0s=y0s,
        n_traj=n_traj,
        t_relax=t_relax,
        t_burn=t_burn,
        t_window=t_window,
        n_samples=n_samples,
    )
    return jax.vmap(f)(Js, lams)


def lmg_dimer_phase_diagram(
    J_values: ArrayLike,
    lam_values: ArrayLike,
    *,
    g: float = 1.0,
    gamma: float = 0.5,
    n_init: int = 8,
    n_traj: int = 4,
    t_relax: float = 50.0,
    t_burn: float = 200.0,
    t_window: float = 200.0,
    n_samples: int = 200,
    key: int | jax.Array = 0,
) -> PhaseDiagram:
    """Mean-field phase diagram of the LMG dimer over a ``(J, lambda)`` grid (paper 000 Fig. 2).

    Args:
        J_values, lam_values: 1D grids (non-finite entries give invalid grid points).
        g, gamma: field and loss/gain rate (paper 000: ``gamma = 0.5 g``).
        n_init: random initial conditions per point (the same for every point); Newton runs
            from each and from each relaxed for ``t_relax``.
        n_traj: trajectories per point classified (the first ``n_traj`` initial conditions);
            ``0`` skips the classification.
        t_burn, t_window, n_samples: see :func:`classify_dynamics`.
        key: seed or ``jax.random`` key of the initial conditions.

    Returns:
        :class:`PhaseDiagram`.

    Examples:
        >>> pd = tq.lmg_dimer_phase_diagram(jnp.linspace(-2, 2, 41), jnp.linspace(0, 1.5, 31))
        >>> tq.plot_phase_diagram(pd)
    """
    Js = np.asarray(J_values, dtype=float)
    lams = np.asarray(lam_values, dtype=float)
    for name, v in (("J_values", Js), ("lam_values", lams)):
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"`{name}` must be a non-empty 1D array, got shape {v.shape}.")
    check_finite("g", g)
    check_positive("gamma", gamma)
    n_init = check_int("n_init", n_init, minimum=1)
    n_traj = check_int("n_traj", n_traj, minimum=0)
    if n_traj > n_init:
        raise ValueError(f"`n_traj` = {n_traj} must be <= `n_init` = {n_init}.")
    for name, v in (("t_relax", t_relax), ("t_burn", t_burn), ("t_window", t_window)):
        check_positive(name, v)
    key = jax.random.key(key) if isinstance(key, int) else key
    y0s = random_unit_vectors(key, n_init, 2)
    JJ, LL = np.meshgrid(Js, lams, indexing="ij")
    n_stable, n_fixed, cls, mean = _grid(
        jnp.asarray(JJ.ravel()),
        jnp.asarray(LL.ravel()),
        float(g),
        float(gamma),
        y0s,
        n_traj,
        float(t_relax),
        float(t_burn),
        float(t_window),
        check_int("n_samples", n_samples, 4),
    )
    shape = JJ.shape
    return PhaseDiagram(
        J=Js,
        lam=lams,
        n_stable=n_stable.reshape(shape),
        n_fixed=n_fixed.reshape(shape),
        classes=cls.reshape(*shape, n_traj),
        time_mean=mean.reshape(*shape, n_traj, 2, 3),
        valid=np.isfinite(JJ) & np.isfinite(LL),
        g=float(g),
        gamma=float(gamma),
    )


def plot_phase_diagram(pd: PhaseDiagram, *, ax: Any = None, boundaries: bool = True) -> Any:
    """Draw ``pd`` like paper 000 Fig. 2 (matplotlib is imported here, lazily).

    Colour: number of stable fixed points (0, 1, 2, ...). Points where some trajectory is
    irregular get a small black dot, limit cycles without chaos a white one. Dashed black
    lines: the analytic boundaries, ``J = +-J_c(lambda)`` of Eq. 12 and ``lambda_c(J)`` of
    Eq. 13 (the latter for ``gamma = g/2`` only, its own setting).

    Returns:
        The matplotlib axes.
    """
    plt = require("matplotlib.pyplot", "tq.analysis.plot_phase_diagram")
    from matplotlib.colors import BoundaryNorm, ListedColormap

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    J, lam = np.asarray(pd.J), np.asarray(pd.lam)
    ns = np.asarray(pd.n_stable, dtype=float)
    ns[~np.asarray(pd.valid)] = np.nan
    cmap = ListedColormap(["#5e3c99", "#4393c3", "#fdb863", "#e66101"])
    norm = BoundaryNorm([-0.5, 0.5, 1.5, 2.5, 3.5], cmap.N)
    mesh = ax.pcolormesh(J / pd.g, lam / pd.g, ns.T, cmap=cmap, norm=norm, shading="nearest")
    plt.colorbar(mesh, ax=ax, ticks=[0, 1, 2, 3], label="stable fixed points")
    if pd.classes.shape[-1]:
        dom = np.asarray(pd.dominant_class)
        JJ, LL = np.meshgrid(J, lam, indexing="ij")
        for cls, color in ((IRREGULAR, "k"), (LIMIT_CYCLE, "w")):
            sel = dom == cls
            ax.plot(JJ[sel] / pd.g, LL[sel] / pd.g, ".", color=color, ms=2, ls="none")
    if boundaries:
        ls = np.linspace(lam.min(), lam.max(), 200)
        jc = np.asarray(lmg_dimer_critical_J_closed_form(ls, pd.g, pd.gamma))
        ax.plot(jc / pd.g, ls / pd.g, "k--", lw=1)
        ax.plot(-jc / pd.g, ls / pd.g, "k--", lw=1)
        if abs(pd.gamma - 0.5 * pd.g) < 1e-12:
            js = np.linspace(-0.6 * pd.g, 0.6 * pd.g, 100)
            ax.plot(
                js / pd.g,
                np.asarray(lmg_dimer_critical_lambda_small_J(js, pd.g)) / pd.g,
                "k--",
                lw=1,
            )
        ax.set_xlim(J.min() / pd.g, J.max() / pd.g)
        ax.set_ylim(lam.min() / pd.g, lam.max() / pd.g)
    ax.set_xlabel("J / g")
    ax.set_ylabel("lambda / g")
    return ax
