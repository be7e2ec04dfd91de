"""The dissipative LMG model of qudits (paper 001): mean field for any d, fixed points,
bistability, and exact results for small numbers of qudits.

Mean-field dynamics and exact steady states run through :func:`twoqs_jax.solve` with
``tq.MeanField()`` and ``tq.Exact()`` (see :mod:`twoqs_jax._qudit.solve`); this namespace
holds the model, the fixed-point and branch analysis, and the exact diagnostics.
"""

from ._qudit.exact import liouvillian as liouvillian
from ._qudit.exact import negativity as negativity
from ._qudit.exact import purity as purity
from ._qudit.exact import sector_gaps as sector_gaps
from ._qudit.exact import steady_state as steady_state
from ._qudit.fixed_points import bistable_upper_end as bistable_upper_end
from ._qudit.fixed_points import branch_in_gamma as branch_in_gamma
from ._qudit.fixed_points import branch_in_z as branch_in_z
from ._qudit.fixed_points import broken_symmetry_state as broken_symmetry_state
from ._qudit.fixed_points import eigenvalues as jacobian_eigenvalues
from ._qudit.fixed_points import find_fixed_point as fixed_point
from ._qudit.fixed_points import polarised_state as polarised_state
from ._qudit.large_spin import solve_large_spin as solve_large_spin
from ._qudit.meanfield import coherent_rho as coherent_rho
from ._qudit.meanfield import scaled_spin as scaled_spin
from ._qudit.model import QuditLMG as QuditLMG

__all__ = [
    "liouvillian",
    "negativity",
    "purity",
    "sector_gaps",
    "steady_state",
    "bistable_upper_end",
    "branch_in_gamma",
    "branch_in_z",
    "broken_symmetry_state",
    "jacobian_eigenvalues",
    "fixed_point",
    "polarised_state",
    "solve_large_spin",
    "coherent_rho",
    "scaled_spin",
    "QuditLMG",
]
