r"""Exact derivatives of master-equation observables with respect to model parameters.

Master equation (package conventions, hbar = 1, standard Lindblad form)::

    drho/dt = L(M) rho = -i[H(M), rho] + sum_i sum_ab K_iab(M) D_ab^(i) rho,
    D_ab^(i) rho = X_a rho X_b^+ - 1/2 {X_b^+ X_a, rho},   X = (S_i^-, S_i^+, S_i^z),

where ``K_i`` is the per-site rate matrix of all jumps (:func:`.jumps.jump_matrix`;
``K_ab = rate c_a conj(c_b)`` for ``L = sum_a c_a X_a``, e.g. ``K_--  = kappa`` for
:class:`Decay`). ``L`` is *linear* in the arrays ``A(M) = (field, symmetric coupling, K)``,
so for a parametrised model ``M(p)`` (any ``make_model`` traceable in ``p``)::

    dL/dp_q = L_lin(dA/dp_q),    dA/dp_q = jax.jacfwd(A o make_model)(p)[..., q],

with ``L_lin`` the same assembly applied to the tangent arrays (rates enter linearly, so
negative tangents are fine). No finite differences are involved; the tests compare with
them. The spin lengths and the graph are structure: a ``make_model`` whose spin lengths
depend on ``p`` is refused.

**Steady state.** Differentiating ``L rho_ss = 0``, ``Tr rho_ss = 1``::

    L drho = -(dL/dp) rho_ss,    Tr drho = 0.

The steady state factorises ``A = L + w e_0 Tr(.)`` (sparse LU,
:func:`.solve.factorised_steady_state`); the same factors solve ``A drho = -(dL/dp)
rho_ss``. The right-hand side is traceless (``Tr(L' X) = 0`` for every Lindbladian
``L'``), and the trace of ``A x = b`` is ``w Tr(x) = Tr(b) = 0``: the solution lies on the
trace-zero subspace and solves ``L drho = b`` there (unique when ``rho_ss`` is).

**Time-resolved.** ``d/dt (rho, drho) = (L rho, L drho + (dL/dp) rho)`` with
``drho(t_0) = 0`` (the initial state does not depend on ``p``). The block matrix
``[[L, 0], [dL, L]]`` is lower triangular; its exponential holds ``exp(tL)`` and its
Frechet derivative along ``dL``, so ``scipy.sparse.linalg.expm_multiply`` on it gives
``rho(t)`` and ``drho(t)`` together (no ODE tolerances).

**Observables.** ``d<O>/dp = Tr(O drho)`` for the base moments; the registry's observables
(:mod:`twoqs_jax._observables`) are functions ``f(m)`` of primitive moments ``m``, so
variances and ``xi2`` follow by the chain rule ``df = sum_k (df/dm_k) dm_k``
(``jax.jvp`` of the registered ``fn``). Everything runs in float64 inside a scoped
``jax.enable_x64`` (the caller's JAX settings are unchanged on return).
"""

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from jax.flatten_util import ravel_pytree
from numpy.typing import ArrayLike

from .._model.model import SpinModel
from .._observables import dims_of
from .._optional import require
from .cost import check_cost
from .jumps import jump_matrix
from .observables import check_observables, derive, moment_operators
from .operators import check_model, site_dims, site_operators, spin_lengths
from .solve import (
    _build,
    _check_times,
    _initial_state,
    factorised_steady_state,
    normalised_density_matrix,
)

if TYPE_CHECKING:
    import qutip

    from .._gradient import Gradient
    from .._saveat import SaveAt, SteadyState
else:  # imported on first use of the exact references: an optional dependency
    qutip = require("qutip", "exact references (tq.Exact, tq.exact)")

AXES = ("x", "y", "z")
LADDER = ("-", "+", "z")


