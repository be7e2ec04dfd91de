"""Exact time evolution and steady states of a :class:`SpinModel` (QuTiP backend, CPU).

Master equation (hbar = 1, standard Lindblad rates):
``drho/dt = -i[H, rho] + sum_k kappa_k (L_k rho L_k^+ - 1/2 {L_k^+ L_k, rho})`` with ``H``
and ``L_k`` from :mod:`twoqs_jax._exact.operators`.

Every entry point first estimates its memory from the model structure
(:func:`estimate_exact_cost`) and raises ``ValueError`` *before building anything* when the
estimate exceeds ``max_memory`` (default 8 GiB).
"""

import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from numpy.typing import ArrayLike

from .._model.model import SpinModel
from .._model.states import SpinCoherentState
from .._observables import dims_of
from .._optional import require
from .._solution import Solution
from .cost import check_cost
from .observables import check_observables, derive, expectations, moment_operators
from .operators import (
    check_model,
    coherent_state,
    collapse_operators,
    hamiltonian,
    site_dims,
    site_operators,
)

if TYPE_CHECKING:
    import qutip
else:  # imported on first use of the exact references: an optional dependency
    qutip = require("qutip", "exact references (tq.Exact, tq.exact)")

# Robust ODE settings. QuTiP's default nsteps (2500 per saving interval) fails on stiff
# collective problems (driven spin S = 100 over t = 50: "Excess work done"); the spectral
# radius of L grows like S (rates kappa S^2 = Gamma S, frequencies Omega S) while the
# dynamics of interest stays O(1). Verner 7(6) (QuTiP's "vern7") needed 3.5-5x less time than
# zvode Adams at the same tolerances (driven spin S = 50 and 100) with results equal to 1e-11.
# zvode BDF and LSODA build a dense N x N finite-difference Jacobian (N = D^2): only for small
# problems, and the memory check counts it.
DEFAULT_ODE_OPTIONS = {"method": "vern7", "atol": 1e-10, "rtol": 1e-8, "nsteps": 10**6}
# Relative residual max|L rho| / max|L| above which a steady state is not trusted.
RESIDUAL_TOL = 1e-10


def _check_times(times) -> np.ndarray:
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size < 1:
        raise ValueError(f"`times` must be a 1-D array of saving times, got shape {t.shape}.")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"`times` must be finite, got {t.tolist()[:8]}.")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"`times` must be strictly increasing, got {t.tolist()[:8]}.")
    return t


def _initial_state(model, state) -> qutip.Qobj:
    if isinstance(state, SpinCoherentState):
        return coherent_state(model, state)
    if isinstance(state, qutip.Qobj):
        dims = site_dims(model)
        D = int(np.prod(dims))
        if not (state.isket or state.isoper) or state.shape[0] != D:
            raise ValueError(
                f"`state` must be a ket or density matrix of dimension {D} (sites {dims}), got "
                f"a {state.type} of shape {state.shape}."
            )
        return qutip.Qobj(state.full(), dims=[dims, [1]] if state.isket else [dims, dims])
    raise ValueError(
        "`state` must be a twoqs_jax.SpinCoherentState or a qutip.Qobj, got "
        f"{type(state).__name__}."
    )


def _ode_options(options) -> dict:
    opts = dict(DEFAULT_ODE_OPTIONS)
    if options is not None:
        if not isinstance(options, dict):
            raise ValueError(f"`options` must be a dict of mesolve options, got {options!r}.")
        opts.update(options)
    opts.setdefault("progress_bar", "")
    return opts


def _build(model):
    ops = site_operators(model)
    h = hamiltonian(model, _ops=ops)
    c_ops = collapse_operators(model, _ops=ops)
    return ops, qutip.liouvillian(h, c_ops).to("csr")


