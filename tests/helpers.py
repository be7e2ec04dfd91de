"""Shorthands over :func:`twoqs_jax.solve` and comparisons shared by the tests."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import twoqs_jax as tq
from twoqs_jax._meanfield.cumulants import cumulant_vector_field  # no public name


def paper(dt, representation="W", noise="two_point"):
    """Paper 003's TWOQS variant (coherent sampling, no constraint): the budgets of most
    TWOQS tests were set for it.
    """
    return tq.TWOQS.paper(tq.EulerMaruyama(dt, noise=noise), representation)


def grid(t_final, n_save):
    """``SaveAt`` of ``n_save`` equally spaced times from 0 to ``t_final``."""
    return tq.SaveAt(np.linspace(0.0, t_final, n_save))


def exact_times(model, state, times, *, observables=None, max_memory=None, options=None):
    """Exact (QuTiP) time evolution, the initial state at ``times[0]``."""
    return tq.solve(
        model,
        state,
        tq.SaveAt(times),
        tq.Exact(max_memory=max_memory, options=options),
        observables=observables,
    )


def exact_steady(model, *, observables=None, max_memory=None):
    """Exact (QuTiP) steady state."""
    return tq.solve(
        model, None, tq.SteadyState(), tq.Exact(max_memory=max_memory), observables=observables
    )


def meanfield_times(model, state, times, **method):
    """Mean-field equations at ``times`` (the initial state at ``times[0]``)."""
    return tq.solve(model, state, tq.SaveAt(times), tq.MeanField(**method))


def cumulants_times(model, state, times, **method):
    """Second-order cumulant equations at ``times``."""
    return tq.solve(model, state, tq.SaveAt(times), tq.Cumulants(**method))


def stack(*trees):
    """A batch of models (or states) with a leading parameter axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def assert_same(a, b, names=("Sz", "varz")):
    """Two solutions hold bit for bit the same means and standard errors of ``names``."""
    for name in names:
        np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]), err_msg=name)
        np.testing.assert_array_equal(
            np.asarray(a.error(name)), np.asarray(b.error(name)), err_msg=f"sem of {name}"
        )


def meanfield_field(model, y):
    """The mean-field ``dy/dt`` at ``y`` ``(n, 3)`` (normalised spin vectors)."""
    return tq.analysis.meanfield_rhs(model)(0.0, jnp.asarray(y), None)


def assert_same_equations(a, b, rng):
    """Two models give the same mean-field vector field at a random ``y`` ``(n, 3)``, the same
    second-order cumulant equations at a random ``(m, C)`` (``3n``, ``(3n, 3n)``, ``C``
    symmetric) and the same Liouvillian (to 1e-12).
    """
    n = a.n_sites
    y = jnp.asarray(rng.normal(size=(n, 3)))
    np.testing.assert_allclose(meanfield_field(a, y), meanfield_field(b, y), rtol=1e-12, atol=1e-12)
    m = jnp.asarray(rng.normal(size=3 * n))
    x = rng.normal(size=(3 * n, 3 * n))
    C = jnp.asarray(x @ x.T)
    for u, v in zip(cumulant_vector_field(a, (m, C)), cumulant_vector_field(b, (m, C))):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        tq.exact.liouvillian(a).full(), tq.exact.liouvillian(b).full(), atol=1e-12
    )


def load_benchmark(name):
    """The module ``benchmarks/<name>.py``, loaded by path (``benchmarks`` is no package)."""
    path = pathlib.Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
