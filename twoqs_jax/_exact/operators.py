"""A :class:`SpinModel` translated into QuTiP operators (the exact CPU reference).

Conventions (the package's, see ``twoqs_jax/_model/model.py``): hbar = 1, standard Lindblad
form ``drho/dt = -i[H, rho] + sum_k kappa_k (L_k rho L_k^+ - 1/2 {L_k^+ L_k, rho})``.

Basis: site ``i`` is a spin of length ``S_i`` in QuTiP's ``jmat`` basis, index ``k = S_i - m``
(index 0 is ``m = +S_i``); the full space is the tensor product over sites in site order,
with QuTiP ``dims = [[2 S_0 + 1, ..., 2 S_{n-1} + 1]] * 2`` so that ``ptrace`` works.

- ``H = sum_i sum_a field[i, a] S_i^a + sum_e sum_ab coupling[e, a, b] S_{i_e}^a S_{j_e}^b``;
  on same-site edges the symmetric part of ``coupling[e]`` is used, which makes
  ``sum_ab c_ab S^a S^b`` equal to ``sum_ab c_ab (S^a S^b + S^b S^a) / 2`` (Hermitian).
- Collapse operators in QuTiP's convention (``C rho C^+ - 1/2 {C^+ C, rho}``):
  ``sqrt(rate_i) L_i`` of every jump Module (registry :func:`twoqs_jax._exact.jumps.
  jump_operators`): ``sqrt(decay_i) S_i^-``, ``sqrt(gain_i) S_i^+``,
  ``sqrt(dephasing_i) S_i^z``, ...; zero rates are skipped.
"""

import warnings
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
import scipy.stats

from .._model.model import SpinModel
from .._model.states import SpinCoherentState
from .._optional import require
from .jumps import jump_operators

if TYPE_CHECKING:
    import qutip
else:  # imported on first use of the exact references: an optional dependency
    qutip = require("qutip", "exact references (tq.Exact, tq.exact)")

AXES = ("x", "y", "z")


def check_model(model) -> None:
    """Raise unless ``model`` is a concrete :class:`SpinModel` (exact solvers need numbers)."""
    if not isinstance(model, SpinModel):
        raise ValueError(f"`model` must be a twoqs_jax.SpinModel, got {type(model).__name__}.")
    leaves = jax.tree_util.tree_leaves(model)
    if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
        raise ValueError(
            "`model` holds traced values (inside jit/vmap/grad); the exact QuTiP solvers need "
            "a concrete model: build it outside the transformation."
        )
    if any(np.asarray(leaf).dtype == np.float32 for leaf in leaves):
        warnings.warn(
            "`model` parameters are float32 (jax_enable_x64 is off): the exact solvers work in "
            "complex128 but inherit the ~1e-7 relative rounding of the parameters.",
            stacklevel=3,
        )


def spin_lengths(model: SpinModel) -> list[float]:
    """Spin lengths ``S_i`` as Python floats (exact multiples of 1/2)."""
    return [round(2 * float(s)) / 2 for s in np.asarray(model.spin)]


def site_dims(model: SpinModel) -> list[int]:
    """Local dimensions ``2 S_i + 1``."""
    return [int(round(2 * s)) + 1 for s in spin_lengths(model)]


def _embed(local: qutip.Qobj, site: int, dims: list[int]) -> qutip.Qobj:
    """``I x ... x local (at site) x ... x I`` as a sparse Qobj with the model's dims."""
    if len(dims) == 1:
        return local.to("csr")
    factors = [qutip.qeye(d, dtype="csr") for d in dims]
    factors[site] = local.to("csr")
    return qutip.tensor(*factors).to("csr")


def site_operators(model: SpinModel) -> list[dict]:
    """Full-space spin operators of every site.

    Returns:
        A list (one entry per site) of dicts with keys ``"x", "y", "z", "+", "-"`` mapping to
        sparse ``Qobj`` acting on the whole tensor-product space, ``S_i^a``.
    """
    dims = site_dims(model)
    ops = []
    for i, s in enumerate(spin_lengths(model)):
        ops.append({a: _embed(qutip.jmat(s, a), i, dims) for a in ("x", "y", "z", "+", "-")})
    return ops


def hamiltonian(
    model: SpinModel, *, max_memory: float | None = None, _ops: Any = None
) -> qutip.Qobj:
    """The model Hamiltonian as a sparse Hermitian ``Qobj``.

    ``H = sum_i sum_a field[i, a] S_i^a + sum_e sum_ab coupling[e, a, b] S_{i_e}^a S_{j_e}^b``
    (same-site products symmetrised). hbar = 1.

    Args:
        model: a concrete :class:`SpinModel`.
        max_memory: memory limit in bytes for the refusal check (default 8 GiB).

    Returns:
        ``Qobj`` of shape ``(D, D)``, ``D = prod_i (2 S_i + 1)``.
    """
    from .cost import check_cost

    check_model(model)
    if _ops is None:
        check_cost(model, "operators", max_memory=max_memory)
        _ops = site_operators(model)
    dims = site_dims(model)
    h = 0 * _ops[0]["z"]
    field = np.asarray(model.field, dtype=float)
    for i in range(model.n_sites):
        for a, axis in enumerate(AXES):
            if field[i, a] != 0:
                h = h + float(field[i, a]) * _ops[i][axis]
    coupling = np.asarray(model.symmetric_coupling, dtype=float)
    for e, (i, j) in enumerate(model.edges):
        for a, ax in enumerate(AXES):
            for b, bx in enumerate(AXES):
                c = coupling[e, a, b]
                if c != 0:
                    h = h + float(c) * (_ops[int(i)][ax] * _ops[int(j)][bx])
    h = h.to("csr")
    h.dims = [dims, dims]
    # Hermitian by construction; remove round-off asymmetry of the sparse products.
    return 0.5 * (h + h.dag())


