"""Plotting helpers draw what they are given (checked on the artists, not by eye)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import twoqs_jax as tq  # noqa: E402
from twoqs_jax import plot  # noqa: E402


def test_time_trace_and_sweep():
    t = np.linspace(0, 1, 11)
    sol = tq.Solution(
        method="twa",
        times=t,
        mean={"Sz": np.stack([t, -t], 1)},
        sem={"Sz": np.full((11, 2), 0.1)},
        stats={},
    )
    ax = plot.time_trace(sol, "Sz", site=1)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), -t)
    assert len(ax.collections) == 1  # the error band
    ss = tq.Solution(
        method="twa",
        times=None,
        mean={"Sz": np.ones((3, 1))},
        sem={"Sz": np.zeros((3, 1))},
        stats={},
    )
    ax = plot.sweep([0, 1, 2], ss, "Sz", exact=([0, 2], [1, 1]))
    assert ax.lines  # errorbar + exact line
    plt.close("all")


def test_sphere_maps():
    th = np.linspace(0, np.pi, 20)
    ph = np.linspace(0, 2 * np.pi, 40)
    ax = plot.sphere_map(th, ph, np.cos(th)[:, None] * np.ones((1, 40)))
    assert ax.name == "mollweide"
    rng = np.random.default_rng(1)
    ax = plot.bloch_histogram(rng.normal(size=(500, 3)))
    assert ax.collections
    plt.close("all")
