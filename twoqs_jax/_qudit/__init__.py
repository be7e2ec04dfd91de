"""Qudit dissipative LMG model (paper 001): mean field for any d, fixed points, exact small N.

Public names carry a ``qudit_`` prefix where the module-level name is generic.
"""

from .exact import liouvillian as qudit_liouvillian
from .exact import negativity as qudit_negativity
from .exact import purity as qudit_purity
from .exact import sector_gaps as qudit_sector_gaps
from .exact import steady_state as qudit_steady_state
from .fixed_points import bistable_upper_end as bistable_upper_end
from .fixed_points import branch_in_gamma as qudit_branch_in_gamma
from .fixed_points import branch_in_z as qudit_branch_in_z
from .fixed_points import broken_symmetry_state as qudit_broken_symmetry_state
from .fixed_points import eigenvalues as qudit_jacobian_eigenvalues
from .fixed_points import find_fixed_point as qudit_fixed_point
from .fixed_points import polarised_state as qudit_polarised_state
from .large_spin import solve_large_spin as solve_large_spin
from .meanfield import coherent_rho as qudit_coherent_rho
from .meanfield import solve_qudit_meanfield as solve_qudit_meanfield
from .model import QuditLMG as QuditLMG