def solve_exact(model, state, times, *, observables=None, max_memory=None, options=None):
    """Exact time evolution of the shared observables (QuTiP ``mesolve``).

    Solves ``drho/dt = -i[H, rho] + sum_k kappa_k D[L_k] rho`` (standard Lindblad form,
    hbar = 1) from ``state`` and returns the shared observables of
    ``twoqs_jax/_solution.py`` at ``times``. Only the base moments the requested observables
    need are evaluated (as ``e_ops``, without storing states).

    Args:
        model: a concrete :class:`SpinModel`.
        state: a :class:`SpinCoherentState` (product of spin coherent states) or a
            ``qutip.Qobj`` ket/density matrix of dimension ``prod_i (2 S_i + 1)``.
        times: ``(T,)`` strictly increasing saving times; ``times[0]`` is the initial time.
        observables: names to compute (default: all shared names).
        max_memory: memory limit in bytes for the refusal check (default 8 GiB).
        options: ``mesolve`` options overriding the robust defaults
            ``{"method": "vern7", "atol": 1e-10, "rtol": 1e-8, "nsteps": 10**6}`` (any QuTiP
            ``mesolve`` option, e.g. ``{"method": "adams"}``).

    Returns:
        ``Solution(method="exact")`` with ``times`` and ``mean[name]`` of shape ``(T, ...)``
        (``(T, n)``, ``(T, n, n)`` or ``(T,)``); ``stats`` holds the dimensions, memory
        estimate, options and wall time.

    Examples:
        >>> import numpy as np, twoqs_jax as tq
        >>> m = tq.collective_dephasing(5, Gamma_phi=0.5)  # kappa = 1
        >>> sol = tq.solve_exact(m, tq.along_x(), np.linspace(0, 2, 5))
        >>> np.allclose(sol["Sx"][:, 0], 5 * np.exp(-np.linspace(0, 2, 5) / 2))
        True
    """
    check_model(model)
    observables = check_observables(observables, model.n_sites)
    t = _check_times(times)
    opts = _ode_options(options)
    opts["store_states"] = False
    cost = check_cost(model, "evolve", max_memory=max_memory, method=opts["method"])
    t0 = time.perf_counter()
    rho0 = _initial_state(model, state)
    ops, L = _build(model)
    e_ops = moment_operators(ops, observables)
    keys = list(e_ops)
    result = qutip.mesolve(L, rho0, t, e_ops=[e_ops[k] for k in keys], options=opts)
    base = {k: np.asarray(v) for k, v in zip(keys, result.expect)}
    mean = derive(model, base, observables, batch_shape=(len(t),))
    stats = {
        "solver": f"qutip.mesolve ({opts['method']})",
        "hilbert_dim": cost.hilbert_dim,
        "liouville_dim": cost.liouville_dim,
        "memory_estimate": cost.memory,
        "options": {k: v for k, v in opts.items() if k != "progress_bar"},
        "wall_time": time.perf_counter() - t0,
    }
    return Solution(method="exact", times=t, mean=mean, sem={}, stats=stats)


def evolve_rho(
    model: SpinModel,
    state: Any,
    times: ArrayLike,
    *,
    max_memory: float | None = None,
    options: Any = None,
) -> list:
    """Exact density matrices ``rho(t)`` at ``times`` (``mesolve`` with stored states).

    Same equation, arguments and defaults as :func:`solve_exact`; keeps all ``T`` states in
    memory (``T D^2`` complex numbers, included in the memory check).

    Returns:
        list of ``T`` density-matrix ``Qobj``.
    """
    check_model(model)
    t = _check_times(times)
    opts = _ode_options(options)
    opts["store_states"] = True
    check_cost(model, "evolve", max_memory=max_memory, n_times=len(t), method=opts["method"])
    rho0 = _initial_state(model, state)
    _, L = _build(model)
    result = qutip.mesolve(L, rho0, t, options=opts)
    return [s if s.isoper else s.proj() for s in result.states]


def _direct_steady_state(L: sp.csr_matrix, permc_spec: str, pivot: float, symmetric: bool):
    """Solve ``L x = 0`` with ``Tr rho = 1`` by sparse LU (QuTiP's trace-row construction).

    Row 0 of ``L`` (the equation for ``rho_00``) gets ``w Tr(rho)`` added and the right-hand
    side ``w e_0``; the true steady state solves it, and the matrix is regular when the
    steady state is unique. Returns the solution and the factorisation of
    ``A = L + w e_0 Tr(.)`` (reused for the steady-state derivative, which solves
    ``A x = b`` with traceless ``b``).
    """
    N = L.shape[0]
    D = int(round(np.sqrt(N)))
    w = float(np.mean(np.abs(L.data)))
    trace_row = sp.csr_matrix(
        (np.full(D, w, dtype=complex), (np.zeros(D, int), np.arange(D) * (D + 1))), shape=(N, N)
    )
    A = (L + trace_row).tocsc()
    b = np.zeros(N, dtype=complex)
    b[0] = w
    with warnings.catch_warnings():
        warnings.simplefilter("error", sla.MatrixRankWarning)
        lu = sla.splu(
            A, permc_spec=permc_spec, diag_pivot_thresh=pivot, options={"SymmetricMode": symmetric}
        )
        x = lu.solve(b)
    return x, lu