def collapse_operators(
    model: SpinModel, *, max_memory: float | None = None, _ops: Any = None
) -> list[qutip.Qobj]:
    """Collapse operators ``sqrt(rate) L`` in QuTiP's (standard Lindblad) convention.

    For every jump of the model (in order) and every site with a nonzero rate:
    ``sqrt(decay_i) S_i^-``, ``sqrt(gain_i) S_i^+``, ``sqrt(dephasing_i) S_i^z``, and
    ``sqrt(rate_i) L_i`` for other jump Modules.
    """
    from .cost import check_cost

    check_model(model)
    if _ops is None:
        check_cost(model, "operators", max_memory=max_memory)
        _ops = site_operators(model)
    c_ops = []
    for jump in model.jumps:
        for site, coefficients in jump_operators(jump):
            if not isinstance(site, tuple):  # one site, or a sum over sites (correlated)
                site, coefficients = (site,), (coefficients,)
            op = None
            for i, coeffs in zip(site, coefficients):
                for key, c in coeffs.items():
                    if c == 0:
                        continue
                    c = c.real if isinstance(c, complex) and c.imag == 0 else c
                    term = c * _ops[i][key]
                    op = term if op is None else op + term
            if op is not None:
                c_ops.append(op)
    return c_ops


def liouvillian(model: SpinModel, *, max_memory: float | None = None) -> qutip.Qobj:
    """The Lindblad superoperator ``L`` (``drho/dt = L rho``) as a sparse QuTiP superoperator.

    Column-stacked vectorisation (QuTiP's): ``vec(rho)`` of length ``D^2``.
    """
    from .cost import check_cost

    check_model(model)
    check_cost(model, "liouvillian", max_memory=max_memory)
    ops = site_operators(model)
    h = hamiltonian(model, _ops=ops)
    return qutip.liouvillian(h, collapse_operators(model, _ops=ops)).to("csr")


def spin_coherent_ket(S: float, theta: float, phi: float) -> np.ndarray:
    """Amplitudes of the spin coherent state ``|theta, phi>`` in the ``jmat`` basis.

    ``<S, m | theta, phi> = sqrt(binom(2S, S+m)) cos(theta/2)^(S+m) sin(theta/2)^(S-m)
    e^{i (S-m) phi}``, index ``k = S - m``. This is ``exp(-i phi S_z) exp(-i theta S_y)|S, S>``
    times the global phase ``e^{i S phi}``, i.e. QuTiP's ``spin_coherent(S, theta, phi)``,
    with ``<S> = S (sin theta cos phi, sin theta sin phi, cos theta)`` (Bloch convention).
    Computed from the binomial distribution, so it is stable for large ``S``.
    """
    d = int(round(2 * S)) + 1
    k = np.arange(d)  # k = S - m, so S + m = 2S - k
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    amp = np.sqrt(scipy.stats.binom.pmf(d - 1 - k, d - 1, c * c))
    # signs of cos/sin for angles outside [0, pi]; 0 ** 0 = 1 is intended
    sign = np.sign(c) ** (d - 1 - k) * np.sign(s) ** k
    sign = np.where(amp == 0, 1.0, sign)
    return amp * sign * np.exp(1j * k * phi)


def coherent_state(
    model: SpinModel, state: SpinCoherentState, *, max_memory: float | None = None
) -> qutip.Qobj:
    """The product of spin coherent states ``|theta_i, phi_i>`` as a ket ``Qobj``.

    Bloch convention (theta from +z, phi from +x): ``<S_i> = S_i (sin th cos ph,
    sin th sin ph, cos th)``; ``theta = pi`` is ``m = -S``. QuTiP's ``spin_coherent`` already
    uses this convention (``exp(theta/2 (e^{i phi} S^- - e^{-i phi} S^+)) |S, S>``), and this
    function returns the same ket, global phase included (tested).
    """
    from .cost import check_cost

    check_model(model)
    check_cost(model, "operators", max_memory=max_memory)
    if not isinstance(state, SpinCoherentState):
        raise ValueError(
            f"`state` must be a twoqs_jax.SpinCoherentState, got {type(state).__name__}."
        )
    if state.n_sites != model.n_sites:
        raise ValueError(
            f"`state` has n_sites={state.n_sites} but the model has {model.n_sites} sites."
        )
    theta = np.asarray(state.theta, dtype=float)
    phi = np.asarray(state.phi, dtype=float)
    kets = [
        qutip.Qobj(spin_coherent_ket(s, theta[i], phi[i]).reshape(-1, 1))
        for i, s in enumerate(spin_lengths(model))
    ]
    return kets[0] if len(kets) == 1 else qutip.tensor(*kets)
