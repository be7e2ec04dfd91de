"""Shorthands over :func:`twoqs_jax.solve` shared by the tests."""

import numpy as np

import twoqs_jax as tq


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
