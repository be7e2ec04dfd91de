""":func:`solve`: one entry point for every method and model (dispatch dict, as dynamiqs'
``mesolve`` does for its methods).
"""

from collections.abc import Sequence
from typing import Any

import jax

from ._methods import TWOQS, AbstractMethod, Cumulants, Exact, MeanField
from ._model.model import SpinModel
from ._options import Options
from ._saveat import SaveAt, SteadyState
from ._solution import Solution

_SOLVERS: dict = {}


def register_solver(model_type, method_type):
    """Register ``fn(model, state, saveat, method, *, n_traj, key, observables, options)``
    for a (model type, method type) pair (decorator).
    """

    def deco(fn):
        _SOLVERS[(model_type, method_type)] = fn
        return fn

    return deco


def _lookup(model, method):
    for mtype in type(model).__mro__:
        for ktype in type(method).__mro__:
            if (mtype, ktype) in _SOLVERS:
                fn = _SOLVERS[(mtype, ktype)]
                if isinstance(fn, str):  # "module:function", imported on first use
                    import importlib

                    module, name = fn.split(":")
                    fn = getattr(importlib.import_module(module), name)
                    _SOLVERS[(mtype, ktype)] = fn
                return fn
    pairs = sorted(f"{m.__name__} + {k.__name__}" for m, k in _SOLVERS)
    raise ValueError(
        f"no solver for a {type(model).__name__} with method {type(method).__name__}; "
        f"available: {pairs}."
    )


def solve(
    model: Any,
    state: Any,
    saveat: SaveAt | SteadyState,
    method: AbstractMethod,
    *,
    n_traj: int | None = None,
    key: int | jax.Array | None = None,
    observables: str | Sequence[Any] | None = None,
    options: Options | None = None,
) -> Solution:
    r"""Solve ``model`` from ``state`` with ``method``, saving what ``saveat`` asks for.

    Master equation (standard Lindblad form, hbar = 1):
    ``drho/dt = -i[H, rho] + sum_k kappa_k (L_k rho L_k^+ - 1/2 {L_k^+ L_k, rho})``.

    Args:
        model: a :class:`SpinModel` (or a batch of them from ``jax.vmap``: the batch is one
            compiled call for TWOQS and the ODEs, with a leading ``batch`` axis on every
            result), a :class:`~twoqs_jax.central.CentralSpinModel` /
            :class:`~twoqs_jax.central.TavisCummingsModel`, or a
            :class:`~twoqs_jax.qudit.QuditLMG`.
        state: the initial state, which sits at ``saveat.ts[0]`` (QuTiP's and dynamiqs'
            convention): a :class:`SpinCoherentState` (one per site; a batch for a batch of
            models), or what the model's solvers accept (``(n, 3)`` unit vectors for the
            ODEs, a ``qutip.Qobj`` for :class:`Exact`; see the central and qudit
            namespaces). ``None`` where a method has a default (steady states).
        saveat: :class:`SaveAt` (times; the initial state at ``ts[0]``) or
            :class:`SteadyState` (a time-averaging window, or the exact stationary state).
        method: :class:`TWOQS`, :class:`MeanField`, :class:`Cumulants` or :class:`Exact`.
        n_traj: number of trajectories (>= 2): stochastic methods only (TWOQS).
        key: int seed (any size or sign: each gives its own stream) or jax PRNG key;
            stochastic methods only. Trajectory ``i``'s random numbers depend only on
            ``(key, i)`` (docs/derivations/kernel.md#random-streams).
        observables: names from the registry (default: single-site moments, variances,
            ``xi2``, and ``SpSm``/``SzSz`` for up to 10 sites), :class:`Observable` objects
            and, for TWOQS, :class:`PhaseSpaceFunction` objects
            (see :mod:`twoqs_jax._observables`).
        options: :class:`Options` (chunks, devices, dtype, progress, checkpoint, throw).

    Returns:
        A :class:`Solution` of numpy arrays (``sol["Sz"]``, ``sol.error("Sz")``,
        ``sol.times``, ``sol.stats``; ``sol.to_xarray()``).

    Examples:
        >>> import jax.numpy as jnp, twoqs_jax as tq
        >>> model = tq.driven_spin(S=100, Omega=1.5, Gamma=1.0)
        >>> sol = tq.solve(model, tq.spin_down(), tq.SaveAt(ts=jnp.linspace(0.0, 5.0, 51)),
        ...                tq.TWOQS(tq.EulerMaruyama(dt=0.01)), n_traj=10_000, key=0)
        >>> sol["Sz"].shape
        (51, 1)
    """
    if not isinstance(method, AbstractMethod):
        raise ValueError(
            "`method` must be tq.TWOQS(...), tq.MeanField(), tq.Cumulants() or tq.Exact(), got "
            f"{method!r}."
        )
    if not isinstance(saveat, SaveAt | SteadyState):
        raise ValueError(
            f"`saveat` must be a tq.SaveAt(ts=...) or tq.SteadyState(...), got {saveat!r}."
        )
    if options is not None and not isinstance(options, Options):
        raise ValueError(f"`options` must be a tq.Options, got {options!r}.")
    if method.stochastic:
        for name, value in (("n_traj", n_traj), ("key", key)):
            if value is None:
                raise ValueError(
                    f"`{name}` is required by the stochastic method {type(method).__name__}."
                )
    else:
        for name, value in (("n_traj", n_traj), ("key", key)):
            if value is not None:
                raise ValueError(
                    f"`{name}` is only for stochastic methods; {type(method).__name__} is "
                    f"deterministic (got {name}={value!r})."
                )
    fn = _lookup(model, method)
    kwargs = dict(observables=observables, options=options)
    if method.stochastic:
        kwargs.update(n_traj=n_traj, key=key)
    return fn(model, state, saveat, method, **kwargs)


