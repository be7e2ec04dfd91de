"""Exact references at the QuTiP level: operators, density matrices, phase-space pictures.

The exact *solves* go through :func:`twoqs_jax.solve` with :class:`twoqs_jax.Exact`; this
namespace holds the building blocks and diagnostics (hbar = 1, standard Lindblad form, QuTiP's
``jmat`` basis with index 0 at ``m = +S``; see :mod:`twoqs_jax._exact.operators`), and the
exact derivatives with respect to model parameters: :func:`derivative` (the arguments of
:func:`twoqs_jax.gradient`), :func:`steady_state_derivative`, :func:`time_derivative` and
the driven spin's closed form :func:`driven_spin_steady_state_derivative`.
"""

from ._exact.cost import ExactCost as ExactCost
from ._exact.cost import estimate_exact_cost as estimate_exact_cost
from ._exact.derivative import derivative as derivative
from ._exact.derivative import stationary_response as stationary_response
from ._exact.derivative import steady_state_derivative as steady_state_derivative
from ._exact.derivative import time_derivative as time_derivative
from ._exact.observables import expectations as expectations
from ._exact.observables import purity as purity
from ._exact.observables import reduced_state as reduced_state
from ._exact.operators import coherent_state as coherent_state
from ._exact.operators import collapse_operators as collapse_operators
from ._exact.operators import hamiltonian as hamiltonian
from ._exact.operators import liouvillian as liouvillian
from ._exact.phase_space import spin_husimi as spin_husimi
from ._exact.phase_space import spin_wigner as spin_wigner
from ._exact.resonance_fluorescence import driven_spin_steady_state as driven_spin_steady_state
from ._exact.resonance_fluorescence import (
    driven_spin_steady_state_derivative as driven_spin_steady_state_derivative,
)
from ._exact.solve import evolve_rho as evolve_rho
from ._exact.solve import steady_state_rho as steady_state_rho
from ._exact.spectrum import liouvillian_gap as liouvillian_gap

__all__ = [
    "ExactCost",
    "estimate_exact_cost",
    "expectations",
    "purity",
    "reduced_state",
    "coherent_state",
    "collapse_operators",
    "hamiltonian",
    "liouvillian",
    "spin_husimi",
    "spin_wigner",
    "driven_spin_steady_state",
    "driven_spin_steady_state_derivative",
    "derivative",
    "steady_state_derivative",
    "stationary_response",
    "time_derivative",
    "evolve_rho",
    "steady_state_rho",
    "liouvillian_gap",
]
