"""Plotting helpers (matplotlib, imported lazily inside each function).

Every function takes an optional ``ax`` and returns the axes it drew on, so figures compose
the matplotlib way. Stochastic results are drawn with error bands of ``z`` standard errors.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .._optional import require

if TYPE_CHECKING:
    from .._solution import Solution

__all__ = ["time_trace", "sweep", "phase_map", "sphere_map", "bloch_histogram"]


def _axes(ax, **kw):
    plt = require("matplotlib.pyplot", "tq.plot")
    if ax is None:
        _, ax = plt.subplots(**kw)
    return ax


def _select(arr, index):
    arr = np.asarray(arr)
    if index is None:
        return arr
    return arr[(Ellipsis, *np.atleast_1d(index))] if np.ndim(index) else arr[..., index]


def time_trace(
    solution: "Solution",
    name: str,
    *,
    site: int | Sequence[int] | None = 0,
    scale: float = 1.0,
    z: float = 2.0,
    ax: Any = None,
    label: str | None = None,
    **plot_kw: Any,
) -> Any:
    """Plot ``solution[name][:, site] * scale`` against time with a ``z``-sigma error band.

    Deterministic solutions (no standard errors) are drawn as plain lines.
    """
    ax = _axes(ax)
    t = np.asarray(solution.times)
    y = np.real(_select(solution[name], site)) * scale
    (line,) = ax.plot(t, y, label=label or f"{name} ({solution.method})", **plot_kw)
    if name in solution.sem:
        e = np.real(_select(solution.sem[name], site)) * abs(scale)
        ax.fill_between(t, y - z * e, y + z * e, color=line.get_color(), alpha=0.25, lw=0)
    ax.set_xlabel("time")
    ax.set_ylabel(name)
    return ax


def sweep(
    params: ArrayLike,
    solution: "Solution",
    name: str,
    *,
    site: int | Sequence[int] | None = 0,
    scale: float = 1.0,
    z: float = 2.0,
    ax: Any = None,
    label: str | None = None,
    exact: tuple[ArrayLike, ArrayLike] | None = None,
    **plot_kw: Any,
) -> Any:
    """Plot a steady-state observable against a swept parameter, with error bars.

    Args:
        params: ``(P,)`` parameter values.
        solution: a steady-state :class:`Solution` whose arrays have a leading ``(P,)`` axis.
        name: observable name; ``site`` selects the site.
        exact: optional ``(params, values)`` drawn as a solid line for comparison.
    """
    ax = _axes(ax)
    y = np.real(_select(solution[name], site)) * scale
    e = np.real(_select(solution.error(name), site)) * abs(scale)
    ax.errorbar(
        params,
        y,
        yerr=z * e,
        fmt=plot_kw.pop("fmt", "o"),
        capsize=2,
        label=label or f"{name} ({solution.method})",
        **plot_kw,
    )
    if exact is not None:
        ax.plot(exact[0], exact[1], "k-", lw=1, label="exact")
    ax.set_ylabel(name)
    return ax


def phase_map(
    x: ArrayLike,
    y: ArrayLike,
    values: ArrayLike,
    *,
    ax: Any = None,
    cmap: str = "viridis",
    label: str | None = None,
    boundaries: Sequence[tuple[ArrayLike, ArrayLike]] = (),
    **kw: Any,
) -> Any:
    """Colour map of ``values[i, j]`` over the grid ``x[i], y[j]`` with optional boundary lines.

    ``boundaries`` is a sequence of ``(xs, ys)`` curves drawn dashed in black.
    """
    plt = require("matplotlib.pyplot", "tq.plot")

    ax = _axes(ax)
    mesh = ax.pcolormesh(
        np.asarray(x), np.asarray(y), np.asarray(values).T, cmap=cmap, shading="auto", **kw
    )
    plt.colorbar(mesh, ax=ax, label=label)
    for bx, by in boundaries:
        ax.plot(bx, by, "k--", lw=1)
    return ax


def sphere_map(
    theta: ArrayLike,
    phi: ArrayLike,
    values: ArrayLike,
    *,
    ax: Any = None,
    cmap: str = "RdBu_r",
    label: str | None = None,
    symmetric: bool = True,
) -> Any:
    """A function on the sphere (e.g. a spin Wigner or Husimi function) in a Mollweide map.

    Args:
        theta: ``(Nt,)`` polar angles from +z; ``phi``: ``(Np,)`` azimuths from +x.
        values: ``(Nt, Np)`` values.
    """
    plt = require("matplotlib.pyplot", "tq.plot")
    if ax is None:
        fig = plt.figure()
        ax = fig.add_subplot(projection="mollweide")
    values = np.asarray(values)
    lon = np.mod(np.asarray(phi) + np.pi, 2 * np.pi) - np.pi
    order = np.argsort(lon)
    lat = np.pi / 2 - np.asarray(theta)
    vmax = np.max(np.abs(values)) if symmetric else None
    mesh = ax.pcolormesh(
        lon[order],
        lat,
        values[:, order],
        cmap=cmap,
        shading="auto",
        vmin=-vmax if symmetric else None,
        vmax=vmax,
    )
    plt.colorbar(mesh, ax=ax, orientation="horizontal", label=label, shrink=0.7)
    ax.grid(True, lw=0.3)
    return ax


def bloch_histogram(
    vectors: ArrayLike, *, bins: int = 60, ax: Any = None, cmap: str = "magma"
) -> Any:
    """2D histogram of TWOQS samples on the Bloch sphere (Mollweide map).

    Args:
        vectors: ``(N, 3)`` spin vectors (any length; only the direction is used), e.g.
            per-trajectory ``(S_x, S_y, S_z)`` Weyl symbols.
    """
    plt = require("matplotlib.pyplot", "tq.plot")

    v = np.asarray(vectors, dtype=float)
    r = np.linalg.norm(v, axis=-1)
    lat = np.arcsin(np.clip(v[:, 2] / np.where(r > 0, r, 1), -1, 1))
    lon = np.arctan2(v[:, 1], v[:, 0])
    if ax is None:
        fig = plt.figure()
        ax = fig.add_subplot(projection="mollweide")
    h, xe, ye = np.histogram2d(
        lon, lat, bins=bins, range=[[-np.pi, np.pi], [-np.pi / 2, np.pi / 2]]
    )
    ax.pcolormesh(xe, ye, h.T, cmap=cmap, shading="auto")
    ax.grid(True, lw=0.3)
    return ax