# backends are imported on first use (QuTiP, for one, only when an exact solve runs)
_SOLVERS[(SpinModel, TWOQS)] = "twoqs_jax._twoqs:solve_twoqs"
_SOLVERS[(SpinModel, MeanField)] = "twoqs_jax._meanfield.meanfield:solve_meanfield_ode"
_SOLVERS[(SpinModel, Cumulants)] = "twoqs_jax._meanfield.cumulants:solve_cumulant_ode"
_SOLVERS[(SpinModel, Exact)] = "twoqs_jax._exact.solve:solve_exact_backend"


def _register_subsystems():
    from ._central.model import CentralSpinModel, TavisCummingsModel
    from ._qudit.model import QuditLMG

    central = "twoqs_jax._central.solve:"
    for cls in (CentralSpinModel, TavisCummingsModel):
        _SOLVERS[(cls, Exact)] = central + "solve_central_exact_backend"
        _SOLVERS[(cls, MeanField)] = central + "solve_central_closure_backend"
        _SOLVERS[(cls, Cumulants)] = central + "solve_central_closure_backend"
    _SOLVERS[(QuditLMG, MeanField)] = "twoqs_jax._qudit.solve:solve_qudit_meanfield_backend"
    _SOLVERS[(QuditLMG, Exact)] = "twoqs_jax._qudit.solve:solve_qudit_exact_backend"
    from ._model.cavity import CavityModel

    _SOLVERS[(CavityModel, Exact)] = "twoqs_jax._exact.cavity:solve_cavity_exact"
    _SOLVERS[(CavityModel, MeanField)] = "twoqs_jax._meanfield.cavity:solve_cavity_meanfield"
    _SOLVERS[(CavityModel, Cumulants)] = "twoqs_jax._meanfield.cavity:solve_cavity_cumulants"
    _SOLVERS[(CavityModel, TWOQS)] = "twoqs_jax._twoqs_cavity:solve_twoqs_cavity"


_register_subsystems()