# ------------------------------------------------------------------ model and tangents
def _float64(fn):
    """Run ``fn`` with float64 JAX arrays (a scoped ``jax.enable_x64``: the caller's setting
    is restored on return).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with jax.enable_x64(True):
            return fn(*args, **kwargs)

    return wrapper


def _check_params(params):
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError(f"`params` must hold at least one float parameter, got {params!r}.")
    for leaf in leaves:
        arr = np.asarray(leaf)
        if arr.dtype.kind not in "iuf":
            raise ValueError(
                f"`params` must be a PyTree of real numbers, got a leaf {leaf!r} of dtype "
                f"{arr.dtype}."
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`params` must be finite, got a leaf {leaf!r}.")


def _arrays(model):
    """The arrays ``L`` is linear in: field ``(n, 3)``, symmetric coupling ``(m, 3, 3)`` and
    the summed rate matrix ``K`` ``(n, 3, 3)`` of all jumps.
    """
    K = jnp.zeros(model.spin.shape + (3, 3), dtype=jnp.complex128)
    for jump in model.jumps:
        K = K + jump_matrix(jump)
    return model.spin, model.field, model.symmetric_coupling, K


def linearise(make_model, params):
    """``(model, tangents, unravel_info)`` for the scalar entries of ``params``.

    ``tangents[q]`` is ``(dfield, dcoupling, dK)`` along the ``q``-th scalar of ``params``
    (flattened order of :func:`jax.flatten_util.ravel_pytree`), from ``jax.jacfwd``. Call
    with float64 enabled (the public functions run under :func:`_float64`).
    """
    if not callable(make_model):
        raise ValueError(f"`make_model` must be callable, got {type(make_model).__name__}.")
    _check_params(params)
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.float64), params)
    vec, unravel = ravel_pytree(params)
    model = make_model(params)
    if not isinstance(model, SpinModel) or model.spin.ndim != 1:
        raise ValueError(
            "`make_model(params)` must return one (unbatched) twoqs_jax.SpinModel, got "
            f"{type(model).__name__}."
        )
    model.validate()
    jac = jax.jit(jax.jacfwd(lambda v: _arrays(make_model(unravel(v)))))(vec)
    jac = jax.tree.map(np.asarray, jac)
    if np.any(jac[0] != 0):
        raise ValueError(
            "`params` change the spin lengths of `make_model(params)`: spin lengths set the "
            "Hilbert space (structure) and cannot be differentiated."
        )
    tangents = [tuple(a[..., q] for a in jac[1:]) for q in range(int(vec.shape[0]))]
    leaves, treedef = jax.tree.flatten(params)
    return model, tangents, (leaves, treedef)


def _grad_tree(array, unravel_info):
    """Split the trailing parameter axis of ``array`` into a PyTree shaped like params."""
    leaves, treedef = unravel_info
    sizes = [int(np.size(x)) for x in leaves]
    parts = np.split(array, np.cumsum(sizes)[:-1], axis=-1) if len(sizes) > 1 else [array]
    return treedef.unflatten(
        [p.reshape(array.shape[:-1] + np.shape(x)) for p, x in zip(parts, leaves, strict=True)]
    )


# ------------------------------------------------------------------ linear assembly
def linear_liouvillian(model, arrays, ops=None) -> sp.csr_matrix:
    """``L_lin(arrays)``: the Liouvillian assembled linearly from ``(field, coupling, K)``.

    ``-i (H x 1 - 1 x H^T)`` (column-stacked vec, QuTiP's) with
    ``H = sum_i field_i . S_i + sum_e S_{i_e}^T coupling_e S_{j_e}``, plus
    ``sum_i sum_ab K_iab D_ab^(i)``. Applied to the model's own arrays it is the model's
    Liouvillian (tested against :func:`twoqs_jax.exact.liouvillian`); applied to tangent
    arrays it is ``dL/dp``.
    """
    if ops is None:
        ops = site_operators(model)
    dims = site_dims(model)
    field, coupling, K = (np.asarray(a) for a in arrays)
    h = 0 * ops[0]["z"]
    for i in range(model.n_sites):
        for a, ax in enumerate(AXES):
            if field[i, a] != 0:
                h = h + float(field[i, a]) * ops[i][ax]
    for e, (i, j) in enumerate(model.edges):
        for a, ax in enumerate(AXES):
            for b, bx in enumerate(AXES):
                if coupling[e, a, b] != 0:
                    h = h + float(coupling[e, a, b]) * (ops[int(i)][ax] * ops[int(j)][bx])
    h.dims = [dims, dims]
    h = 0.5 * (h + h.dag())
    L = -1j * (qutip.spre(h) - qutip.spost(h))
    for i in range(model.n_sites):
        for a, xa in enumerate(LADDER):
            for b, xb in enumerate(LADDER):
                k = complex(K[i, a, b])
                if k == 0:
                    continue
                A, Bd = ops[i][xa], ops[i][xb].dag()
                BdA = Bd * A
                L = L + k * (qutip.sprepost(A, Bd) - 0.5 * qutip.spre(BdA) - 0.5 * qutip.spost(BdA))
    return L.to("csr").data.as_scipy().tocsr().astype(complex)


# ------------------------------------------------------------------ observables
def _base_moments(mops: dict, vecs: np.ndarray, D: int) -> dict:
    """``Tr(O X)`` for every base-moment operator and every column-stacked ``X`` in the rows
    of ``vecs`` (``(K, D^2)``), as arrays of shape ``(K,)``.
    """
    out = {}
    for key, op in mops.items():
        # Tr(O X) = sum_ij O_ij X_ji = vec(O^T) . vec(X) in column stacking
        oT = sp.csr_matrix(op.data.as_scipy()).T.toarray().reshape(-1, order="F")
        out[key] = vecs @ oT
    return out


def _values_and_derivatives(model, observables, base, dbase, batch_shape):
    """Observables and their derivatives: ``(value, grad)`` dicts, ``grad`` arrays with the
    parameter axis last. ``base[k]`` has ``batch_shape``; ``dbase[k]`` ``(P,) + batch_shape``.
    """
    from .observables import primitives

    spin = np.asarray(spin_lengths(model), dtype=float)
    value = derive(model, base, observables, batch_shape=batch_shape)
    n_par = next(iter(dbase.values())).shape[0]
    prims = primitives(model, base, observables, batch_shape)
    dprims = [
        primitives(model, {k: v[q] for k, v in dbase.items()}, observables, batch_shape)
        for q in range(n_par)
    ]  # the primitives are linear in the base moments
    grad = {}
    jspin = jnp.asarray(spin)
    for o in observables:
        primal = {p: jnp.asarray(prims[p]) for p in o.needs}

        def f(m, o=o):
            return o.fn(m, jspin)

        rows = [
            np.asarray(jax.jvp(f, (primal,), ({p: jnp.asarray(d[p]) for p in o.needs},))[1])
            for d in dprims
        ]
        grad[o.name] = np.stack(rows, axis=-1)
    return value, grad


def _result(model, observables, value, grad, unravel_info, times, stats, lead):
    from .._gradient import Gradient

    squeeze = times is None
    mean = {k: (v[()] if squeeze and np.ndim(v) == 0 else np.asarray(v)) for k, v in value.items()}
    return Gradient(
        times=times,
        mean=mean,
        sem={},
        grad={k: _grad_tree(np.asarray(v), unravel_info) for k, v in grad.items()},
        grad_sem={},
        stats={**stats, "dims": {o.name: dims_of(o, lead) for o in observables}},
    )


# ------------------------------------------------------------------ steady state
@_float64
def steady_state_derivative(
    make_model: Callable[[Any], SpinModel],
    params: Any,
    *,
    observables: str | Sequence[Any] | None = None,
    max_memory: float | None = None,
) -> "Gradient":
    r"""Exact steady-state observables and their derivatives with respect to ``params``.

    Solves ``L(p) rho_ss = 0``, ``Tr rho_ss = 1`` by sparse LU and, with the same factors,
    ``L drho = -(dL/dp_q) rho_ss`` on the trace-zero subspace for every scalar ``p_q`` of
    ``params``; ``dL/dp_q`` is the Liouvillian assembled linearly from ``jax.jacfwd`` of the
    model's arrays (module docstring). Then ``d<O>/dp_q = Tr(O drho_q)`` for the moments and
    the chain rule for variances and ``xi2``. Float64 throughout (a scoped
    ``jax.enable_x64`` around ``make_model``; the caller's JAX settings are unchanged).

    Args:
        make_model: ``params -> SpinModel`` (one unbatched model), traceable in ``params``,
            e.g. ``lambda om: tq.driven_spin(20, om)``. Spin lengths must not depend on
            ``params``.
        params: PyTree of real parameters (a float, an array or a dict of them).
        observables: names or :class:`Observable` objects (registry; default: the exact
            solver's defaults).
        max_memory: memory limit in bytes for the refusal check (default 8 GiB; the same
            estimate as the steady state, whose factorisation dominates).

    Returns:
        :class:`twoqs_jax.Gradient` with ``times=None``, ``mean[name]`` (as
        ``tq.solve(..., tq.SteadyState(), tq.Exact())``) and ``grad[name]``, a PyTree shaped
        like ``params`` whose leaves have the observable's shape followed by the leaf's
        shape; ``sem`` and ``grad_sem`` are empty; ``stats`` holds the LU residual and
        fill, ``max_trace_drho`` and the dimensions.

    Raises:
        ValueError: for bad inputs (naming the parameter) or when the memory estimate
            exceeds ``max_memory``, before anything is built.
        RuntimeError: when the steady state is not unique.

    Examples:
        >>> import twoqs_jax as tq
        >>> g = tq.exact.steady_state_derivative(lambda om: tq.driven_spin(5, om), 1.3,
        ...                                      observables=("Sz", "varz"))
        >>> float(g.grad["Sz"][0]) > 0  # the drive lifts the spin
        True
    """
    model, tangents, unravel_info = linearise(make_model, params)
    check_model(model)
    observables = check_observables(observables, model.n_sites)
    cost = check_cost(model, "steady", max_memory=max_memory)
    ops, Lq = _build(model)
    L = Lq.data.as_scipy().tocsr()
    x, lu, info = factorised_steady_state(L)
    D = int(np.prod(site_dims(model)))
    xr = normalised_density_matrix(x, D).reshape(-1, order="F")
    rhs = np.stack([-(linear_liouvillian(model, t, ops) @ xr) for t in tangents], axis=1)
    X = lu.solve(rhs)
    drhos = []
    for q in range(X.shape[1]):
        d = X[:, q].reshape(D, D, order="F")
        drhos.append((0.5 * (d + d.conj().T)).reshape(-1, order="F"))
    drhos = np.stack(drhos)
    mops = moment_operators(ops, observables)
    base = {k: v[0] for k, v in _base_moments(mops, xr[None], D).items()}
    dbase = _base_moments(mops, drhos, D)
    value, grad = _values_and_derivatives(model, observables, base, dbase, ())
    trace = np.abs(drhos.reshape(len(drhos), D, D, order="F").trace(axis1=1, axis2=2))
    stats = {
        **info,
        "max_trace_drho": float(np.max(trace)),
        "hilbert_dim": cost.hilbert_dim,
        "liouville_dim": cost.liouville_dim,
        "memory_estimate": cost.memory,
        "n_params": len(tangents),
    }
    return _result(model, observables, value, grad, unravel_info, None, stats, ())


# ------------------------------------------------------------------ time-resolved
def _evolve(M, v0, dts):
    """``exp((t_k - t_0) M) v0`` for the offsets ``dts`` (``dts[0] = 0``)."""
    if len(dts) > 2 and np.allclose(np.diff(dts), dts[1] - dts[0], rtol=1e-12, atol=0):
        return sla.expm_multiply(M, v0, start=0.0, stop=dts[-1], num=len(dts), endpoint=True)
    out = np.empty((len(dts), v0.size), complex)
    v, prev = v0, 0.0
    for k, t in enumerate(dts):
        if t > prev:
            v = sla.expm_multiply(M * (t - prev), v)
        out[k] = v
        prev = t
    return out


@_float64
def time_derivative(
    make_model: Callable[[Any], SpinModel],
    params: Any,
    state: Any,
    times: ArrayLike,
    *,
    observables: str | Sequence[Any] | None = None,
    max_memory: float | None = None,
) -> "Gradient":
    r"""Exact ``<O>(t)`` and ``d<O>(t)/dp`` from an initial state that does not depend on ``p``.

    Integrates ``d/dt (rho, drho_q) = (L rho, L drho_q + (dL/dp_q) rho)``,
    ``drho_q(t_0) = 0``, as ``exp((t - t_0) [[L, 0], [dL_q, L]])`` applied to
    ``(rho_0, 0)`` (``scipy.sparse.linalg.expm_multiply``; one block system per scalar
    parameter). The initial state sits at ``times[0]``.

    Args:
        make_model: ``params -> SpinModel`` (see :func:`steady_state_derivative`).
        params: PyTree of real parameters.
        state: :class:`SpinCoherentState` or a ``qutip.Qobj`` ket/density matrix.
        times: ``(T,)`` strictly increasing saving times.
        observables: names or :class:`Observable` objects (default: the exact defaults).
        max_memory: memory limit in bytes (default 8 GiB); counts the stored trajectories
            of ``rho`` and every ``drho_q``.

    Returns:
        :class:`twoqs_jax.Gradient` with ``times``, ``mean[name]`` ``(T, ...)`` and
        ``grad[name]`` (leaves ``(T, ...) + leaf shape``).

    Examples:
        >>> import numpy as np, twoqs_jax as tq
        >>> g = tq.exact.time_derivative(lambda om: tq.driven_spin(3, om), 1.0,
        ...                              tq.spin_down(), np.linspace(0, 2, 5),
        ...                              observables=("Sz",))
        >>> g.grad["Sz"].shape  # (T, n_sites)
        (5, 1)
    """
    model, tangents, unravel_info = linearise(make_model, params)
    check_model(model)
    observables = check_observables(observables, model.n_sites)
    t = _check_times(times)
    P = len(tangents)
    cost = check_cost(model, "evolve", max_memory=max_memory, n_times=(1 + P) * len(t) + 40)
    rho0 = _initial_state(model, state)
    v0 = (rho0.proj() if rho0.isket else rho0).full().reshape(-1, order="F")
    ops, Lq = _build(model)
    L = Lq.data.as_scipy().tocsr()
    N = L.shape[0]
    D = int(np.prod(site_dims(model)))
    dts = t - t[0]
    start = np.concatenate([v0, np.zeros(N, complex)])
    rho_t, drho_t = None, []
    for tangent in tangents:
        dL = linear_liouvillian(model, tangent, ops)
        y = _evolve(sp.bmat([[L, None], [dL, L]], format="csr"), start, dts)
        if rho_t is None:
            rho_t = y[:, :N]
        drho_t.append(y[:, N:])
    mops = moment_operators(ops, observables)
    base = _base_moments(mops, rho_t, D)
    dbase = {k: np.stack([_base_moments({k: mops[k]}, d, D)[k] for d in drho_t]) for k in mops}
    value, grad = _values_and_derivatives(model, observables, base, dbase, (len(t),))
    stats = {
        "solver": "scipy expm_multiply of [[L, 0], [dL, L]]",
        "hilbert_dim": cost.hilbert_dim,
        "liouville_dim": cost.liouville_dim,
        "memory_estimate": cost.memory,
        "n_params": P,
    }
    return _result(model, observables, value, grad, unravel_info, t, stats, ("time",))


@_float64
def derivative(
    make_model: Callable[[Any], SpinModel],
    params: Any,
    state: Any,
    saveat: "SaveAt | SteadyState",
    *,
    observables: str | Sequence[Any] | None = None,
    max_memory: float | None = None,
) -> "Gradient":
    r"""Exact derivatives with the arguments of :func:`twoqs_jax.gradient`.

    ``saveat`` a :class:`SaveAt`: :func:`time_derivative` at ``saveat.ts`` from ``state``;
    a :class:`SteadyState`: :func:`steady_state_derivative` (``state`` and the averaging
    window are not used: the exact stationary state is unique; ``stats["window_ignored"]``
    records a given window). So an exact reference for a TWOQS gradient is the same call
    with ``tq.exact.derivative`` in place of ``tq.gradient`` (and no method, trajectories or
    key).

    Examples:
        >>> import twoqs_jax as tq
        >>> g = tq.exact.derivative(lambda om: tq.driven_spin(5, om), 0.5, tq.spin_down(),
        ...                         tq.SteadyState(), observables=("Sz",))
        >>> g.grad["Sz"].shape
        (1,)
    """
    from .._saveat import SaveAt, SteadyState

    if isinstance(saveat, SaveAt):
        return time_derivative(
            make_model, params, state, saveat.ts, observables=observables, max_memory=max_memory
        )
    if isinstance(saveat, SteadyState):
        g = steady_state_derivative(
            make_model, params, observables=observables, max_memory=max_memory
        )
        if saveat.has_window:
            g.stats["window_ignored"] = (saveat.t_burn, saveat.t_avg)
        return g
    raise ValueError(
        f"`saveat` must be a tq.SaveAt or tq.SteadyState, got {type(saveat).__name__}."
    )


@_float64
def stationary_response(
    make_model: Callable[[Any], SpinModel],
    params: Any,
    observable: str,
    t_max: float,
    num: int = 201,
    *,
    site: int = 0,
    max_memory: float | None = None,
) -> dict:
    r"""Exact stationary response function and autocovariance of one site moment.

    ``R_q(t) = Tr(O e^{tL} (dL/dp_q) rho_ss)``: the response of ``<O>`` at time ``t`` to a
    kick of the generator at time 0 in the steady state, with ``int_0^inf R_q dt =
    d<O>/dp_q`` (the steady-state derivative). Its running integral ``I_q(t)`` is what an
    exact estimator truncated at memory ``t`` would give, so it shows how long a memory the
    stationary likelihood-ratio estimator needs and how a memory taper acts on the tail
    (``docs/methods/gradients.md``). Also the stationary autocovariance
    ``C(t) = Re Tr(O e^{tL} (O rho_ss)) - <O>^2`` (the symmetrised correlation, which the
    TWOQS equal-time-weighted correlations approximate).

    Args:
        make_model, params: as :func:`steady_state_derivative`.
        observable: a site moment: ``"Sx"``, ``"Sy"``, ``"Sz"``, ``"Sx2"``, ``"Sy2"``,
            ``"Sz2"``, ``"SxSy"``, ``"SxSz"`` or ``"SySz"``.
        t_max: the last time (> 0); ``num`` equally spaced times from 0.
        site: the site of the moment.
        max_memory: memory limit in bytes (default 8 GiB).

    Returns:
        dict with ``t`` ``(num,)``, ``R`` and ``I`` ``(num, P)`` (one column per scalar
        parameter), ``acf`` ``(num,)``, ``mean`` (``<O>``) and ``grad`` ``(P,)`` (the exact
        derivative from the trace-zero solve).

    Examples:
        >>> import twoqs_jax as tq
        >>> r = tq.exact.stationary_response(
        ...     lambda om: tq.driven_spin(3, om), 0.7, "Sz", 40.0, num=2001
        ... )
        >>> abs(r["I"][-1, 0] - r["grad"][0]) < 1e-4  # trapezoid error 5e-5
        True
    """
    from .observables import _SECOND

    keys = {"Sx": "x", "Sy": "y", "Sz": "z", **_SECOND}
    if observable not in keys:
        raise ValueError(f"`observable` must be one of {sorted(keys)}, got {observable!r}.")
    t_max = float(t_max)
    if not (np.isfinite(t_max) and t_max > 0):
        raise ValueError(f"`t_max` must be a positive time, got {t_max!r}.")
    from .._checks import check_int

    num = check_int("num", num, minimum=2)
    model, tangents, _ = linearise(make_model, params)
    check_model(model)
    site = check_int("site", site, minimum=0)
    if site >= model.n_sites:
        raise ValueError(f"`site` must be in 0..{model.n_sites - 1}, got {site}.")
    check_cost(model, "steady", max_memory=max_memory)
    ops, Lq = _build(model)
    L = Lq.data.as_scipy().tocsr()
    x, lu, _ = factorised_steady_state(L)
    D = int(np.prod(site_dims(model)))
    rho = normalised_density_matrix(x, D)
    key = keys[observable]
    s = ops[site]
    if len(key) == 1:
        Oq = s[key]
    elif key[0] == key[1]:
        Oq = s[key[0]] * s[key[0]]
    else:
        Oq = 0.5 * (s[key[0]] * s[key[1]] + s[key[1]] * s[key[0]])
    O = sp.csr_matrix(Oq.data.as_scipy())
    oT = O.T.toarray().reshape(-1, order="F")  # Tr(O X) = vec(O^T) . vec(X)
    xr = rho.reshape(-1, order="F")
    mean = float(np.real(oT @ xr))
    kicks = [linear_liouvillian(model, t, ops) @ xr for t in tangents]
    start = np.stack(kicks + [(O @ rho).reshape(-1, order="F")], axis=1)
    Y = sla.expm_multiply(L, start, start=0.0, stop=t_max, num=num, endpoint=True)
    R = np.real(Y[:, :, :-1].transpose(0, 2, 1) @ oT)  # (num, P)
    acf = np.real(Y[:, :, -1] @ oT) - mean**2
    t = np.linspace(0.0, t_max, num)
    dt = np.diff(t)[:, None]
    I = np.concatenate([np.zeros((1, R.shape[1])), np.cumsum(0.5 * (R[1:] + R[:-1]) * dt, 0)])
    grad = np.real(oT @ lu.solve(-np.stack(kicks, axis=1)))
    return {"t": t, "R": R, "I": I, "acf": acf, "mean": mean, "grad": grad}