def factorised_steady_state(L: sp.csr_matrix):
    """The null vector of ``L`` with unit trace and the LU it came from.

    Sparse LU (SuperLU) of ``A = L + w e_0 Tr(.)``, minimum-degree ordering of ``A + A^T``
    with diagonal-preferring pivoting, checked by the residual
    ``max|L x| / max|L| <= RESIDUAL_TOL``; if the check fails, repeated with COLAMD and full
    partial pivoting (see :func:`steady_state_rho`).

    Returns:
        ``(x, lu, info)``: the column-stacked solution (not yet symmetrised or normalised),
        the ``scipy.sparse.linalg.SuperLU`` of ``A`` and a dict with ``solver``,
        ``residual`` and ``lu_nnz``.

    Raises:
        RuntimeError: when no unique steady state is found.
    """
    scale = float(np.max(np.abs(L.data))) if L.nnz else 0.0
    if scale == 0.0:
        raise RuntimeError(
            "the Liouvillian is zero: every state is stationary (no unique steady state)."
        )
    attempts = (("MMD_AT_PLUS_A", 0.1, True), ("COLAMD", 1.0, False))
    residual, lu, x, failure = np.inf, None, None, ""
    for permc_spec, pivot, symmetric in attempts:
        try:
            x, lu = _direct_steady_state(L, permc_spec, pivot, symmetric)
        except (RuntimeError, sla.MatrixRankWarning) as err:  # exactly singular factor
            failure = f"the sparse LU found the matrix singular ({err})"
            continue
        if not np.all(np.isfinite(x)):
            failure = "the sparse LU solve returned non-finite values"
            continue
        residual = float(np.max(np.abs(L @ x))) / scale
        failure = f"the relative residual max|L rho|/max|L| = {residual:.3g} > {RESIDUAL_TOL:g}"
        if residual <= RESIDUAL_TOL:
            break
    if residual > RESIDUAL_TOL:
        raise RuntimeError(
            f"no unique steady state: {failure}. The Liouvillian is singular beyond its trace "
            "mode (e.g. pure dephasing, no dissipation, or a conserved quantity); pick the "
            "initial sector by time evolution with solve_exact/evolve_rho instead."
        )
    info = {
        "solver": f"scipy splu ({permc_spec}, diag_pivot_thresh={pivot})",
        "residual": residual,
        "lu_nnz": int(lu.nnz),
    }
    return x, lu, info


def normalised_density_matrix(x: np.ndarray, D: int) -> np.ndarray:
    """``(D, D)`` Hermitian, unit-trace density matrix from a column-stacked solution."""
    rho = x.reshape(D, D, order="F")  # QuTiP's column-stacking vectorisation
    rho = 0.5 * (rho + rho.conj().T)
    return rho / np.trace(rho).real


def steady_state_rho(
    model: SpinModel, *, max_memory: float | None = None, return_info: bool = False
) -> Any:
    """Exact steady state ``rho_ss`` (``L rho_ss = 0``, ``Tr rho_ss = 1``) as a ``Qobj``.

    Direct sparse LU (SuperLU) of the Liouvillian with the trace condition added to the first
    row, as QuTiP's ``steadystate(method="direct")`` does, but with a minimum-degree ordering
    of ``A + A^T`` and diagonal-preferring pivoting: on the collective-spin Liouvillians this
    halves the fill-in and the time of QuTiP's default (COLAMD) ordering. The result is checked
    by its residual ``max|L rho| / max|L| <= 1e-10``; if the check fails, the solve is
    repeated with COLAMD and full partial pivoting. The steady state must be unique.

    Args:
        model: a concrete :class:`SpinModel` with a unique steady state.
        max_memory: memory limit in bytes for the refusal check (default 8 GiB).
        return_info: also return a dict with the residual, LU fill, timing and estimate.

    Returns:
        ``rho_ss`` (Hermitian, trace 1), or ``(rho_ss, info)``.

    Raises:
        ValueError: before building anything, when the memory estimate exceeds the limit.
        RuntimeError: when no unique steady state is found (singular Liouvillian, e.g.
            dephasing only, or no dissipation), with the residual.
    """
    check_model(model)
    cost = check_cost(model, "steady", max_memory=max_memory)
    t0 = time.perf_counter()
    _, Lq = _build(model)
    x, _, lu_info = factorised_steady_state(Lq.data.as_scipy().tocsr())
    dims = site_dims(model)
    rho_q = qutip.Qobj(normalised_density_matrix(x, int(np.prod(dims))), dims=[dims, dims])
    if not return_info:
        return rho_q
    info = {
        **lu_info,
        "hilbert_dim": cost.hilbert_dim,
        "liouville_dim": cost.liouville_dim,
        "memory_estimate": cost.memory,
        "wall_time": time.perf_counter() - t0,
    }
    return rho_q, info


def steady_state_exact(model, *, observables=None, max_memory=None) -> Solution:
    """Exact steady-state values of the shared observables.

    Args:
        model: a concrete :class:`SpinModel` with a unique steady state.
        observables: names to compute (default: all shared names).
        max_memory: memory limit in bytes for the refusal check (default 8 GiB).

    Returns:
        ``Solution(method="exact", times=None)`` with steady-state ``mean[name]`` (no time
        axis) and ``stats`` with the residual, LU fill, dimensions and wall time.

    Examples:
        >>> import twoqs_jax as tq
        >>> sol = tq.steady_state_exact(tq.driven_spin(20, Omega=0.5))
        >>> float(sol["Sz"][0]) / 20  # doctest: +SKIP
        -0.85...
    """
    observables = check_observables(observables, model.n_sites)
    rho, info = steady_state_rho(model, max_memory=max_memory, return_info=True)
    mean = expectations(model, rho, observables)
    return Solution(method="exact", times=None, mean=mean, sem={}, stats=info)


def _point(tree, index):
    import jax

    return jax.tree.map(lambda x: np.asarray(x)[index], tree)


def solve_exact_backend(model, state, saveat, method, observables=None, options=None):
    """Exact backend of :func:`twoqs_jax.solve` for a :class:`SpinModel` (one or a batch).

    :class:`SaveAt`: ``mesolve`` with the initial state at ``ts[0]``. :class:`SteadyState`:
    the exact stationary state (Liouvillian null vector); a window, if given, is ignored
    (``stats["window_ignored"]``). A batch of models is solved point by point.
    """
    from .._saveat import SaveAt, SteadyState

    check_model(model)
    model.validate()
    if not isinstance(saveat, SaveAt | SteadyState):
        raise ValueError(
            f"`saveat` must be a tq.SaveAt or tq.SteadyState, got {type(saveat).__name__}."
        )
    observables = check_observables(observables, model.n_sites)
    batch = model.batch_shape
    points = list(np.ndindex(*batch)) if batch else [()]
    sols = []
    for index in points:
        m = _point(model, index) if index else model
        st = state
        if isinstance(state, SpinCoherentState) and state.theta.ndim == 2:
            st = _point(state, index)
        if isinstance(saveat, SaveAt):
            sols.append(
                solve_exact(
                    m,
                    st,
                    saveat.ts,
                    observables=observables,
                    max_memory=method.max_memory,
                    options=method.options,
                )
            )
        else:
            sol = steady_state_exact(m, observables=observables, max_memory=method.max_memory)
            if saveat.has_window:
                sol.stats["window_ignored"] = (saveat.t_burn, saveat.t_avg)
            sols.append(sol)
    lead = (("batch",) if batch else ()) + (("time",) if isinstance(saveat, SaveAt) else ())
    dims = {o.name: dims_of(o, lead) for o in observables}
    if not batch:
        return Solution(
            method="exact",
            times=sols[0].times,
            mean=sols[0].mean,
            sem={},
            stats=sols[0].stats,
            dims=dims,
        )
    mean = {
        k: np.stack([np.asarray(s.mean[k]) for s in sols]).reshape(
            batch + np.shape(sols[0].mean[k])
        )
        for k in sols[0].mean
    }
    return Solution(
        method="exact",
        times=sols[0].times,
        mean=mean,
        sem={},
        stats={"points": [dict(s.stats) for s in sols]},
        dims=dims,
    )
